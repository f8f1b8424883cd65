// ProcessManager against real processes, with and without cgroup v2.
#include "proc/process_manager.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common/time.h"
#include "proc/proc_fs.h"

namespace overseer::proc {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = std::chrono::seconds(10);

std::string Slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Process state letter from /proc/<pid>/stat, or 0 when the process is gone.
char StateOf(pid_t pid) {
  auto st = internal::ReadProcStat(pid);
  return st ? st->state : 0;
}

bool Alive(pid_t pid) {
  char s = StateOf(pid);
  return s != 0 && s != 'Z' && s != 'X';
}

std::vector<pid_t> ZombieChildren() {
  std::vector<pid_t> out;
  for (pid_t pid : internal::ListAllPids()) {
    auto st = internal::ReadProcStat(pid);
    if (st && st->ppid == getpid() && st->state == 'Z') out.push_back(pid);
  }
  return out;
}

std::atomic<int> g_counter{0};

const std::string kExecHelper = OVERSEER_BINARY_DIR "/overseer-exec";

class ProcessManagerTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/overseer-proctest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    instance_ = "t" + std::to_string(getpid()) + "-" + std::to_string(g_counter++);
    mgr_ = std::make_unique<ProcessManager>(io_, Options());
    if (GetParam() && !mgr_->cgroups_enabled()) GTEST_SKIP() << "no writable cgroup v2 here";
    EXPECT_EQ(mgr_->cgroups_enabled(), GetParam());
  }

  void TearDown() override {
    *body_alive_ = false;  // callbacks must not touch the finished test body's locals
    // Whatever a test left running is ended, then nothing may remain: no zombie, no cgroup.
    for (auto& p : spawned_) {
      if (!p->finished()) {
        bool done = false;
        mgr_->Terminate(p, milliseconds(100), [&] { done = true; });
        RunUntil([&] { return done; });
      }
    }
    RunUntil([] { return ZombieChildren().empty(); });
    EXPECT_TRUE(ZombieChildren().empty()) << "zombie children left";
    std::string parent = mgr_ ? mgr_->cgroup_parent() : "";
    mgr_.reset();
    if (!parent.empty()) {
      EXPECT_FALSE(std::filesystem::exists(parent)) << parent;
    }
    std::filesystem::remove_all(dir_);
  }

  // Workers start through the overseer-exec built beside this test (see TrampolineFallback).
  ProcessManagerOptions Options(std::string helper = kExecHelper) const {
    return {instance_, GetParam(), std::move(helper)};
  }

  // Runs the loop until `pred` holds or 10 s pass; returns pred().
  bool RunUntil(const std::function<bool()>& pred) {
    auto deadline = Clock::now() + kDeadline;
    while (!pred() && Clock::now() < deadline) {
      if (io_.stopped()) io_.restart();
      io_.run_for(milliseconds(10));
    }
    return pred();
  }

  SpawnSpec Spec(std::vector<std::string> argv, std::string unit = "") {
    SpawnSpec s;
    s.argv = std::move(argv);
    s.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir_, "LC_ALL=C"};
    s.unit_name = unit.empty() ? "u" + std::to_string(g_counter++) : unit;
    s.log_path = dir_ + "/" + s.unit_name + ".log";
    return s;
  }

  // Spawns and records exit status into `exit`.
  std::shared_ptr<Process> Start(const SpawnSpec& spec, std::optional<ExitStatus>* exit,
                                 ProcessCallbacks cb = {}) {
    cb.on_exit = [exit, alive = body_alive_](ExitStatus st) {
      if (*alive) *exit = st;
    };
    for (auto* f : {&cb.on_stopped, &cb.on_continued}) {
      if (*f) {
        *f = [inner = std::move(*f), alive = body_alive_] {
          if (*alive) inner();
        };
      }
    }
    auto r = mgr_->Spawn(spec, std::move(cb));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) return nullptr;
    spawned_.push_back(*r);
    return *r;
  }

  ExitStatus RunToExit(const SpawnSpec& spec) {
    std::optional<ExitStatus> exit;
    auto p = Start(spec, &exit);
    if (!p) return {};
    EXPECT_TRUE(RunUntil([&] { return exit.has_value(); }));
    return exit.value_or(ExitStatus{-99, -99});
  }

  // Waits until the log holds "<key>=<pid>" and returns the pid.
  pid_t WaitForPid(const std::string& log, const std::string& key) {
    pid_t found = 0;
    RunUntil([&] {
      std::string text = Slurp(log);
      size_t at = text.find(key + "=");
      if (at != std::string::npos) found = std::atoi(text.c_str() + at + key.size() + 1);
      return found != 0;
    });
    return found;
  }

  // The usage as a request path gets it: the sampler's memory, else its next pass. Checks the
  // staleness bound: a sample at most 2 * usage_period (500 ms) old when asked.
  Usage Sampled(const Process& p) {
    const TimeMs asked = SystemClock::Instance().NowMs();
    std::optional<Usage> got = mgr_->CachedUsage(p);
    if (!got) got = Awaited(p);
    if (got->processes > 0) {
      EXPECT_LE(asked - got->sampled_at, 501) << "a stale sample";  // 1: ms rounding
    }
    return *got;
  }

  // A sample read after this call (AwaitUsage).
  Usage Awaited(const Process& p) {
    std::optional<Usage> got;
    mgr_->AwaitUsage(p, [&got, alive = body_alive_](Usage u) {
      if (*alive) got = u;
    });
    EXPECT_FALSE(got.has_value());  // posted, never inline
    EXPECT_TRUE(RunUntil([&] { return got.has_value(); }));
    return got.value_or(Usage{});
  }

  boost::asio::io_context io_;
  std::string dir_;
  std::string instance_;
  std::unique_ptr<ProcessManager> mgr_;
  std::vector<std::shared_ptr<Process>> spawned_;
  std::shared_ptr<bool> body_alive_ = std::make_shared<bool>(true);
};

