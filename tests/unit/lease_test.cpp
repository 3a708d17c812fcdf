// The checkpoint directory's lease (storage/lease.hpp): one job at a time, a dead job's lease taken
// over (at once on its host, after the expiry from another), a live one refused. No MPI.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <mpisnap/error.hpp>

#include "storage/lease.hpp"
#include "temp_dir.hpp"

namespace mpisnap::storage {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A lease file as another job would have left it.
void write_foreign(const std::string& dir, const std::string& host, long pid, const std::string& token,
                   std::uint64_t start = 0) {
  std::ofstream(dir + "/" + kLeaseName) << "mpisnap lease\nhost=" << host << "\npid=" << pid << "\nstart=" << start
                                        << "\nprogram=other\nranks=8\nsince=1700000000\ntoken=" << token << "\n";
}

void age(const std::string& path, double seconds) {
  struct timespec ts[2];
  ::clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec -= static_cast<time_t>(seconds);
  ts[1] = ts[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, 0), 0);
}

long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

Lease::Options quick(double expiry = 60) {
  Lease::Options o;
  o.expiry = expiry;
  o.renew = false;
  return o;
}

void quiet(const std::string&) {}

TEST(Lease, OneJobAtATimeAndGivenBackAtTheEnd) {
  testing::TempDir dir("lease");
  LeaseHolder me = this_process("bank", 4);
  {
    Lease first(dir.path(), me, quick(), quiet);
    LeaseHolder seen;
    ASSERT_TRUE(read_lease(dir.path(), seen));
    EXPECT_EQ(seen.token, first.token());
    EXPECT_EQ(seen.program, "bank");
    EXPECT_EQ(seen.ranks, 4);
    // A second job on this host while the first lives: refused, naming the first.
    const std::string e = error_of([&] { Lease second(dir.path(), this_process("ring", 2), quick(), quiet); });
    EXPECT_NE(e.find("in use by another running job 'bank' with 4 rank(s)"), std::string::npos) << e;
    EXPECT_NE(e.find("pid " + std::to_string(::getpid())), std::string::npos) << e;
    LeaseHolder still;
    ASSERT_TRUE(read_lease(dir.path(), still));
    EXPECT_EQ(still.token, first.token()) << "a refused job leaves the lease alone";
  }
  LeaseHolder none;
  EXPECT_FALSE(read_lease(dir.path(), none)) << "given back";
  Lease next(dir.path(), this_process("ring", 2), quick(), quiet);
}

TEST(Lease, ADeadJobOnThisHostIsTakenOverAtOnce) {
  testing::TempDir dir("lease");
  const LeaseHolder me = this_process("bank", 2);
  write_foreign(dir.path(), me.host, dead_pid(), "deadbeef");  // kill -9: the file stays
  std::vector<std::string> said;
  Lease lease(dir.path(), me, quick(), [&](const std::string& s) { said.push_back(s); });
  LeaseHolder now;
  ASSERT_TRUE(read_lease(dir.path(), now));
  EXPECT_EQ(now.token, lease.token());
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("which is gone"), std::string::npos) << said[0];
}

TEST(Lease, AReusedPidIsNotTheOwner) {
  testing::TempDir dir("lease");
  const LeaseHolder me = this_process("bank", 2);
  // Our own pid, but another process start time: the owner died and the pid came back as us.
  write_foreign(dir.path(), me.host, me.pid, "cafe", me.start_ticks + 12345);
  Lease lease(dir.path(), me, quick(), quiet);
  LeaseHolder now;
  ASSERT_TRUE(read_lease(dir.path(), now));
  EXPECT_EQ(now.token, lease.token());
}

TEST(Lease, AnotherHostsLeaseIsStaleOnlyAfterTheExpiry) {
  testing::TempDir dir("lease");
  const std::string path = dir.path() + "/" + kLeaseName;
  // Not renewed for two minutes (a node that vanished): taken over at once.
  write_foreign(dir.path(), "node-that-vanished", 4242, "old");
  age(path, 120);
  Lease taken(dir.path(), this_process("bank", 2), quick(60), quiet);
  LeaseHolder now;
  ASSERT_TRUE(read_lease(dir.path(), now));
  EXPECT_EQ(now.token, taken.token());
}

TEST(Lease, AFreshLeaseOfAnotherHostIsWaitedOut) {
  testing::TempDir dir("lease");
  write_foreign(dir.path(), "other-node", 4242, "fresh");  // renewed just now, then never again
  std::vector<std::string> said;
  Lease lease(dir.path(), this_process("bank", 2), quick(2), [&](const std::string& s) { said.push_back(s); });
  ASSERT_FALSE(said.empty());
  EXPECT_NE(said[0].find("waiting up to"), std::string::npos) << said[0];
  LeaseHolder now;
  ASSERT_TRUE(read_lease(dir.path(), now));
  EXPECT_EQ(now.token, lease.token());
}

TEST(Lease, AnotherHostsLeaseRenewedWhileWaitingIsALiveJob) {
  testing::TempDir dir("lease");
  const std::string path = dir.path() + "/" + kLeaseName;
  write_foreign(dir.path(), "other-node", 4242, "alive");
  age(path, 1.5);
  std::atomic<bool> stop{false};
  std::thread owner([&] {  // the other job renews its lease
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
    }
  });
  const std::string e = error_of([&] { Lease lease(dir.path(), this_process("bank", 2), quick(4), quiet); });
  stop = true;
  owner.join();
  EXPECT_NE(e.find("renewed while this job waited"), std::string::npos) << e;
  LeaseHolder still;
  ASSERT_TRUE(read_lease(dir.path(), still));
  EXPECT_EQ(still.token, "alive");
}

TEST(Lease, EveryWriterChecksTheLeaseIsItsJobs) {
  testing::TempDir dir("lease");
  Lease lease(dir.path(), this_process("bank", 2), quick(), quiet);
  EXPECT_NO_THROW(require_lease(dir.path(), lease.token()));
  // The lease vanished with the directory's contents: held again for the same job.
  ASSERT_EQ(::unlink((dir.path() + "/" + kLeaseName).c_str()), 0);
  EXPECT_NO_THROW(require_lease(dir.path(), lease.token()));
  LeaseHolder again;
  ASSERT_TRUE(read_lease(dir.path(), again));
  EXPECT_EQ(again.token, lease.token());
  // Another job holds it now: this one must write nothing more.
  write_foreign(dir.path(), "other-node", 99, "usurper");
  const std::string e = error_of([&] { require_lease(dir.path(), lease.token()); });
  EXPECT_NE(e.find("now belongs to another job 'other'"), std::string::npos) << e;
}

}  // namespace
}  // namespace mpisnap::storage
