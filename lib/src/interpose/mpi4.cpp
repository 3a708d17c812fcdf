// MPI-4 point-to-point calls that an MPI may have and calls.def does not wrap (MPICH 4 has them;
// Open MPI 4.1 does not). None may bypass the cut: a message sent past the library would travel on
// the application's own handle, which carries no traffic once a Session runs.
//  - the large-count forms (MPI_Send_c, ...) go to the wrappers of their int forms when the counts
//    fit an int (every message the library can record does), and are refused beyond;
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

void need_int_count(const char* call, MPI_Count n) {
  if (!fits(n))
    refuse(std::string(call) + " with a count of " + std::to_string(static_cast<long long>(n)) +
           " elements: mpisnap carries point-to-point messages of at most INT_MAX elements (use a larger datatype)");
}

}  // namespace

#pragma GCC visibility push(default)  // (the wrappers are what the library exports)
extern "C" {

#define MPISNAP_SEND_C(name)                                                                                       \
  int MPI_##name##_c(const void* buf, MPI_Count count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {      \
    if (!Runtime::get()) return PMPI_##name##_c(buf, count, type, dest, tag, comm);                                \
    need_int_count("MPI_" #name "_c", count);                                                                      \
    return MPI_##name(buf, static_cast<int>(count), type, dest, tag, comm);                                         \
  }
#define MPISNAP_ISEND_C(name)                                                                                      \
  int MPI_##name##_c(const void* buf, MPI_Count count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,         \
                     MPI_Request* request) {                                                                        \
    if (!Runtime::get()) return PMPI_##name##_c(buf, count, type, dest, tag, comm, request);                       \
    need_int_count("MPI_" #name "_c", count);                                                                      \
    return MPI_##name(buf, static_cast<int>(count), type, dest, tag, comm, request);                                \
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
  need_int_count("MPI_Recv_c", count);
  return MPI_Recv(buf, static_cast<int>(count), type, source, tag, comm, status);
}

int MPI_Irecv_c(void* buf, MPI_Count count, MPI_Datatype type, int source, int tag, MPI_Comm comm, MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Irecv_c(buf, count, type, source, tag, comm, request);
  need_int_count("MPI_Irecv_c", count);
  return MPI_Irecv(buf, static_cast<int>(count), type, source, tag, comm, request);
}

int MPI_Recv_init_c(void* buf, MPI_Count count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
                    MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Recv_init_c(buf, count, type, source, tag, comm, request);
  need_int_count("MPI_Recv_init_c", count);
  return MPI_Recv_init(buf, static_cast<int>(count), type, source, tag, comm, request);
}

int MPI_Mrecv_c(void* buf, MPI_Count count, MPI_Datatype type, MPI_Message* message, MPI_Status* status) {
  if (!Runtime::get()) return PMPI_Mrecv_c(buf, count, type, message, status);
  need_int_count("MPI_Mrecv_c", count);
  return MPI_Mrecv(buf, static_cast<int>(count), type, message, status);
}

int MPI_Imrecv_c(void* buf, MPI_Count count, MPI_Datatype type, MPI_Message* message, MPI_Request* request) {
  if (!Runtime::get()) return PMPI_Imrecv_c(buf, count, type, message, request);
  need_int_count("MPI_Imrecv_c", count);
  return MPI_Imrecv(buf, static_cast<int>(count), type, message, request);
}

int MPI_Sendrecv_c(const void* sendbuf, MPI_Count sendcount, MPI_Datatype sendtype, int dest, int sendtag, void* recvbuf,
                   MPI_Count recvcount, MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm, MPI_Status* status) {
  if (!Runtime::get())
    return PMPI_Sendrecv_c(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount, recvtype, source, recvtag,
                           comm, status);
  need_int_count("MPI_Sendrecv_c", sendcount);
  need_int_count("MPI_Sendrecv_c", recvcount);
  return MPI_Sendrecv(sendbuf, static_cast<int>(sendcount), sendtype, dest, sendtag, recvbuf, static_cast<int>(recvcount),
                      recvtype, source, recvtag, comm, status);
}

int MPI_Sendrecv_replace_c(void* buf, MPI_Count count, MPI_Datatype type, int dest, int sendtag, int source, int recvtag,
                           MPI_Comm comm, MPI_Status* status) {
  if (!Runtime::get()) return PMPI_Sendrecv_replace_c(buf, count, type, dest, sendtag, source, recvtag, comm, status);
  need_int_count("MPI_Sendrecv_replace_c", count);
  return MPI_Sendrecv_replace(buf, static_cast<int>(count), type, dest, sendtag, source, recvtag, comm, status);
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
  need_int_count("MPI_Isendrecv_c", sendcount);
  need_int_count("MPI_Isendrecv_c", recvcount);
  return MPI_Isendrecv(sendbuf, static_cast<int>(sendcount), sendtype, dest, sendtag, recvbuf,
                       static_cast<int>(recvcount), recvtype, source, recvtag, comm, request);
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
  need_int_count("MPI_Isendrecv_replace_c", count);
  return MPI_Isendrecv_replace(buf, static_cast<int>(count), type, dest, sendtag, source, recvtag, comm, request);
}

int MPI_Comm_create_from_group(MPI_Group group, const char* stringtag, MPI_Info info, MPI_Errhandler errhandler,
                               MPI_Comm* newcomm) {
  Runtime* rt = Runtime::get();
  const int rc = PMPI_Comm_create_from_group(group, stringtag, info, errhandler, newcomm);
  if (!rt) {
    if (rc == MPI_SUCCESS) mpisnap::guarded([&] { Runtime::note_comm_created_before_session(*newcomm); return 0; });
    return rc;
  }
  return mpisnap::guarded([&] { return rt->made_from_groups(rc, newcomm); });
}

int MPI_Intercomm_create_from_groups(MPI_Group local_group, int local_leader, MPI_Group remote_group, int remote_leader,
                                     const char* stringtag, MPI_Info info, MPI_Errhandler errhandler,
                                     MPI_Comm* newintercomm) {
  Runtime* rt = Runtime::get();
  const int rc = PMPI_Intercomm_create_from_groups(local_group, local_leader, remote_group, remote_leader, stringtag,
                                                   info, errhandler, newintercomm);
  if (!rt) {
    if (rc == MPI_SUCCESS) mpisnap::guarded([&] { Runtime::note_comm_created_before_session(*newintercomm); return 0; });
    return rc;
  }
  return mpisnap::guarded([&] { return rt->made_from_groups(rc, newintercomm); });
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