TEST_P(ProcessManagerTest, ReportsExitCodes) {
  ExitStatus t = RunToExit(Spec({"true"}));
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_EQ(t.term_signal, 0);
  EXPECT_EQ(RunToExit(Spec({"false"})).exit_code, 1);
  EXPECT_EQ(RunToExit(Spec({"sh", "-c", "exit 3"})).exit_code, 3);
}

TEST_P(ProcessManagerTest, ReportsDeathBySignal) {
  ExitStatus st = RunToExit(Spec({"sh", "-c", "kill -KILL $$"}));
  EXPECT_EQ(st.exit_code, -1);
  EXPECT_EQ(st.term_signal, SIGKILL);
}

TEST_P(ProcessManagerTest, MissingCommandExits127WithMessageInLog) {
  SpawnSpec spec = Spec({"no-such-command-overseer"});
  EXPECT_EQ(RunToExit(spec).exit_code, 127);
  std::string log = Slurp(spec.log_path);
  EXPECT_NE(log.find("no-such-command-overseer"), std::string::npos) << log;
  EXPECT_NE(log.find("not found"), std::string::npos) << log;
}

TEST_P(ProcessManagerTest, HonoursCwdEnvStdinAndMarker) {
  SpawnSpec spec = Spec({"sh", "-c", "pwd; echo \"foo=$FOO\"; cat; echo \"unit=$OVERSEER_UNIT\""});
  spec.cwd = dir_;
  spec.env.push_back("FOO=bar baz");
  spec.env.push_back("OVERSEER_UNIT=forged");  // replaced by the real marker
  EXPECT_EQ(RunToExit(spec).exit_code, 0);     // `cat` ends at once: stdin is /dev/null
  std::string log = Slurp(spec.log_path);
  EXPECT_NE(log.find(dir_ + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("foo=bar baz\n"), std::string::npos) << log;
  EXPECT_NE(log.find("unit=" + instance_ + "/" + spec.unit_name + "\n"), std::string::npos) << log;
}

TEST_P(ProcessManagerTest, ChildGetsCleanFdsMaskAndDispositions) {
  // A daemon fd without CLOEXEC, an ignored SIGPIPE and a blocked SIGUSR1 must not leak.
  int leaked = dup2(open("/dev/null", O_RDONLY), 57);
  ASSERT_EQ(leaked, 57);
  signal(SIGPIPE, SIG_IGN);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  SpawnSpec spec = Spec({"sh", "-c",
                         "test -e /proc/self/fd/57 && echo fd=LEAK || echo fd=clean; "
                         "grep -E '^(SigBlk|SigIgn)' /proc/self/status"});
  EXPECT_EQ(RunToExit(spec).exit_code, 0);
  pthread_sigmask(SIG_UNBLOCK, &block, nullptr);
  signal(SIGPIPE, SIG_DFL);
  close(57);
  std::string log = Slurp(spec.log_path);
  EXPECT_NE(log.find("fd=clean"), std::string::npos) << log;
  EXPECT_NE(log.find("SigBlk:\t0000000000000000"), std::string::npos) << log;
  // Signals 1..31 all default (glibc itself keeps its internal RT signals 32/33 ignored).
  size_t at = log.find("SigIgn:\t");
  ASSERT_NE(at, std::string::npos) << log;
  uint64_t ignored = std::stoull(log.substr(at + 8, 16), nullptr, 16);
  EXPECT_EQ(ignored & 0x7fffffffULL, 0u) << log;
}

TEST_P(ProcessManagerTest, CapturesStdoutAndStderrAndTails) {
  SpawnSpec spec = Spec({"sh", "-c", "for i in 1 2 3 4 5; do echo out$i; done; echo err >&2"});
  EXPECT_EQ(RunToExit(spec).exit_code, 0);
  auto tail = ProcessManager::TailLog(spec.log_path, 3, 1 << 20);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, "out4\nout5\nerr\n");
}

