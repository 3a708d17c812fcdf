// MPI-4 point-to-point calls that an MPI may have and calls.def does not wrap (MPICH 4 has them;
// Open MPI 4.1 does not). None may bypass the cut: a message sent past the library would travel on
// the application's own handle, which carries no traffic once a Session runs.
//  - the large-count forms (MPI_Send_c, ...) go to the wrappers of their int forms, a count beyond
//    INT_MAX as one element of a contiguous datatype (class Count);
//  - MPI_Comm_idup_with_info is MPI_Comm_idup (info is hints, which an implementation may ignore);
//  - MPI_Comm_create_from_group and MPI_Intercomm_create_from_groups register what they make;
//  - MPI_Isendrecv(_replace) are the library's MPI_Irecv and MPI_Isend behind one generalized
//    request (Runtime::Isendrecv), their large-count forms likewise when the counts fit an int;
//  - partitioned communication is refused with a message naming the call and what to use instead.
// Before a Session (or after MPI_Finalize) each goes to MPI's own.
#include <mpi.h>

#if MPI_VERSION >= 4 && defined(MPICH_VERSION)

#include <climits>
#include <string>

#include "interpose/guarded.hpp"
#include "runtime.hpp"

using mpisnap::Runtime;

namespace {

[[noreturn]] void refuse(const std::string& what) { Runtime::fatal(what); }

bool fits(MPI_Count n) { return n >= 0 && n <= INT_MAX; }

// A count beyond INT_MAX goes through the int forms as one element of a contiguous datatype of that
// many elements: the same type signature, so it matches whatever the other side posts, and the
// status counts bytes, so MPI_Get_count_c in the element type gives the elements received. The
// datatype is freed once the call has it (MPI keeps it while an operation uses it).
class Count {
 public:
  Count(const char* call, MPI_Count n, MPI_Datatype type) : count_(static_cast<int>(n)), type_(type) {
    if (fits(n)) return;
    if (n < 0) refuse(std::string(call) + ": a negative count (" + std::to_string(static_cast<long long>(n)) + ")");
    if (PMPI_Type_contiguous_c(n, type, &big_) != MPI_SUCCESS || PMPI_Type_commit(&big_) != MPI_SUCCESS)
      refuse(std::string(call) + ": no datatype of " + std::to_string(static_cast<long long>(n)) + " elements");
    count_ = 1;
    type_ = big_;
  }
  ~Count() {
    if (big_ != MPI_DATATYPE_NULL) PMPI_Type_free(&big_);
  }
  Count(const Count&) = delete;
  Count& operator=(const Count&) = delete;
  int count() const { return count_; }
  MPI_Datatype type() const { return type_; }

 private:
  int count_;
  MPI_Datatype type_;
  MPI_Datatype big_ = MPI_DATATYPE_NULL;
};

}  // namespace

