// tests/support/pg_cluster.h itself: a cluster of its own (besides the binary's shared one)
// stops and leaves nothing behind when destroyed, restarts on its port, and its watchdog
// cleans up after a test process that was killed.
#include "support/pg_cluster.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace overseer::test_support {
namespace {

using Clock = std::chrono::steady_clock;

// Gone, or a zombie nobody reaped yet (a container's init may not).
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field;
  std::string comm;
  char state = '?';
  stat >> pid_field >> comm >> state;
  return !stat || state == 'Z';
}

// Polls `done` for up to 20 s.
template <typename Fn>
bool Eventually(Fn done) {
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

TEST(PgClusterTest, StopsRestartsAndLeavesNothingBehind) {
  const Clock::time_point start = Clock::now();
  Result<std::unique_ptr<PgCluster>> cluster = PgCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const auto started = Clock::now() - start;
  const std::string dir = (*cluster)->dir();
  const std::string url = (*cluster)->url();
  const pid_t postmaster = (*cluster)->postmaster_pid();
  const pid_t watchdog = (*cluster)->watchdog_pid();
  EXPECT_EQ(url.rfind("postgresql://overseer@127.0.0.1:", 0), 0u) << url;
  EXPECT_EQ(PQping(url.c_str()), PQPING_OK);
  EXPECT_GT(postmaster, 0);

  ASSERT_TRUE((*cluster)->Stop().ok());
  EXPECT_EQ(PQping(url.c_str()), PQPING_NO_RESPONSE);
  EXPECT_TRUE(ProcessGone(postmaster));
  ASSERT_TRUE((*cluster)->Restart().ok());
  EXPECT_EQ((*cluster)->url(), url);  // same port
  EXPECT_EQ(PQping(url.c_str()), PQPING_OK);
  const pid_t restarted = (*cluster)->postmaster_pid();

  const Clock::time_point stop = Clock::now();
  cluster = MakeError(ErrorCode::kInternal, "destroyed");
  const auto stopped = Clock::now() - stop;
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(ProcessGone(restarted));
  EXPECT_EQ(PQping(url.c_str()), PQPING_NO_RESPONSE);
  // The watchdog sees its pipe close and exits on its own, a moment later on a busy machine.
  EXPECT_TRUE(Eventually([&] { return ProcessGone(watchdog); }));
  std::fprintf(stderr, "[ PgCluster ] own cluster: start %lld ms, stop %lld ms\n",
               static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(started).count()),
               static_cast<long long>(
                   std::chrono::duration_cast<std::chrono::milliseconds>(stopped).count()));
}

TEST(PgClusterTest, WatchdogCleansUpAfterAKilledTestProcess) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The "test process": starts a cluster, reports it, and is killed before any cleanup.
    ::close(fds[0]);
    Result<std::unique_ptr<PgCluster>> cluster = PgCluster::Start();
    std::string line = "0 - 0\n";
    if (cluster.ok()) {
      line = std::to_string((*cluster)->postmaster_pid()) + " " + (*cluster)->dir() + " " +
             (*cluster)->url() + "\n";
    }
    if (::write(fds[1], line.data(), line.size()) < 0) ::_exit(2);
    ::pause();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) {
    report.append(buf, static_cast<size_t>(n));
    if (report.find('\n') != std::string::npos) break;
  }
  ::close(fds[0]);
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  pid_t postmaster = 0;
  char dir[256] = {};
  char url[256] = {};
  ASSERT_EQ(std::sscanf(report.c_str(), "%d %255s %255s", &postmaster, dir, url), 3) << report;
  ASSERT_GT(postmaster, 0) << "the child could not start its cluster";
  EXPECT_TRUE(Eventually([&] { return ProcessGone(postmaster); }));
  EXPECT_TRUE(Eventually([&] { return !std::filesystem::exists(dir); })) << dir;
  EXPECT_EQ(PQping(url), PQPING_NO_RESPONSE);
}

}  // namespace
}  // namespace overseer::test_support