TEST_P(ProcessManagerTest, RotatesLogAtCap) {
  SpawnSpec spec =
      Spec({"sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done"});
  spec.log_max_bytes = 1000;
  EXPECT_EQ(RunToExit(spec).exit_code, 0);
  ASSERT_TRUE(std::filesystem::exists(spec.log_path + ".1"));
  EXPECT_LE(std::filesystem::file_size(spec.log_path), 1000u);
  EXPECT_EQ(std::filesystem::file_size(spec.log_path + ".1"), 1000u);
  EXPECT_FALSE(std::filesystem::exists(spec.log_path + ".2"));
  std::string both = Slurp(spec.log_path + ".1") + Slurp(spec.log_path);
  EXPECT_EQ(both.substr(both.size() - 8), "line299\n");
  auto tail = ProcessManager::TailLog(spec.log_path, 2, 1 << 20);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, "line298\nline299\n");
}

TEST_P(ProcessManagerTest, SpawnErrors) {
  SpawnSpec bad_log = Spec({"true"});
  bad_log.log_path = dir_ + "/missing/dir/x.log";
  auto r1 = mgr_->Spawn(bad_log, {});
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().code, ErrorCode::kInternal);
  EXPECT_NE(r1.error().message.find("log"), std::string::npos);

  auto r2 = mgr_->Spawn(Spec({}), {});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ErrorCode::kInvalidRequest);

  auto r3 = mgr_->Spawn(Spec({"true"}, "../escape"), {});
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error().code, ErrorCode::kInvalidRequest);

  SpawnSpec bad_cwd = Spec({"true"});
  bad_cwd.cwd = dir_ + "/nope";
  auto r4 = mgr_->Spawn(bad_cwd, {});
  ASSERT_FALSE(r4.ok());
  EXPECT_EQ(r4.error().code, ErrorCode::kInternal);

  std::optional<ExitStatus> exit;
  SpawnSpec running = Spec({"sleep", "600"});
  ASSERT_NE(Start(running, &exit), nullptr);
  auto r5 = mgr_->Spawn(running, {});
  ASSERT_FALSE(r5.ok());
  EXPECT_EQ(r5.error().code, ErrorCode::kInvalidRequest);
}

TEST_P(ProcessManagerTest, PauseStopsWholeTreeAndResumeContinues) {
  SpawnSpec spec = Spec({"sh", "-c",
                         "sleep 600 & setsid sh -c 'echo esc=$$; exec sleep 600' & "
                         "echo child=$!; wait"});
  std::optional<ExitStatus> exit;
  int stopped = 0, continued = 0;
  ProcessCallbacks cb;
  cb.on_stopped = [&] { ++stopped; };
  cb.on_continued = [&] { ++continued; };
  auto p = Start(spec, &exit, cb);
  ASSERT_NE(p, nullptr);
  pid_t esc = WaitForPid(spec.log_path, "esc");
  ASSERT_NE(esc, 0);
  ASSERT_TRUE(RunUntil([&] { return mgr_->ReadUsage(*p).processes == 3; }))
      << mgr_->ReadUsage(*p).processes;
  auto tree = [&] {
    std::vector<pid_t> pids = {p->pid(), esc};
    for (pid_t pid : internal::ListAllPids()) {
      auto st = internal::ReadProcStat(pid);
      if (st && st->ppid == p->pid()) pids.push_back(pid);
    }
    return pids;
  };
  ASSERT_GE(tree().size(), 3u);

  ASSERT_TRUE(mgr_->Pause(*p).ok());
  EXPECT_TRUE(RunUntil([&] {
    for (pid_t pid : tree())
      if (StateOf(pid) != 'T') return false;
    return stopped == 1;
  }));
  for (pid_t pid : tree()) EXPECT_EQ(StateOf(pid), 'T') << pid;

  ASSERT_TRUE(mgr_->Resume(*p).ok());
  EXPECT_TRUE(RunUntil([&] {
    for (pid_t pid : tree()) {
      char s = StateOf(pid);
      if (s != 'S' && s != 'R') return false;
    }
    return continued == 1;
  }));
  for (pid_t pid : tree()) EXPECT_NE(StateOf(pid), 'T') << pid;
  EXPECT_FALSE(exit.has_value());
}