#pragma GCC visibility push(default)  // (the wrappers are what the library exports)
extern "C" {

#define MPISNAP_SEND_C(name)                                                                                       \
  int MPI_##name##_c(const void* buf, MPI_Count count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {      \
    if (!Runtime::get()) return PMPI_##name##_c(buf, count, type, dest, tag, comm);                                \
    const Count n("MPI_" #name "_c", count, type);                                                                 \
    return MPI_##name(buf, n.count(), n.type(), dest, tag, comm);                                                   \
  }
#define MPISNAP_ISEND_C(name)                                                                                      \
  int MPI_##name##_c(const void* buf, MPI_Count count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,         \
                     MPI_Request* request) {                                                                        \
    if (!Runtime::get()) return PMPI_##name##_c(buf, count, type, dest, tag, comm, request);                       \
    const Count n("MPI_" #name "_c", count, type);                                                                 \
    return MPI_##name(buf, n.count(), n.type(), dest, tag, comm, request);                                          \
  }
MPISNAP_SEND_C(Send)
MPISNAP_SEND_C(Ssend)
MPISNAP_SEND_C(Bsend)
MPISNAP_SEND_C(Rsend)
MPISNAP_ISEND_C(Isend)
MPISNAP_ISEND_C(Issend)
MPISNAP_ISEND_C(Ibsend)
MPISNAP_ISEND_C(Irsend)
MPISNAP_ISEND_C(Send_init)
MPISNAP_ISEND_C(Ssend_init)
MPISNAP_ISEND_C(Bsend_init)
MPISNAP_ISEND_C(Rsend_init)
#undef MPISNAP_SEND_C
#undef MPISNAP_ISEND_C

int MPI_Recv_c(void* buf, MPI_Count count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Status* status) {
  if (!Runtime::get()) return PMPI_Recv_c(buf, count, type, source, tag, comm, status);
  const Count n("MPI_Recv_c", count, type);
  return MPI_Recv(buf, n.count(), n.type(), source, tag, comm, status);
}

int MPI_Irecv_c(void* buf, MPI_Count count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Irecv_c(buf, count, type, source, tag, comm, request);
  const Count n("MPI_Irecv_c", count, type);
  return MPI_Irecv(buf, n.count(), n.type(), source, tag, comm, request);
}

int MPI_Recv_init_c(void* buf, MPI_Count count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
                    MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Recv_init_c(buf, count, type, source, tag, comm, request);
  const Count n("MPI_Recv_init_c", count, type);
  return MPI_Recv_init(buf, n.count(), n.type(), source, tag, comm, request);
}

int MPI_Mrecv_c(void* buf, MPI_Count count, MPI_Datatype type, MPI_Message* message, MPI_Status* status) {
  if (!Runtime::get()) return PMPI_Mrecv_c(buf, count, type, message, status);
  const Count n("MPI_Mrecv_c", count, type);
  return MPI_Mrecv(buf, n.count(), n.type(), message, status);
}

int MPI_Imrecv_c(void* buf, MPI_Count count, MPI_Datatype type, MPI_Message* message, MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Imrecv_c(buf, count, type, message, request);
  const Count n("MPI_Imrecv_c", count, type);
  return MPI_Imrecv(buf, n.count(), n.type(), message, request);
}

int MPI_Sendrecv_c(const void* sendbuf, MPI_Count sendcount, MPI_Datatype sendtype, int dest, int sendtag, void* recvbuf,
                   MPI_Count recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Status* status) {
  if (!Runtime::get())
    return PMPI_Sendrecv_c(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source, recvtag,
                           comm, status);
  const Count s("MPI_Sendrecv_c", sendcount, sendtype), r("MPI_Sendrecv_c", recvcount, recvtype);
  return MPI_Sendrecv(sendbuf, s.count(), s.type(), dest, sendtag, recvbuf, r.count(), r.type(), source, recvtag, comm,
                      status);
}

int MPI_Sendrecv_replace_c(void* buf, MPI_Count count, MPI_Datatype type, int dest, int sendtag, int source, int recvtag,
                           MPI_Comm comm, MPI_Status* status) {
  if (!Runtime::get()) return PMPI_Sendrecv_replace_c(buf, count, type, dest, sendtag, source, recvtag, comm, status);
  const Count n("MPI_Sendrecv_replace_c", count, type);
  return MPI_Sendrecv_replace(buf, n.count(), n.type(), dest, sendtag, source, recvtag, comm, status);
}

int MPI_Comm_idup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm* newcomm, MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Comm_idup_with_info(comm, info, newcomm, request);
  return MPI_Comm_idup(comm, newcomm, request);  // (the hints in `info` are not passed on)
}

int MPI_Isendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag, void* recvbuf,
                  int recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Request* request) {
  Runtime* rt = Runtime::get();
  if (!rt)
    return PMPI_Isendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source, recvtag,
                          comm, request);
  return mpisnap::guarded([&] {
    return rt->Isendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source, recvtag,
                         comm, request);
  });
}

