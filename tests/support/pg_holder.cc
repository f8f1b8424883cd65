// pg_holder: one throwaway PostgreSQL cluster (PgCluster) for a whole ctest run, so that the
// integration suite's PostgreSQL copy (ctest label integration_pg) does not pay an initdb per
// test process. Registered as the ctest fixture `pg` (CMakeLists.txt):
//
//   pg_holder start DIR   FIXTURES_SETUP. Forks the holder and returns once the cluster is up
//                         (exit 1 with the reason if it cannot start). The holder runs in a
//                         session of its own with its output in DIR/ctest-<P>.log, writes the
//                         cluster's URL to DIR/ctest-<P>.url (P: the pid of the ctest that runs
//                         the setup, i.e. its parent, which is also the parent of every test
//                         process of that run: tests find the file by their own getppid()) and
//                         its own pid to DIR/ctest-<P>.holder, then waits.
//   pg_holder stop DIR    FIXTURES_CLEANUP. Signals the holder of this ctest run (SIGTERM) and
//                         waits until it has stopped the server and exited.
//
// The holder stops the server, removes the cluster's directory and its files in DIR and exits
// on the first of: SIGTERM/SIGINT/SIGHUP (the cleanup), the ctest process ending (a pidfd on it:
// ctest interrupted with Ctrl-C, killed, or done without running the cleanup), or 6 hours.
// If the holder itself is killed with SIGKILL, PgCluster's watchdog stops the server.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "support/pg_cluster.h"

namespace {

namespace fs = std::filesystem;
using overseer::test_support::PgCluster;

constexpr int kMaxHoldMs = 6 * 3600 * 1000;

int g_signal_pipe = -1;  // write end; the handler's only state

void OnSignal(int /*sig*/) {
  const char c = 's';
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe, &c, 1);
}

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string Base(const std::string& dir, pid_t ctest) {
  return dir + "/ctest-" + std::to_string(ctest);
}

// Writes `text` to `path` through a rename, so a reader never sees half of it.
bool WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  return !ec;
}

void WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// The holder (a child of `start`): starts the cluster, reports on `report_fd` ("ok" or the
// error), then waits for one of the ends listed at the top of the file.
int Hold(const std::string& dir, pid_t ctest, int ctest_fd, int report_fd) {
  const std::string base = Base(dir, ctest);
  ::setsid();  // no terminal signal reaches it; the pidfd tells when ctest goes
  const int log = ::open((base + ".log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log >= 0 && null >= 0) {
    ::dup2(null, 0);
    ::dup2(log, 1);  // ctest waits for the test's output pipes to close: they must not stay
    ::dup2(log, 2);
  }
  // Signals the cleanup (or a person) may send, through a self-pipe (not a signalfd: that
  // needs them blocked, and a blocked mask would be inherited by pg_ctl and the server).
  std::array<int, 2> sig_pipe{};
  if (::pipe2(sig_pipe.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
    WriteAll(report_fd, std::string("pipe2: ") + std::strerror(errno) + "\n");
    return 1;
  }
  g_signal_pipe = sig_pipe[1];
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(s, &sa, nullptr);
  const int sig_fd = sig_pipe[0];

  auto cluster = PgCluster::Start({.max_connections = 100});
  if (!cluster) {
    WriteAll(report_fd, "cannot start the PostgreSQL cluster: " + cluster.error().message + "\n");
    return 1;
  }
  std::cerr << "pg_holder: cluster " << (*cluster)->dir() << " at " << (*cluster)->url()
            << " for ctest " << ctest << std::endl;
  if (!WriteAtomically(base + ".holder", std::to_string(::getpid())) ||
      !WriteAtomically(base + ".url", (*cluster)->url())) {
    WriteAll(report_fd, "cannot write " + base + ".url\n");
    return 1;
  }
  WriteAll(report_fd, "ok\n");
  ::close(report_fd);

  std::array<pollfd, 2> fds{{{ctest_fd, POLLIN, 0}, {sig_fd, POLLIN, 0}}};
  int rc = 0;
  while ((rc = ::poll(fds.data(), fds.size(), kMaxHoldMs)) < 0 && errno == EINTR) {
  }
  const char* why = rc == 0               ? "time limit"
                    : fds[0].revents != 0 ? "ctest ended"
                                          : "signal (cleanup)";
  std::cerr << "pg_holder: stopping the cluster: " << why << std::endl;
  std::error_code ec;
  fs::remove(base + ".url", ec);
  cluster->reset();  // pg_ctl stop -m immediate, rm -r the directory
  fs::remove(base + ".holder", ec);
  std::cerr << "pg_holder: done" << std::endl;
  fs::remove(base + ".log", ec);
  return 0;
}

int Start(const std::string& dir) {
  const pid_t ctest = ::getppid();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << "pg_holder: cannot create " << dir << ": " << ec.message() << "\n";
    return 1;
  }
  const int ctest_fd = PidfdOpen(ctest);
  if (ctest_fd < 0) {
    std::cerr << "pg_holder: pidfd_open(" << ctest << "): " << std::strerror(errno) << "\n";
    return 1;
  }
  std::array<int, 2> report{};
  if (::pipe2(report.data(), O_CLOEXEC) != 0) {
    std::cerr << "pg_holder: pipe2: " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cout.flush();
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::cerr << "pg_holder: fork: " << std::strerror(errno) << "\n";
    return 1;
  }
  if (pid == 0) {
    ::close(report[0]);
    std::_Exit(Hold(dir, ctest, ctest_fd, report[1]));
  }
  ::close(report[1]);
  std::string answer;
  std::array<char, 512> buf{};
  ssize_t n = 0;
  while ((n = ::read(report[0], buf.data(), buf.size())) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) answer.append(buf.data(), static_cast<size_t>(n));
  }
  if (answer != "ok\n") {
    std::cerr << "pg_holder: "
              << (answer.empty() ? "the holder died before the cluster was up" : answer);
    ::waitpid(pid, nullptr, WNOHANG);
    return 1;
  }
  std::ifstream url(Base(dir, ctest) + ".url");
  std::string line;
  std::getline(url, line);
  std::cout << "pg_holder: PostgreSQL for this ctest run (pid " << ctest << ") at " << line
            << ", held by pid " << pid << "\n";
  return 0;
}

int Stop(const std::string& dir) {
  const std::string base = Base(dir, ::getppid());
  std::ifstream in(base + ".holder");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) {
    std::cout << "pg_holder: no holder recorded in " << base << ".holder (already stopped)\n";
    return 0;
  }
  const int fd = PidfdOpen(pid);
  if (fd < 0) {
    std::cout << "pg_holder: holder " << pid << " is gone\n";
    return 0;
  }
  // The pid must still be a pg_holder (not a reused pid); the pidfd pins it from here on.
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  if (fs::path(argv0).filename() != "pg_holder") {
    std::cout << "pg_holder: pid " << pid << " is no longer the holder\n";
    return 0;
  }
  if (::syscall(SYS_pidfd_send_signal, fd, SIGTERM, nullptr, 0) != 0) {
    std::cerr << "pg_holder: signal " << pid << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  pollfd p{fd, POLLIN, 0};
  int rc = 0;
  while ((rc = ::poll(&p, 1, 60000)) < 0 && errno == EINTR) {
  }
  if (rc == 0) {
    std::cerr << "pg_holder: holder " << pid << " did not exit within 60 s\n";
    return 1;
  }
  std::cout << "pg_holder: PostgreSQL cluster of this ctest run stopped\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "start") != 0 && std::strcmp(argv[1], "stop") != 0)) {
    std::cerr << "usage: pg_holder start|stop DIR\n";
    return 2;
  }
  return std::strcmp(argv[1], "start") == 0 ? Start(argv[2]) : Stop(argv[2]);
}