TEST_P(ProcessManagerTest, TerminateEndsSleepWithinGrace) {
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sleep", "600"}), &exit);
  ASSERT_NE(p, nullptr);
  bool done = false;
  auto start = Clock::now();
  mgr_->Terminate(p, std::chrono::seconds(5), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->term_signal, SIGTERM);
  EXPECT_TRUE(p->finished());
  EXPECT_FALSE(Alive(p->pid()));
  if (GetParam()) {
    EXPECT_FALSE(std::filesystem::exists(p->cgroup_path()));
  }
}

TEST_P(ProcessManagerTest, TerminateKillsTermIgnorerAfterGrace) {
  SpawnSpec spec = Spec({"sh", "-c", "trap '' TERM; echo ready=1; sleep 600"});
  std::optional<ExitStatus> exit;
  auto p = Start(spec, &exit);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(WaitForPid(spec.log_path, "ready"), 0);
  bool done = false;
  auto start = Clock::now();
  mgr_->Terminate(p, milliseconds(300), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  EXPECT_GE(Clock::now() - start, milliseconds(300));
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->term_signal, SIGKILL);
}

TEST_P(ProcessManagerTest, TerminateOfPausedProcessEndsIt) {
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sleep", "600"}), &exit);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(mgr_->Pause(*p).ok());
  ASSERT_TRUE(RunUntil([&] { return StateOf(p->pid()) == 'T'; }));
  bool done = false;
  mgr_->Terminate(p, std::chrono::seconds(5), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->term_signal, SIGTERM);  // not SIGKILL: SIGCONT let SIGTERM through
}

TEST_P(ProcessManagerTest, TerminateKillsSetsidAndDoubleForkedDescendants) {
  // The escapees ignore SIGTERM, so only the SIGKILL phase can end them.
  SpawnSpec spec = Spec({"sh", "-c",
                         "setsid sh -c \"trap '' TERM; echo esc=\\$\\$; exec sleep 600\" & "
                         "( sh -c \"trap '' TERM; echo dbl=\\$\\$; exec sleep 600\" & ) ; "
                         "exec sleep 600"});
  std::optional<ExitStatus> exit;
  auto p = Start(spec, &exit);
  ASSERT_NE(p, nullptr);
  pid_t esc = WaitForPid(spec.log_path, "esc");
  pid_t dbl = WaitForPid(spec.log_path, "dbl");
  ASSERT_NE(esc, 0);
  ASSERT_NE(dbl, 0);
  ASSERT_TRUE(RunUntil([&] { return mgr_->ReadUsage(*p).processes == 3; }));
  auto esc_stat = internal::ReadProcStat(esc);
  ASSERT_TRUE(esc_stat);
  EXPECT_NE(esc_stat->pgrp, p->pgid());  // really left the group
  bool done = false;
  mgr_->Terminate(p, milliseconds(300), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->term_signal, SIGTERM);
  EXPECT_FALSE(Alive(esc));
  EXPECT_FALSE(Alive(dbl));
  // The escapees were reparented to us (subreaper) and must be reaped, not left as zombies.
  EXPECT_TRUE(RunUntil([&] { return StateOf(esc) == 0 && StateOf(dbl) == 0; }));
}