int MPI_Isendrecv_c(const void* sendbuf, MPI_Count sendcount, MPI_Datatype sendtype, int dest, int sendtag, void* recvbuf,
                    MPI_Count recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
                    MPI_Request* request) {
  if (!Runtime::get())
    return PMPI_Isendrecv_c(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source, recvtag,
                            comm, request);
  const Count s("MPI_Isendrecv_c", sendcount, sendtype), r("MPI_Isendrecv_c", recvcount, recvtype);
  return MPI_Isendrecv(sendbuf, s.count(), s.type(), dest, sendtag, recvbuf, r.count(), r.type(), source, recvtag, comm,
                       request);
}

int MPI_Isendrecv_replace(void* buf, int count, MPI_Datatype type, int dest, int sendtag, int source, int recvtag,
                          MPI_Comm comm, MPI_Request* request) {
  Runtime* rt = Runtime::get();
  if (!rt) return PMPI_Isendrecv_replace(buf, count, type, dest, sendtag, source, recvtag, comm, request);
  return mpisnap::guarded(
      [&] { return rt->Isendrecv_replace(buf, count, type, dest, sendtag, source, recvtag, comm, request); });
}

int MPI_Isendrecv_replace_c(void* buf, MPI_Count count, MPI_Datatype type, int dest, int sendtag, int source, int recvtag,
                            MPI_Comm comm, MPI_Request* request) {
  if (!Runtime::get())
    return PMPI_Isendrecv_replace_c(buf, count, type, dest, sendtag, source, recvtag, comm, request);
  const Count n("MPI_Isendrecv_replace_c", count, type);
  return MPI_Isendrecv_replace(buf, n.count(), n.type(), dest, sendtag, source, recvtag, comm, request);
}

}  // extern "C"

namespace {
// A communicator a constructor from groups made (`rc`: the constructor's): registered by the runtime,
// or remembered for the Session to come.
int registered_from_groups(int rc, MPI_Comm* newcomm) {
  if (Runtime* rt = Runtime::get()) return mpisnap::guarded([&] { return rt->made_from_groups(rc, newcomm); });
  if (rc == MPI_SUCCESS) mpisnap::guarded([&] { Runtime::note_comm_created_before_session(*newcomm); return 0; });
  return rc;
}
}  // namespace

extern "C" {

int MPI_Comm_create_from_group(MPI_Group group, const char* stringtag, MPI_Info info, MPI_Errhandler errhandler,
                               MPI_Comm* newcomm) {
  return registered_from_groups(PMPI_Comm_create_from_group(group, stringtag, info, errhandler, newcomm), newcomm);
}

int MPI_Intercomm_create_from_groups(MPI_Group local_group, int local_leader, MPI_Group remote_group, int remote_leader,
                                     const char* stringtag, MPI_Info info, MPI_Errhandler errhandler,
                                     MPI_Comm* newintercomm) {
  return registered_from_groups(PMPI_Intercomm_create_from_groups(local_group, local_leader, remote_group,
                                                                  remote_leader, stringtag, info, errhandler,
                                                                  newintercomm),
                                newintercomm);
}

#define MPISNAP_REFUSED(call, instead)                                                                           \
  refuse(std::string(call) + " is not supported while an mpisnap Session runs (its messages would bypass the " \
                             "snapshot's cut): " instead)

int MPI_Psend_init(const void* buf, int partitions, MPI_Count count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
                   MPI_Info info, MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Psend_init(buf, partitions, count, type, dest, tag, comm, info, request);
  MPISNAP_REFUSED("MPI_Psend_init (partitioned communication)", "use persistent or non-blocking sends");
}

int MPI_Precv_init(void* buf, int partitions, MPI_Count count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
                   MPI_Info info, MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Precv_init(buf, partitions, count, type, source, tag, comm, info, request);
  MPISNAP_REFUSED("MPI_Precv_init (partitioned communication)", "use persistent or non-blocking receives");
}
#undef MPISNAP_REFUSED

}  // extern "C"
#pragma GCC visibility pop

#endif  // MPI_VERSION >= 4 && MPICH_VERSION
