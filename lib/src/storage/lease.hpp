// The owner of a checkpoint directory while a job runs: DIR/mpisnap.lock.
//
// Two jobs on one directory (or the orphan ranks of a killed mpirun) would both commit checkpoints
// with the same ids. So rank 0 of a job takes the directory's lease before it reads or writes
// anything there, renews it while the job runs, and gives it back at MPI_Finalize; every rank's
// store checks, before it writes a rank file, commits or prunes, that the lease still names its job
// (Lease::token), so a job that lost the directory writes nothing more there.
//
// The lease is a small text file (who: host, pid, program, ranks, since; the job's random token),
// created atomically (written aside, then link(2): exactly one contender wins, also over NFS). A
// lease left behind by a job that died is not held forever:
//   - on the same host, its pid is gone (or is another process now: the start time differs): taken
//     over at once (kill -9, a crashed job);
//   - on another host (a node that vanished), it is stale when it was not renewed for
//     `expiry` seconds (renewed every expiry/4 by a helper thread): the new job waits that long.
// A live owner is refused with a message naming it. Pure file-system code; unit-tested without MPI.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace mpisnap::storage {

inline constexpr const char* kLeaseName = "mpisnap.lock";

struct LeaseHolder {
  std::string host;
  long pid = 0;
  std::uint64_t start_ticks = 0;  // the process's start time (/proc/<pid>/stat), against pid reuse
  std::string program;
  int ranks = 0;
  double since = 0;               // unix time the job took the lease
  std::string token;
  double renewed_age = 0;         // seconds since the file was last renewed (its mtime)

  std::string describe() const;   // "job 'bank' with 4 ranks (rank 0: pid 123 on host n1, since ...)"
};

// Reads DIR's lease; false when there is none (or it cannot be parsed: a half-written one is
// treated as absent only by acquire's retry, never overwritten blindly).
bool read_lease(const std::string& dir, LeaseHolder& out);
bool read_lease_file(const std::string& path, LeaseHolder& out);

// This process's identity for a lease.
LeaseHolder this_process(const std::string& program, int ranks);

class Lease {
 public:
  struct Options {
    double expiry = 60;        // seconds without renewal after which another host's lease is stale
    bool renew = true;         // run the renewing thread (tests drive renew_now() themselves)
  };
  // Takes DIR's lease for `me` (this process, see this_process), waiting out a stale one of another
  // host; throws mpisnap::Error naming the owner when a live job holds it. `say` reports a wait.
  Lease(std::string dir, LeaseHolder me, Options options, const std::function<void(const std::string&)>& say);
  ~Lease();  // gives the lease back (if it is still ours)
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  const std::string& token() const noexcept { return me_.token; }
  void renew_now();

 private:
  bool try_create();
  // Decides about the lease `other` found in the directory: true if it may be taken over now.
  bool stale(const LeaseHolder& other) const;
  void renew_loop();

  std::string dir_;
  std::string path_;
  LeaseHolder me_;
  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread renewer_;
};

// The check every rank makes before it writes to the directory: the lease names `token`. A lease
// that disappeared (the directory was removed under the job) is re-created for `token`; one that
// names another job throws mpisnap::Error naming it.
void require_lease(const std::string& dir, const std::string& token);

}  // namespace mpisnap::storage