TEST_P(ProcessManagerTest, StragglersAfterMainExitAreEndedByTerminate) {
  SpawnSpec spec = Spec({"sh", "-c", "setsid sh -c 'echo esc=$$; exec sleep 600' & exit 0"});
  std::optional<ExitStatus> exit;
  auto p = Start(spec, &exit);
  ASSERT_NE(p, nullptr);
  pid_t esc = WaitForPid(spec.log_path, "esc");
  ASSERT_TRUE(RunUntil([&] { return exit.has_value(); }));
  EXPECT_EQ(exit->exit_code, 0);
  ASSERT_NE(esc, 0);
  EXPECT_TRUE(Alive(esc));
  EXPECT_FALSE(p->finished());  // the unit still has a process
  EXPECT_EQ(mgr_->ReadUsage(*p).processes, 1);
  bool done = false;
  mgr_->Terminate(p, milliseconds(200), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  EXPECT_FALSE(Alive(esc));
  EXPECT_TRUE(p->finished());
}

// A straggler that left the group and then execs itself over and over until the file $STOP
// exists: each exec has a moment in which /proc/<pid>/environ reads empty (without a cgroup the
// env marker is the only way to know it). No scan may lose it.
constexpr const char* kExecStorm =
    "if [ ! -e \"$STOP\" ]; then exec sh -c \"$0\" \"$0\"; fi; exec sleep 600";

bool StormOver(pid_t pid) {
  return Slurp("/proc/" + std::to_string(pid) + "/cmdline").rfind("sleep", 0) == 0;
}

TEST_P(ProcessManagerTest, StragglerInTheMiddleOfExecsIsNeverLost) {
  const std::string stop = dir_ + "/stop";
  SpawnSpec spec =
      Spec({"sh", "-c", "setsid sh -c \"$1\" \"$1\" & echo esc=$!; exit 0", "main", kExecStorm});
  spec.env.push_back("STOP=" + stop);
  std::optional<ExitStatus> exit;
  auto p = Start(spec, &exit);
  ASSERT_NE(p, nullptr);
  pid_t esc = WaitForPid(spec.log_path, "esc");
  ASSERT_NE(esc, 0);
  ASSERT_TRUE(RunUntil([&] { return exit.has_value(); }));
  // 100 scans while it execs (the unit's own exit check ran in the middle of it, too).
  for (int scan = 0; scan < 100; ++scan) {
    io_.poll();
    if (io_.stopped()) io_.restart();
    ASSERT_FALSE(p->finished()) << "scan " << scan;
    ASSERT_EQ(mgr_->ReadUsage(*p).processes, 1) << "scan " << scan;
  }
  EXPECT_FALSE(StormOver(esc));  // the scans really overlapped the execs
  std::ofstream(stop).put('x');
  ASSERT_TRUE(RunUntil([&] { return StormOver(esc); }));
  EXPECT_FALSE(p->finished());
  EXPECT_EQ(mgr_->ReadUsage(*p).processes, 1);
  bool done = false;
  mgr_->Terminate(p, milliseconds(200), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  EXPECT_FALSE(Alive(esc));
}

TEST_P(ProcessManagerTest, PauseReachesStragglerInTheMiddleOfExecs) {
  const std::string stop = dir_ + "/stop";
  SpawnSpec spec =
      Spec({"sh", "-c", "setsid sh -c \"$1\" \"$1\" & echo esc=$!; wait", "main", kExecStorm});
  spec.env.push_back("STOP=" + stop);
  std::optional<ExitStatus> exit;
  auto p = Start(spec, &exit);
  ASSERT_NE(p, nullptr);
  pid_t esc = WaitForPid(spec.log_path, "esc");
  ASSERT_NE(esc, 0);
  for (int round = 0; round < 60; ++round) {
    ASSERT_TRUE(mgr_->Pause(*p).ok());
    ASSERT_TRUE(RunUntil([&] { return StateOf(esc) == 'T'; }))
        << "round " << round << ": straggler not stopped, state " << StateOf(esc);
    ASSERT_TRUE(mgr_->Resume(*p).ok());
    ASSERT_TRUE(RunUntil([&] { return StateOf(esc) != 'T'; })) << "round " << round;
    io_.run_for(milliseconds(2));  // let it exec a few times
  }
  EXPECT_FALSE(StormOver(esc));
  EXPECT_FALSE(exit.has_value());
  std::ofstream(stop).put('x');
  EXPECT_TRUE(RunUntil([&] { return StormOver(esc); }));
}

TEST_P(ProcessManagerTest, TerminateAfterFinishCallsDone) {
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"true"}), &exit);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(RunUntil([&] { return p->finished(); }));
  bool done = false;
  mgr_->Terminate(p, milliseconds(100), [&] { done = true; });
  EXPECT_FALSE(done);  // posted, not called inline
  EXPECT_TRUE(RunUntil([&] { return done; }));
  Status pause = mgr_->Pause(*p);
  ASSERT_FALSE(pause.ok());
  EXPECT_EQ(pause.error().code, ErrorCode::kInvalidStateTransition);
}

TEST_P(ProcessManagerTest, UsageOfBusyLoopGrows) {
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sh", "-c", "while :; do :; done"}), &exit);
  ASSERT_NE(p, nullptr);
  Usage first = mgr_->ReadUsage(*p);
  EXPECT_EQ(first.processes, 1);  // counted even before the shell has joined its cgroup
  EXPECT_TRUE(RunUntil([&] { return mgr_->ReadUsage(*p).cpu_seconds >= 0.2; }));
  Usage later = mgr_->ReadUsage(*p);
  EXPECT_GT(later.cpu_seconds, first.cpu_seconds);
  EXPECT_GT(later.rss_bytes, 0);
  EXPECT_EQ(later.processes, 1);
}

// --- Live usage through the sampler (CachedUsage / AwaitUsage), as GET of a worker reads it.

