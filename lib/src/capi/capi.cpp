// The C API (include/mpisnap/mpisnap.h): a Session and a capi::Registry behind an opaque handle.
// Every function catches everything: an error becomes its code and this thread's last message.
#include <mpisnap/mpisnap.h>

#include <memory>
#include <new>
#include <string>
#include <vector>

#include <mpisnap/mpisnap.hpp>

#include "capi/registry.hpp"

struct mpisnap_session {
  std::unique_ptr<mpisnap::Session> session;
  mpisnap::capi::Registry registry;
};

namespace {

thread_local std::string last_error;

int fail(int code, const std::string& what) {
  last_error = what;
  return code;
}

template <class F>
int guarded(F&& f) noexcept {
  try {
    f();
    return MPISNAP_SUCCESS;
  } catch (const mpisnap::capi::CodedError& e) {
    return fail(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return fail(MPISNAP_ERR_MEMORY, "mpisnap: out of memory");
  } catch (const std::exception& e) {
    return fail(MPISNAP_ERR_SESSION, e.what());
  } catch (...) {
    return fail(MPISNAP_ERR_SESSION, "mpisnap: unknown error");
  }
}

void need(const void* p, const char* what, const char* call) {
  if (!p) throw mpisnap::capi::CodedError(MPISNAP_ERR_ARG, std::string("mpisnap: ") + call + ": " + what + " is NULL");
}

mpisnap_session& live(mpisnap_session* s, const char* call) {
  need(s, "the session", call);
  if (!s->session)
    throw mpisnap::capi::CodedError(MPISNAP_ERR_ORDER, std::string("mpisnap: ") + call + ": the session was finalized");
  return *s;
}

std::vector<std::int64_t> extents_of(const std::int64_t* p, int rank) {
  return std::vector<std::int64_t>(p, p + rank);
}

}  // namespace

extern "C" {

int mpisnap_init(MPI_Comm comm, mpisnap_session** session) { return mpisnap_init_flags(comm, 0, session); }

int mpisnap_init_flags(MPI_Comm comm, int flags, mpisnap_session** session) {
  return guarded([&] {
    need(session, "the session pointer", "mpisnap_init");
    *session = nullptr;
    if (flags & ~MPISNAP_ERRORS_RETURN)
      throw mpisnap::capi::CodedError(MPISNAP_ERR_ARG, "mpisnap: mpisnap_init_flags: unknown flags " + std::to_string(flags));
    auto s = std::make_unique<mpisnap_session>();
    if (flags & MPISNAP_ERRORS_RETURN) {
      mpisnap::Config config = mpisnap::Config::defaults();
      config.exceptions = true;
      s->session = std::make_unique<mpisnap::Session>(comm, config);
    } else {
      s->session = std::make_unique<mpisnap::Session>(comm);
    }
    *session = s.release();
  });
}

int mpisnap_init_fortran(MPI_Fint comm, int world, int flags, mpisnap_session** session) {
  return mpisnap_init_flags(world ? MPI_COMM_WORLD : PMPI_Comm_f2c(comm), flags, session);
}

int mpisnap_finalize(mpisnap_session** session) {
  return guarded([&] {
    need(session, "the session pointer", "mpisnap_finalize");
    delete *session;
    *session = nullptr;
  });
}

int mpisnap_protect_scalar(mpisnap_session* s, const char* name, void* data, int type) {
  return guarded([&] {
    need(data, "data", "mpisnap_protect_scalar");
    live(s, "mpisnap_protect_scalar").registry.protect(name, data, type, {}, MPISNAP_ROW_MAJOR, true);
  });
}

int mpisnap_protect(mpisnap_session* s, const char* name, void* data, int64_t count, int type) {
  return guarded([&] { live(s, "mpisnap_protect").registry.protect(name, data, type, {count}, MPISNAP_ROW_MAJOR, false); });
}

int mpisnap_protect_array(mpisnap_session* s, const char* name, void* data, int type, int rank, const int64_t* extents,
                          int order) {
  return guarded([&] {
    mpisnap_session& ss = live(s, "mpisnap_protect_array");
    need(extents, "extents", "mpisnap_protect_array");
    if (rank < 1 || rank > MPISNAP_MAX_RANK)
      throw mpisnap::capi::CodedError(MPISNAP_ERR_ARG, "mpisnap: mpisnap_protect_array: rank " + std::to_string(rank) +
                                                           " (1 to " + std::to_string(MPISNAP_MAX_RANK) + ")");
    ss.registry.protect(name, data, type, extents_of(extents, rank), order, false);
  });
}

int mpisnap_protect_global(mpisnap_session* s, const char* name, const int64_t* offset, const int64_t* extent) {
  return guarded([&] {
    mpisnap_session& ss = live(s, "mpisnap_protect_global");
    need(offset, "offset", "mpisnap_protect_global");
    need(extent, "extent", "mpisnap_protect_global");
    const std::size_t r = ss.registry.rank_of(name, "mpisnap_protect_global");  // (as many values as the array has dimensions)
    const std::vector<std::int64_t> off(offset, offset + r), ext(extent, extent + r);
    ss.registry.set_global(name, off, ext);
  });
}

int mpisnap_unprotect(mpisnap_session* s, const char* name) {
  return guarded([&] { live(s, "mpisnap_unprotect").registry.unprotect(name); });
}

int mpisnap_will_restore(mpisnap_session* s, int* flag) {
  return guarded([&] {
    need(flag, "flag", "mpisnap_will_restore");
    *flag = live(s, "mpisnap_will_restore").session->pending_state() != nullptr;
  });
}

int mpisnap_stored_shape(mpisnap_session* s, const char* name, int order, int* rank, int64_t* extents) {
  return guarded([&] {
    mpisnap_session& ss = live(s, "mpisnap_stored_shape");
    need(rank, "rank", "mpisnap_stored_shape");
    need(extents, "extents", "mpisnap_stored_shape");
    const mpisnap::Node* tree = ss.session->pending_state();
    if (!tree)
      throw mpisnap::capi::CodedError(MPISNAP_ERR_ORDER,
                                      "mpisnap: mpisnap_stored_shape: there is no checkpoint to restore (not resumed, or "
                                      "already restored)");
    const std::vector<std::int64_t> dims = mpisnap::capi::Registry::stored_shape(*tree, name, order);
    *rank = static_cast<int>(dims.size());
    for (std::size_t d = 0; d < dims.size(); ++d) extents[d] = dims[d];
  });
}

int mpisnap_restore(mpisnap_session* s, int* resumed) {
  return guarded([&] {
    mpisnap_session& ss = live(s, "mpisnap_restore");
    const bool r = ss.session->restore(ss.registry);
    if (resumed) *resumed = r ? 1 : 0;
  });
}

int mpisnap_resume_info(mpisnap_session* s, uint64_t* checkpoint_id, uint64_t* safe_point) {
  return guarded([&] {
    const mpisnap::ResumeInfo& info = live(s, "mpisnap_resume_info").session->resume_info();
    if (checkpoint_id) *checkpoint_id = info.resumed ? info.checkpoint_id : 0;
    if (safe_point) *safe_point = info.resumed ? info.safe_point : 0;
  });
}

int mpisnap_checkpoint_point(mpisnap_session* s) {
  return guarded([&] {
    mpisnap_session& ss = live(s, "mpisnap_checkpoint_point");
    ss.session->checkpoint_point(ss.registry);
  });
}

int mpisnap_should_exit(mpisnap_session* s, int* flag) {
  return guarded([&] {
    need(flag, "flag", "mpisnap_should_exit");
    *flag = live(s, "mpisnap_should_exit").session->should_exit() ? 1 : 0;
  });
}

int mpisnap_request_checkpoint(mpisnap_session* s) {
  return guarded([&] { live(s, "mpisnap_request_checkpoint").session->request_checkpoint(); });
}

int mpisnap_flush(mpisnap_session* s) {
  return guarded([&] { live(s, "mpisnap_flush").session->flush(); });
}

const char* mpisnap_error_string(int code) {
  switch (code) {
    case MPISNAP_SUCCESS: return "success";
    case MPISNAP_ERR_ARG: return "invalid argument";
    case MPISNAP_ERR_NAME: return "invalid or unknown buffer name";
    case MPISNAP_ERR_ORDER: return "call out of order";
    case MPISNAP_ERR_SESSION: return "checkpoint/restart error";
    case MPISNAP_ERR_MEMORY: return "out of memory";
    default: return "unknown error code";
  }
}

const char* mpisnap_last_error(void) { return last_error.c_str(); }

}  // extern "C"