TEST_P(ProcessManagerTest, SampledUsageFollowsMemoryAndChildren) {
  const std::string fifo = dir_ + "/go";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Waits for a line on the fifo, then holds 32 MiB in a shell variable and starts two children.
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sh", "-c",
                       "read _ < " + fifo +
                           "; x=$(head -c 33554432 /dev/zero | tr '\\0' a); "
                           "sleep 600 & sleep 600 & wait"}),
                 &exit);
  ASSERT_NE(p, nullptr);
  const Usage before = Sampled(*p);
  EXPECT_EQ(before.processes, 1);
  EXPECT_GT(before.sampled_at, 0);
  EXPECT_LT(before.rss_bytes, 16 << 20);

  int fd = -1;
  ASSERT_TRUE(RunUntil([&] {  // the shell has the fifo open for reading
    fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    return fd >= 0;
  }));
  ASSERT_EQ(write(fd, "\n", 1), 1);
  close(fd);

  // Polled through the cache only: the figures follow within the deadline, each answer at most
  // 500 ms old (Sampled), and the unit is read at most every ~250 ms (no pass reads it again
  // before half a period).
  std::set<TimeMs> stamps{before.sampled_at};
  Usage last;
  EXPECT_TRUE(RunUntil([&] {
    last = Sampled(*p);
    stamps.insert(last.sampled_at);
    return last.processes == 3 && last.rss_bytes >= before.rss_bytes + (30 << 20);
  })) << "processes "
      << last.processes << ", rss " << last.rss_bytes;
  for (auto it = std::next(stamps.begin()); it != stamps.end(); ++it) {
    EXPECT_GE(*it - *std::prev(it), 120) << "sampled twice within half a period";
  }
  EXPECT_GE(stamps.size(), 2u);
}

TEST_P(ProcessManagerTest, CachedUsageIsServedFromMemory) {
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sh", "-c", "while :; do :; done"}), &exit);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(RunUntil([&] { return Sampled(*p).cpu_seconds > 0; }));
  const Usage first = Awaited(*p);
  // No file is read on the ask: until the loop runs a pass, every ask answers the same sample
  // (or, once it is older than its bound, none), however much CPU the busy loop burns meanwhile.
  int answered = 0;
  for (int i = 0; i < 5000; ++i) {
    std::optional<Usage> u = mgr_->CachedUsage(*p);
    if (!u) continue;
    ++answered;
    ASSERT_EQ(u->sampled_at, first.sampled_at);
    ASSERT_EQ(u->cpu_seconds, first.cpu_seconds);
  }
  EXPECT_GT(answered, 0);
  // The sampler's timer refreshes it (no AwaitUsage here).
  EXPECT_TRUE(RunUntil([&] {
    std::optional<Usage> u = mgr_->CachedUsage(*p);
    return u && u->sampled_at > first.sampled_at && u->cpu_seconds > first.cpu_seconds;
  }));
}

TEST_P(ProcessManagerTest, UsageSamplerSleepsWhenNobodyAsks) {
  ProcessManagerOptions options = Options();
  options.usage_interest = milliseconds(300);
  mgr_.reset();  // the old one removes its cgroup parent on the way out
  mgr_ = std::make_unique<ProcessManager>(io_, options);
  EXPECT_TRUE(mgr_->UsageSamplerIdleForTest());
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sleep", "600"}), &exit);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(mgr_->UsageSamplerIdleForTest()) << "a spawn alone must not start sampling";
  EXPECT_EQ(Sampled(*p).processes, 1);
  EXPECT_FALSE(mgr_->UsageSamplerIdleForTest());
  // 300 ms after the last ask it forgets the unit and its timer is no longer armed.
  EXPECT_TRUE(RunUntil([&] { return mgr_->UsageSamplerIdleForTest(); }));
  // Asked again, it answers a fresh sample and samples again.
  EXPECT_EQ(Sampled(*p).processes, 1);
  EXPECT_FALSE(mgr_->UsageSamplerIdleForTest());
}

TEST_P(ProcessManagerTest, OnePassMeasuresEachUnitApart) {
  std::optional<ExitStatus> exit_a, exit_b;
  auto a = Start(Spec({"sleep", "600"}), &exit_a);
  auto b = Start(Spec({"sh", "-c", "sleep 600 & sleep 600 & wait"}), &exit_b);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  // Both waiting on the same pass (one scan of the host without a cgroup).
  std::optional<Usage> ua, ub;
  mgr_->AwaitUsage(*a, [&ua, alive = body_alive_](Usage u) {
    if (*alive) ua = u;
  });
  mgr_->AwaitUsage(*b, [&ub, alive = body_alive_](Usage u) {
    if (*alive) ub = u;
  });
  ASSERT_TRUE(RunUntil([&] { return ua && ub; }));
  EXPECT_EQ(ua->processes, 1);
  EXPECT_GT(ua->sampled_at, 0);
  EXPECT_TRUE(RunUntil([&] { return Sampled(*b).processes == 3; })) << Sampled(*b).processes;
  EXPECT_EQ(Sampled(*a).processes, 1);
}

TEST_P(ProcessManagerTest, UsageOfAFinishedUnitIsZeroWithoutSampleTime) {
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sleep", "600"}), &exit);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Sampled(*p).processes, 1);
  bool done = false;
  mgr_->Terminate(p, milliseconds(100), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  std::optional<Usage> cached = mgr_->CachedUsage(*p);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->processes, 0);
  EXPECT_EQ(cached->rss_bytes, 0);
  EXPECT_EQ(cached->sampled_at, 0);
  const Usage awaited = Awaited(*p);
  EXPECT_EQ(awaited.processes, 0);
  EXPECT_EQ(awaited.sampled_at, 0);
}

TEST_P(ProcessManagerTest, ReportsStopAndContinueSentByOthers) {
  std::optional<ExitStatus> exit;
  int stopped = 0, continued = 0;
  ProcessCallbacks cb;
  cb.on_stopped = [&] { ++stopped; };
  cb.on_continued = [&] { ++continued; };
  auto p = Start(Spec({"sleep", "600"}), &exit, cb);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(kill(p->pid(), SIGSTOP), 0);
  EXPECT_TRUE(RunUntil([&] { return stopped == 1; }));
  ASSERT_EQ(kill(p->pid(), SIGCONT), 0);
  EXPECT_TRUE(RunUntil([&] { return continued == 1; }));
  EXPECT_FALSE(exit.has_value());
}

// State() says what the process does now, whatever notifications say (a pause is recorded
// only once it is kStopped; a late notification of our own SIGCONT is told apart by it).
TEST_P(ProcessManagerTest, StateFollowsTheProcessNow) {
  std::optional<ExitStatus> exit;
  bool stopped = false;
  ProcessCallbacks cb;
  cb.on_stopped = [&] { stopped = true; };
  auto p = Start(Spec({"sleep", "600"}), &exit, cb);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(mgr_->State(*p), MainState::kRunning);
  ASSERT_TRUE(mgr_->Pause(*p).ok());
  // The stop notification comes once the process has stopped.
  ASSERT_TRUE(RunUntil([&] { return stopped; }));
  EXPECT_EQ(mgr_->State(*p), MainState::kStopped);
  ASSERT_TRUE(mgr_->Resume(*p).ok());
  EXPECT_EQ(mgr_->State(*p), MainState::kRunning);  // SIGCONT acts at once
  ASSERT_EQ(kill(p->pid(), SIGKILL), 0);
  EXPECT_TRUE(RunUntil([&] { return mgr_->State(*p) == MainState::kExited; }));
  EXPECT_TRUE(RunUntil([&] { return exit.has_value(); }));
  EXPECT_EQ(mgr_->State(*p), MainState::kExited);
}

// Without overseer-exec (not built, or not executable) workers start through `/bin/sh -c`:
// same exit codes, output, "not found" message and cgroup membership.
TEST_P(ProcessManagerTest, ShellTrampolineWhenTheHelperIsMissing) {
  for (const std::string& helper : {std::string(), dir_ + "/no-such-overseer-exec"}) {
    mgr_.reset();
    mgr_ = std::make_unique<ProcessManager>(io_, Options(helper));
    SpawnSpec spec = Spec({"sh", "-c", "echo hi; exit 4"});
    EXPECT_EQ(RunToExit(spec).exit_code, 4);
    EXPECT_EQ(Slurp(spec.log_path), "hi\n");
    SpawnSpec missing = Spec({"no-such-command-overseer"});
    EXPECT_EQ(RunToExit(missing).exit_code, 127);
    EXPECT_NE(Slurp(missing.log_path).find("not found"), std::string::npos);
    if (GetParam()) {
      std::optional<ExitStatus> exit;
      auto p = Start(Spec({"sleep", "600"}), &exit);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(RunUntil([&] {
        return internal::ReadCgroupProcs(p->cgroup_path()) == std::vector<pid_t>{p->pid()};
      }));
      bool done = false;
      mgr_->Terminate(p, milliseconds(100), [&] { done = true; });
      ASSERT_TRUE(RunUntil([&] { return done; }));
    }
  }
}

TEST_P(ProcessManagerTest, HelperExecsTheCommandItself) {
  // overseer-exec replaces itself with the command: the main pid runs `sleep`, nothing else.
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sleep", "600"}), &exit);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(RunUntil([&] {
    return Slurp("/proc/" + std::to_string(p->pid()) + "/cmdline").rfind("sleep", 0) == 0;
  }));
}

TEST_P(ProcessManagerTest, ProcessJoinsItsOwnCgroup) {
  if (!GetParam()) GTEST_SKIP() << "cgroup only";
  std::optional<ExitStatus> exit;
  auto p = Start(Spec({"sleep", "600"}), &exit);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(std::filesystem::exists(p->cgroup_path()));
  EXPECT_TRUE(RunUntil(
      [&] { return internal::ReadCgroupProcs(p->cgroup_path()) == std::vector<pid_t>{p->pid()}; }));
  auto rel = internal::ReadCgroupV2Path(p->pid());
  ASSERT_TRUE(rel);
  EXPECT_EQ(p->cgroup_path().substr(p->cgroup_path().size() - rel->size()), *rel);
}

TEST_P(ProcessManagerTest, KillLeftoversEndsProcessesOfEarlierInstance) {
  SpawnSpec spec = Spec({"sh", "-c",
                         "setsid sh -c 'echo esc=$$; exec sleep 600' & "
                         "( sh -c 'echo dbl=$$; exec sleep 600' & ); exec sleep 600"});
  std::optional<ExitStatus> exit;
  auto r = mgr_->Spawn(spec, {});
  ASSERT_TRUE(r.ok());
  pid_t main_pid = (*r)->pid();
  std::string cgroup = (*r)->cgroup_path();
  pid_t esc = WaitForPid(spec.log_path, "esc");
  pid_t dbl = WaitForPid(spec.log_path, "dbl");
  ASSERT_NE(esc, 0);
  ASSERT_NE(dbl, 0);

  mgr_.reset();  // the "daemon" goes away without ending its processes
  EXPECT_TRUE(Alive(main_pid));
  EXPECT_TRUE(Alive(esc));

  // An unrelated process of another instance must survive.
  auto other = std::make_unique<ProcessManager>(
      io_, ProcessManagerOptions{instance_ + "-other", GetParam(), kExecHelper});
  auto bystander = other->Spawn(Spec({"sleep", "600"}), {});
  ASSERT_TRUE(bystander.ok());

  mgr_ = std::make_unique<ProcessManager>(io_, Options());
  int killed = -1;
  mgr_->KillLeftovers([&](int n) { killed = n; });
  ASSERT_TRUE(RunUntil([&] { return killed >= 0; }));
  EXPECT_EQ(killed, 3);
  EXPECT_FALSE(Alive(main_pid));
  EXPECT_FALSE(Alive(esc));
  EXPECT_FALSE(Alive(dbl));
  if (GetParam()) {
    EXPECT_FALSE(std::filesystem::exists(cgroup)) << cgroup;
  }
  EXPECT_TRUE(Alive((*bystander)->pid()));

  bool done = false;
  other->Terminate(*bystander, milliseconds(100), [&] { done = true; });
  ASSERT_TRUE(RunUntil([&] { return done; }));
  other.reset();

  // A second sweep finds nothing.
  killed = -1;
  mgr_->KillLeftovers([&](int n) { killed = n; });
  ASSERT_TRUE(RunUntil([&] { return killed >= 0; }));
  EXPECT_EQ(killed, 0);
}

INSTANTIATE_TEST_SUITE_P(CgroupAndFallback, ProcessManagerTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? std::string("Cgroup")
                                                   : std::string("NoCgroup");
                         });

}  // namespace
}  // namespace overseer::proc

namespace overseer::proc {
namespace {

// The output hook: every line as it arrives, in order, stdout and stderr alike, the last
// unterminated one at the end; the log still gets every byte.
TEST_P(ProcessManagerTest, OutputLinesReachTheHookAsTheyArriveAndTheLogKeepsThem) {
  std::vector<std::string> lines;
  bool first_seen_before_exit = false;
  std::optional<ExitStatus> exit;
  ProcessCallbacks cb;
  cb.on_output = [&lines, alive = body_alive_](std::string_view line) {
    if (*alive) lines.emplace_back(line);
  };
  SpawnSpec spec = Spec({"/bin/sh", "-c",
                         "echo '{\"type\":\"a\"}'; echo err 1>&2; "
                         "sleep 0.3; printf 'no newline'"});
  auto p = Start(spec, &exit, cb);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(RunUntil([&] { return lines.size() >= 2 || exit.has_value(); }));
  first_seen_before_exit = !exit.has_value();
  ASSERT_TRUE(RunUntil([&] { return exit.has_value(); }));
  ASSERT_TRUE(RunUntil([&] { return lines.size() >= 3; }));
  EXPECT_TRUE(first_seen_before_exit) << "lines were held until the exit";
  EXPECT_EQ(lines, (std::vector<std::string>{R"({"type":"a"})", "err", "no newline"}));
  EXPECT_EQ(Slurp(spec.log_path), "{\"type\":\"a\"}\nerr\nno newline");
}

}  // namespace
}  // namespace overseer::proc
