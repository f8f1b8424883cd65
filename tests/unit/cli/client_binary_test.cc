// Drives the real `overseer` binary's client commands against a live daemon started here
// (port 0, temp state dir, HS256 secret file). Exit codes, stdout and stderr as a user sees them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

const std::string kBinary = std::string(OVERSEER_BINARY_DIR) + "/overseer";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const RunResult& r) {
  return os << "exit " << r.code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

// The test's environment without OVERSEER_*, plus `extra`.
std::vector<std::string> ChildEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("OVERSEER_", 0) != 0) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Spawns `args` (argv[0] is the binary) with stdout/stderr to files (or stderr to `stderr_fd`).
pid_t Spawn(std::vector<std::string> args, const std::vector<std::string>& extra_env,
            const fs::path& out, const fs::path& err, int stderr_fd = -1) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (stderr_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, stderr_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  std::vector<std::string> env = ChildEnv(extra_env);
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Waits for `pid` until `deadline`; its exit code, or -1 (killed) on timeout.
int WaitExit(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

class ClientBinaryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/overseer-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new fs::path(tmpl);
    {
      std::ofstream secret(*dir_ / "secret");
      secret << "cli-test-secret-that-is-at-least-32-bytes-long-0123456789";
    }
    const std::string secret_env = "OVERSEER_JWT_SECRET_FILE=" + (*dir_ / "secret").string();
    RunResult t =
        RunIn({"token", "create", "--sub", "cli-test", "--workspace", "default", "--scopes",
               "supervisor:read,supervisor:write,jobs:read,jobs:write,resources:read,"
               "resources:write,resources:admin",
               "--ttl", "1h"},
              {secret_env});
    ASSERT_EQ(t.code, 0) << t;
    token_ = new std::string(t.out.substr(0, t.out.find('\n')));
    daemon_pid_ = Spawn({kBinary, "serve", "--listen", "127.0.0.1:0", "--state-dir",
                         (*dir_ / "data").string(), "--no-access-log"},
                        {secret_env}, *dir_ / "daemon.out", *dir_ / "daemon.err");
    ASSERT_GT(daemon_pid_, 0);
    const std::string marker = "overseer listening on ";
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      const std::string out = ReadFile(*dir_ / "daemon.out");
      const size_t at = out.find(marker);
      const size_t eol = at == std::string::npos ? at : out.find('\n', at);
      if (eol != std::string::npos) {
        url_ = new std::string(out.substr(at + marker.size(), eol - at - marker.size()));
        return;
      }
      int status = 0;
      ASSERT_EQ(waitpid(daemon_pid_, &status, WNOHANG), 0)
          << "daemon exited: " << ReadFile(*dir_ / "daemon.err");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "daemon did not print its URL: " << ReadFile(*dir_ / "daemon.err");
  }

  static void TearDownTestSuite() {
    if (daemon_pid_ > 0) {
      kill(daemon_pid_, SIGTERM);
      if (WaitExit(daemon_pid_, Clock::now() + std::chrono::seconds(30)) < 0) {
        ADD_FAILURE() << "daemon did not stop on SIGTERM";
      }
      daemon_pid_ = -1;
    }
    if (dir_ != nullptr) {
      std::error_code ec;
      fs::remove_all(*dir_, ec);
    }
    delete dir_;
    delete token_;
    delete url_;
    dir_ = nullptr;
    token_ = url_ = nullptr;
  }

  // Runs the binary with `args` and the given environment; 60 s at most.
  static RunResult RunIn(std::vector<std::string> args, const std::vector<std::string>& env) {
    static int n = 0;
    const fs::path out = *dir_ / ("run" + std::to_string(++n) + ".out");
    const fs::path err = *dir_ / ("run" + std::to_string(n) + ".err");
    args.insert(args.begin(), kBinary);
    RunResult r;
    const pid_t pid = Spawn(args, env, out, err);
    if (pid < 0) return r;
    r.code = WaitExit(pid, Clock::now() + std::chrono::seconds(60));
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  // Runs a client command against the test daemon (OVERSEER_URL / OVERSEER_TOKEN set).
  static RunResult Run(std::vector<std::string> args) {
    return RunIn(std::move(args), {"OVERSEER_URL=" + *url_, "OVERSEER_TOKEN=" + *token_});
  }

  static json::value ParseJson(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    EXPECT_FALSE(ec) << "not JSON: " << text;
    return v;
  }

  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  // Submits `cmd` without waiting; the job id.
  static std::string Submit(const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"jobs", "submit", "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    RunResult r = Run(args);
    EXPECT_EQ(r.code, 0) << r;
    return Trim(r.out);
  }

  // Submits `cmd` as a child of `parent` without waiting; the job id.
  static std::string SubmitChild(const std::string& parent, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"jobs", "submit", "--parent", parent, "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    RunResult r = Run(args);
    EXPECT_EQ(r.code, 0) << r;
    return Trim(r.out);
  }

  // The first worker of `job_id` once it has status `status` (polled, 30 s deadline).
  static std::optional<json::object> WorkerOf(const std::string& job_id,
                                              const std::string& status) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      RunResult r = Run({"workers", "ls", "--job", job_id, "--json"});
      if (r.code != 0) return std::nullopt;
      json::value v = ParseJson(r.out);
      if (v.is_object() && v.as_object().contains("workers")) {
        for (const json::value& w : v.at("workers").as_array()) {
          if (w.at("status").as_string() == status) return w.as_object();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

  static fs::path* dir_;
  static std::string* token_;
  static std::string* url_;
  static pid_t daemon_pid_;
};

fs::path* ClientBinaryTest::dir_ = nullptr;
std::string* ClientBinaryTest::token_ = nullptr;
std::string* ClientBinaryTest::url_ = nullptr;
pid_t ClientBinaryTest::daemon_pid_ = -1;

size_t CountLines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n' ? 1 : 0;
  return n;
}

TEST_F(ClientBinaryTest, SubmitTrueWaitExitsZero) {
  RunResult r = Run({"jobs", "submit", "--wait", "--", "true"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out.rfind("j_", 0), 0u) << r;
  EXPECT_NE(r.out.find(" COMPLETED"), std::string::npos) << r;
  EXPECT_EQ(r.err, "") << r;
}

TEST_F(ClientBinaryTest, SubmitFalseWaitExitsOne) {
  RunResult r = Run({"jobs", "submit", "--wait", "--", "false"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_NE(r.out.find(" FAILED"), std::string::npos) << r;
}

TEST_F(ClientBinaryTest, SubmitJsonWaitPrintsTheFinalJob) {
  RunResult r = Run({"jobs", "submit", "--json", "--wait", "--name", "json-wait", "--", "true"});
  ASSERT_EQ(r.code, 0) << r;
  json::value v = ParseJson(r.out);
  ASSERT_TRUE(v.is_object()) << r;
  EXPECT_EQ(v.at("status").as_string(), "COMPLETED");
  EXPECT_EQ(v.at("name").as_string(), "json-wait");
}

TEST_F(ClientBinaryTest, LsShowsTheJobInAlignedColumns) {
  const std::string id = Submit({"true"});
  RunResult r = Run({"jobs", "ls"});
  ASSERT_EQ(r.code, 0) << r;
  std::istringstream in(r.out);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("ID", 0), 0u) << r;
  const size_t name_col = header.find("NAME");
  const size_t status_col = header.find("STATUS");
  for (const char* col : {"NAME", "STATUS", "DEPTH", "WORKERS", "AGE"}) {
    EXPECT_NE(header.find(col), std::string::npos) << col << "\n" << r;
  }
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(id, 0) != 0) continue;
    found = true;
    EXPECT_EQ(line.substr(name_col, 4), "true") << line << "\n" << header;
    EXPECT_NE(line[status_col], ' ') << line << "\n" << header;
  }
  EXPECT_TRUE(found) << id << "\n" << r;
}

TEST_F(ClientBinaryTest, JsonOutputsParse) {
  const std::string id = Submit({"true"});
  RunResult ls = Run({"jobs", "ls", "--json"});
  ASSERT_EQ(ls.code, 0) << ls;
  json::value v = ParseJson(ls.out);
  ASSERT_TRUE(v.is_object()) << ls;
  bool found = false;
  for (const json::value& j : v.at("jobs").as_array()) found |= j.at("id").as_string() == id;
  EXPECT_TRUE(found) << ls;
  EXPECT_TRUE(v.as_object().contains("next_cursor"));

  RunResult show = Run({"jobs", "show", id, "--json"});
  ASSERT_EQ(show.code, 0) << show;
  json::value job = ParseJson(show.out);
  ASSERT_TRUE(job.is_object()) << show;
  EXPECT_EQ(job.at("id").as_string(), id);
  EXPECT_TRUE(job.at("workers").is_array());

  RunResult workers = Run({"workers", "ls", "--job", id, "--json"});
  ASSERT_EQ(workers.code, 0) << workers;
  json::value w = ParseJson(workers.out);
  ASSERT_TRUE(w.is_object()) << workers;
  ASSERT_EQ(w.at("workers").as_array().size(), 1u) << workers;
  EXPECT_EQ(w.at("workers").as_array()[0].at("job_id").as_string(), id);
}

TEST_F(ClientBinaryTest, LsAllFollowsTheCursor) {
  for (int i = 0; i < 3; ++i) Submit({"true"});
  RunResult one = Run({"jobs", "ls", "--limit", "1"});
  ASSERT_EQ(one.code, 0) << one;
  EXPECT_EQ(CountLines(one.out), 2u) << one;  // header + 1 row
  EXPECT_NE(one.err.find("--all"), std::string::npos) << one;

  RunResult all = Run({"jobs", "ls", "--limit", "1", "--all", "--json"});
  ASSERT_EQ(all.code, 0) << all;
  json::value v = ParseJson(all.out);
  ASSERT_TRUE(v.is_object()) << all;
  EXPECT_GE(v.at("jobs").as_array().size(), 3u) << all;
  EXPECT_TRUE(v.at("next_cursor").is_null());
  RunResult table = Run({"jobs", "ls", "--limit", "1", "--all"});
  ASSERT_EQ(table.code, 0) << table;
  EXPECT_EQ(CountLines(table.out), v.at("jobs").as_array().size() + 1) << table;
}

TEST_F(ClientBinaryTest, ShowJobListsItsWorkers) {
  RunResult sub =
      Run({"jobs", "submit", "--wait", "--workers", "2", "--name", "two", "--", "true"});
  ASSERT_EQ(sub.code, 0) << sub;
  const std::string id = sub.out.substr(0, sub.out.find('\n'));
  RunResult r = Run({"jobs", "show", id});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_NE(r.out.find("Status:       COMPLETED"), std::string::npos) << r;
  EXPECT_NE(r.out.find("Command:      true"), std::string::npos) << r;
  EXPECT_NE(r.out.find("ID  "), std::string::npos) << r;
  size_t worker_rows = 0;
  for (size_t at = r.out.find("\nw_"); at != std::string::npos; at = r.out.find("\nw_", at + 1)) {
    ++worker_rows;
  }
  EXPECT_EQ(worker_rows, 2u) << r;
}

TEST_F(ClientBinaryTest, PauseResumeTerminateASleepingWorker) {
  const std::string id = Submit({"sleep", "60"});
  std::optional<json::object> w = WorkerOf(id, "RUNNING");
  ASSERT_TRUE(w) << "no RUNNING worker for " << id;
  const std::string wid(w->at("id").as_string());

  RunResult pause = Run({"workers", "pause", wid});
  EXPECT_EQ(pause.code, 0) << pause;
  EXPECT_EQ(pause.out, wid + " PAUSED\n") << pause;
  RunResult show = Run({"workers", "show", wid, "--json"});
  ASSERT_EQ(show.code, 0) << show;
  EXPECT_EQ(ParseJson(show.out).at("status").as_string(), "PAUSED") << show;

  RunResult again = Run({"workers", "pause", wid});
  EXPECT_EQ(again.code, 1) << again;
  EXPECT_EQ(again.err.rfind("overseer: INVALID_STATE_TRANSITION: ", 0), 0u) << again;
  EXPECT_EQ(CountLines(again.err), 1u) << again;

  RunResult resume = Run({"workers", "resume", wid});
  EXPECT_EQ(resume.code, 0) << resume;
  EXPECT_EQ(resume.out, wid + " RUNNING\n") << resume;

  RunResult human = Run({"workers", "show", wid});
  ASSERT_EQ(human.code, 0) << human;
  EXPECT_NE(human.out.find("Status:       RUNNING"), std::string::npos) << human;
  EXPECT_NE(human.out.find("Transitions:"), std::string::npos) << human;
  EXPECT_NE(human.out.find("PAUSED"), std::string::npos) << human;

  RunResult term = Run({"workers", "terminate", wid, "--grace", "1"});
  EXPECT_EQ(term.code, 0) << term;
  EXPECT_EQ(term.out.rfind(wid + " TERMINATED", 0), 0u) << term;

  RunResult wait = Run({"jobs", "wait", id, "--timeout", "30"});
  EXPECT_EQ(wait.code, 1) << wait;  // a terminated worker fails its job
  EXPECT_NE(wait.out.find(" FAILED"), std::string::npos) << wait;
}

TEST_F(ClientBinaryTest, TerminateNoWaitAnswersAtOnce) {
  const std::string id = Submit({"sleep", "60"});
  std::optional<json::object> w = WorkerOf(id, "RUNNING");
  ASSERT_TRUE(w);
  const std::string wid(w->at("id").as_string());
  RunResult term = Run({"workers", "terminate", wid, "--no-wait", "--grace", "0", "--json"});
  EXPECT_EQ(term.code, 0) << term;
  EXPECT_EQ(ParseJson(term.out).at("id").as_string(), wid) << term;
  EXPECT_TRUE(WorkerOf(id, "TERMINATED")) << "worker never TERMINATED";
}

TEST_F(ClientBinaryTest, LogsPrintTheWorkersOutput) {
  RunResult sub = Run({"jobs", "submit", "--wait", "--env", "GREETING=hello-from-worker", "--cwd",
                       "/tmp", "--", "sh", "-c", "echo $GREETING; pwd; echo second-line >&2"});
  ASSERT_EQ(sub.code, 0) << sub;
  const std::string id = sub.out.substr(0, sub.out.find('\n'));
  std::optional<json::object> w = WorkerOf(id, "COMPLETED");
  ASSERT_TRUE(w);
  RunResult logs = Run({"workers", "logs", std::string(w->at("id").as_string())});
  ASSERT_EQ(logs.code, 0) << logs;
  EXPECT_NE(logs.out.find("hello-from-worker\n"), std::string::npos) << logs;
  EXPECT_NE(logs.out.find("/tmp\n"), std::string::npos) << logs;
  EXPECT_NE(logs.out.find("second-line\n"), std::string::npos) << logs;
  RunResult tail = Run({"workers", "logs", std::string(w->at("id").as_string()), "--tail", "1"});
  ASSERT_EQ(tail.code, 0) << tail;
  EXPECT_EQ(tail.out.find("hello-from-worker"), std::string::npos) << tail;
  EXPECT_EQ(CountLines(tail.out), 1u) << tail;
}

TEST_F(ClientBinaryTest, TranscriptPrintsACommandsLinesAsText) {
  RunResult sub = Run({"jobs", "submit", "--wait", "--", "sh", "-c",
                       "echo first; printf 'two\\033[31m\\n'; echo last"});
  ASSERT_EQ(sub.code, 0) << sub;
  const std::string id = sub.out.substr(0, sub.out.find('\n'));
  std::optional<json::object> w = WorkerOf(id, "COMPLETED");
  ASSERT_TRUE(w);
  const std::string wid(w->at("id").as_string());
  RunResult t = Run({"workers", "transcript", wid});
  ASSERT_EQ(t.code, 0) << t;
  // The escape sequence the worker printed does not reach the terminal.
  EXPECT_EQ(t.out, "first\ntwo?[31m\nlast\n") << t;
  RunResult tail = Run({"workers", "transcript", wid, "--tail", "1", "--json"});
  ASSERT_EQ(tail.code, 0) << tail;
  EXPECT_EQ(ParseJson(tail.out), json::parse(R"({"entries":[{"kind":"text","text":"last"}]})"))
      << tail;
  RunResult bad = Run({"workers", "transcript", wid, "--tail", "0"});
  EXPECT_EQ(bad.code, 2) << bad;
}

TEST_F(ClientBinaryTest, BadTokenPrintsUnauthenticatedOnOneLine) {
  RunResult r = RunIn({"jobs", "ls"}, {"OVERSEER_URL=" + *url_, "OVERSEER_TOKEN=not-a-jwt"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(r.err.rfind("overseer: UNAUTHENTICATED: ", 0), 0u) << r;
  EXPECT_EQ(CountLines(r.err), 1u) << r;
  EXPECT_EQ(r.out, "") << r;
}

TEST_F(ClientBinaryTest, FlagsOverrideTheEnvironment) {
  RunResult r = RunIn({"jobs", "ls", "--url", *url_, "--token", *token_},
                      {"OVERSEER_URL=http://127.0.0.1:1", "OVERSEER_TOKEN=bogus"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out.rfind("ID", 0), 0u) << r;
}

TEST_F(ClientBinaryTest, UnreachableDaemonSaysSoAndExitsOne) {
  // A port nobody listens on: bind one, note it, close it.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  const std::string dead = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  RunResult r = RunIn({"workers", "ls"}, {"OVERSEER_URL=" + dead, "OVERSEER_TOKEN=" + *token_});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(CountLines(r.err), 1u) << r;
  EXPECT_EQ(r.err.rfind("overseer: cannot reach the daemon at " + dead, 0), 0u) << r;
  EXPECT_NE(r.err.find("OVERSEER_URL"), std::string::npos) << r;
}

TEST_F(ClientBinaryTest, UnknownJobIsOneErrorLine) {
  RunResult r = Run({"jobs", "show", "j_doesnotexist0000"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(r.err.rfind("overseer: ", 0), 0u) << r;
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r;
  EXPECT_EQ(CountLines(r.err), 1u) << r;
}

TEST_F(ClientBinaryTest, UsageErrorsExitTwo) {
  RunResult no_cmd = Run({"jobs", "submit"});
  EXPECT_EQ(no_cmd.code, 2) << no_cmd;
  EXPECT_EQ(no_cmd.err.rfind("overseer: ", 0), 0u) << no_cmd;
  RunResult bad_env = Run({"jobs", "submit", "--env", "NOEQUALS", "--", "true"});
  EXPECT_EQ(bad_env.code, 2) << bad_env;
  EXPECT_NE(bad_env.err.find("KEY=VALUE"), std::string::npos) << bad_env;
  RunResult bad_meta = Run({"jobs", "submit", "--metadata", "[1]", "--", "true"});
  EXPECT_EQ(bad_meta.code, 2) << bad_meta;
  RunResult unknown = Run({"workers", "frobnicate"});
  EXPECT_EQ(unknown.code, 2) << unknown;
  RunResult help = Run({"jobs", "submit", "--help"});
  EXPECT_EQ(help.code, 0) << help;
  EXPECT_NE(help.out.find("--idempotency-key"), std::string::npos) << help;
}

TEST_F(ClientBinaryTest, WaitPipedShowsNoStatusLine) {
  const std::string id = Submit({"sleep", "1"});
  RunResult r = Run({"jobs", "wait", id, "--timeout", "30"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, id + " COMPLETED\n") << r;
  EXPECT_EQ(r.err, "") << r;
}

TEST_F(ClientBinaryTest, WaitTimesOutWithExitThree) {
  const std::string id = Submit({"sleep", "60"});
  const auto start = Clock::now();
  RunResult r = Run({"jobs", "wait", id, "--timeout", "0.5"});
  EXPECT_EQ(r.code, 3) << r;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(20));
  EXPECT_NE(r.err.find("TIMEOUT"), std::string::npos) << r;
  std::optional<json::object> w = WorkerOf(id, "RUNNING");
  ASSERT_TRUE(w);
  EXPECT_EQ(
      Run({"workers", "terminate", std::string(w->at("id").as_string()), "--grace", "0"}).code, 0);
}

TEST_F(ClientBinaryTest, WaitOnATerminalShowsALiveStatusLine) {
  // Long enough to be RUNNING when the client's first answer comes, also on a loaded machine
  // (an ASan client takes over a second to start when the cores are busy).
  const std::string id = Submit({"sleep", "3"});
  int master = -1;
  int slave = -1;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  const fs::path out = *dir_ / "tty.out";
  const pid_t pid = Spawn({kBinary, "jobs", "wait", id, "--timeout", "30"},
                          {"OVERSEER_URL=" + *url_, "OVERSEER_TOKEN=" + *token_}, out, "", slave);
  close(slave);
  ASSERT_GT(pid, 0);
  std::string tty;
  char buf[4096];
  for (;;) {  // until the child closes its end (EIO)
    const ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;
    tty.append(buf, static_cast<size_t>(n));
  }
  close(master);
  EXPECT_EQ(WaitExit(pid, Clock::now() + std::chrono::seconds(30)), 0) << tty;
  EXPECT_NE(tty.find("\r"), std::string::npos) << tty;
  EXPECT_NE(tty.find(id + " RUNNING  workers: 1 running, 0 completed, 0 failed  elapsed "),
            std::string::npos)
      << tty;
  EXPECT_EQ(ReadFile(out), id + " COMPLETED\n");
}

TEST_F(ClientBinaryTest, TreeNestsChildAndGrandchild) {
  const std::string root = Submit({"sleep", "60"});
  const std::string child = SubmitChild(root, {"sleep", "60"});
  const std::string grand = SubmitChild(child, {"sleep", "60"});

  RunResult human = Run({"jobs", "tree", root});
  ASSERT_EQ(human.code, 0) << human;
  EXPECT_EQ(human.err, "") << human;
  std::istringstream in(human.out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << human;
  EXPECT_EQ(lines[0].rfind(root + "  ", 0), 0u) << human;
  EXPECT_EQ(lines[1].rfind("└─ " + child + "  ", 0), 0u) << human;
  EXPECT_EQ(lines[2].rfind("   └─ " + grand + "  ", 0), 0u) << human;
  for (const std::string& line : lines) {
    EXPECT_EQ(line.substr(line.size() - 7), "  sleep") << human;  // the name, last
  }

  RunResult js = Run({"jobs", "tree", root, "--json"});
  ASSERT_EQ(js.code, 0) << js;
  json::value v = ParseJson(js.out);
  ASSERT_TRUE(v.is_object()) << js;
  EXPECT_EQ(v.at("id").as_string(), root);
  EXPECT_FALSE(v.at("truncated").as_bool());
  const json::array& kids = v.at("children").as_array();
  ASSERT_EQ(kids.size(), 1u) << js;
  EXPECT_EQ(kids[0].at("id").as_string(), child);
  EXPECT_EQ(kids[0].at("parent_job_id").as_string(), root);
  const json::array& grandkids = kids[0].at("children").as_array();
  ASSERT_EQ(grandkids.size(), 1u) << js;
  EXPECT_EQ(grandkids[0].at("id").as_string(), grand);
  EXPECT_EQ(grandkids[0].at("depth").as_int64(), 2);
  EXPECT_TRUE(grandkids[0].at("children").as_array().empty());

  EXPECT_EQ(Run({"jobs", "cancel", root, "--grace", "0"}).code, 0);
}

TEST_F(ClientBinaryTest, TreeOfAnUnknownJobIsOneErrorLine) {
  RunResult r = Run({"jobs", "tree", "j_doesnotexist0000"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(r.err.rfind("overseer: NOT_FOUND: ", 0), 0u) << r;
  EXPECT_EQ(CountLines(r.err), 1u) << r;
  EXPECT_EQ(r.out, "") << r;
}

TEST_F(ClientBinaryTest, CancelEndsTheJobAndItsChild) {
  const std::string root = Submit({"sleep", "60"});
  const std::string child = SubmitChild(root, {"sleep", "60"});
  std::optional<json::object> w = WorkerOf(child, "RUNNING");
  ASSERT_TRUE(w) << "no RUNNING worker for " << child;

  RunResult cancel = Run({"jobs", "cancel", root, "--grace", "1"});
  EXPECT_EQ(cancel.code, 0) << cancel;
  EXPECT_EQ(cancel.out, root + " CANCELED (CANCEL_REQUESTED)\n") << cancel;
  EXPECT_EQ(cancel.err, "") << cancel;

  // 200 means every process is gone: the child is canceled and its worker terminated.
  RunResult show = Run({"jobs", "show", child, "--json"});
  ASSERT_EQ(show.code, 0) << show;
  json::value v = ParseJson(show.out);
  EXPECT_EQ(v.at("status").as_string(), "CANCELED") << show;
  EXPECT_EQ(v.at("status_reason").as_string(), "PARENT_CANCELED") << show;
  for (const json::value& wk : v.at("workers").as_array()) {
    EXPECT_EQ(wk.at("status").as_string(), "TERMINATED") << show;
  }

  RunResult again = Run({"jobs", "cancel", root});
  EXPECT_EQ(again.code, 1) << again;
  EXPECT_EQ(again.err.rfind("overseer: INVALID_STATE_TRANSITION: ", 0), 0u) << again;
  EXPECT_EQ(CountLines(again.err), 1u) << again;
  EXPECT_EQ(again.out, "") << again;

  RunResult wait = Run({"jobs", "wait", root, "--timeout", "30"});
  EXPECT_EQ(wait.code, 1) << wait;  // canceled
  EXPECT_EQ(wait.out, root + " CANCELED (CANCEL_REQUESTED)\n") << wait;
}

TEST_F(ClientBinaryTest, CancelNoWaitJsonAnswersTheCanceledJob) {
  const std::string id = Submit({"sleep", "60"});
  RunResult r = Run({"jobs", "cancel", id, "--no-wait", "--grace", "0", "--json"});
  EXPECT_EQ(r.code, 0) << r;
  json::value v = ParseJson(r.out);
  ASSERT_TRUE(v.is_object()) << r;
  EXPECT_EQ(v.at("id").as_string(), id);
  EXPECT_EQ(v.at("status").as_string(), "CANCELED");
}

TEST_F(ClientBinaryTest, WaitTimeoutIsKeptAcrossLongPolls) {
  const std::string id = Submit({"sleep", "60"});
  const auto start = Clock::now();
  RunResult r = Run({"jobs", "wait", id, "--timeout", "1.5", "--json"});
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.code, 3) << r;
  EXPECT_GE(took, std::chrono::milliseconds(1400)) << r;
  EXPECT_LT(took, std::chrono::seconds(10)) << r;
  json::value v = ParseJson(r.out);  // the job as it is, with its workers
  ASSERT_TRUE(v.is_object()) << r;
  EXPECT_FALSE(v.at("status").as_string() == "COMPLETED") << r;
  EXPECT_TRUE(v.at("workers").is_array()) << r;
  EXPECT_EQ(CountLines(r.err), 1u) << r;
  EXPECT_EQ(r.err.rfind("overseer: TIMEOUT: job " + id, 0), 0u) << r;
  EXPECT_EQ(Run({"jobs", "cancel", id, "--grace", "0"}).code, 0);
}

// The cells of the table row whose first cell is `first`, split on spaces; empty if none.
std::vector<std::string> TableRow(const std::string& table, const std::string& first) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    std::istringstream cells(line);
    std::vector<std::string> row;
    for (std::string cell; cells >> cell;) row.push_back(cell);
    if (!row.empty() && row[0] == first) return row;
  }
  return {};
}

// Puts the quotas of depths 0 and 1 back to their defaults when a test that changed them ends.
struct RestoreQuotas {
  std::function<RunResult(std::vector<std::string>)> run;
  ~RestoreQuotas() {
    RunResult r = run({"quotas", "set", "0=10", "1=8"});
    EXPECT_EQ(r.code, 0) << r;
  }
};

TEST_F(ClientBinaryTest, QuotasGetShowsEveryDepth) {
  RunResult r = Run({"quotas", "get"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.err, "") << r;
  EXPECT_EQ(r.out.rfind("DEPTH  MAX_WORKERS  USED  AVAILABLE\n", 0), 0u) << r;
  EXPECT_EQ(CountLines(r.out), 7u) << r;  // header + depths 0..5
  const std::vector<std::string> zero = TableRow(r.out, "0");
  ASSERT_EQ(zero.size(), 4u) << r;
  EXPECT_EQ(zero[1], "10") << r;
  EXPECT_EQ(TableRow(r.out, "5").at(1), "1") << r;

  RunResult plain = Run({"quotas"});  // the group alone is `quotas get`
  ASSERT_EQ(plain.code, 0) << plain;
  EXPECT_EQ(TableRow(plain.out, "0").at(1), "10") << plain;

  RunResult js = Run({"quotas", "get", "--json"});
  ASSERT_EQ(js.code, 0) << js;
  json::value v = ParseJson(js.out);
  ASSERT_TRUE(v.is_object()) << js;
  EXPECT_EQ(v.at("max_depth").as_int64(), 5);
  EXPECT_EQ(v.at("quotas").as_array().at(0).at("max_workers").as_int64(), 10) << js;
}

TEST_F(ClientBinaryTest, QuotasSetChangesTheQuota) {
  RestoreQuotas restore{[](std::vector<std::string> args) { return Run(std::move(args)); }};
  RunResult set = Run({"quotas", "set", "0=2", "1=4"});
  ASSERT_EQ(set.code, 0) << set;
  EXPECT_EQ(set.err, "") << set;
  EXPECT_EQ(TableRow(set.out, "0").at(1), "2") << set;  // the quotas as they now are
  EXPECT_EQ(TableRow(set.out, "1").at(1), "4") << set;

  RunResult get = Run({"quotas", "get"});
  ASSERT_EQ(get.code, 0) << get;
  EXPECT_EQ(TableRow(get.out, "0").at(1), "2") << get;
  RunResult js = Run({"quotas", "get", "--json"});
  ASSERT_EQ(js.code, 0) << js;
  json::value v = ParseJson(js.out);
  ASSERT_TRUE(v.is_object()) << js;
  EXPECT_EQ(v.at("quotas").as_array().at(0).at("max_workers").as_int64(), 2) << js;
  EXPECT_EQ(v.at("quotas").as_array().at(1).at("max_workers").as_int64(), 4) << js;

  RunResult back = Run({"quotas", "set", "1=8", "--json"});
  ASSERT_EQ(back.code, 0) << back;
  json::value b = ParseJson(back.out);
  ASSERT_TRUE(b.is_object()) << back;
  EXPECT_EQ(b.at("quotas").as_array().at(1).at("max_workers").as_int64(), 8) << back;
  EXPECT_EQ(b.at("quotas").as_array().at(0).at("max_workers").as_int64(), 2) << back;
}

TEST_F(ClientBinaryTest, QuotasSetWithABadArgumentIsAUsageError) {
  for (const char* bad : {"0:2", "zero=2", "0=two", "0="}) {
    RunResult r = Run({"quotas", "set", "1=4", bad});
    EXPECT_EQ(r.code, 2) << bad << "\n" << r;
    EXPECT_EQ(CountLines(r.err), 1u) << r;
    EXPECT_EQ(r.err.rfind("overseer: quotas set expects DEPTH=MAX_WORKERS", 0), 0u) << r;
    EXPECT_NE(r.err.find(bad), std::string::npos) << r;
    EXPECT_EQ(r.out, "") << r;
  }
  RunResult none = Run({"quotas", "set"});
  EXPECT_EQ(none.code, 2) << none;
  EXPECT_EQ(CountLines(none.err), 1u) << none;
  RunResult unknown = Run({"quotas", "frobnicate"});
  EXPECT_EQ(unknown.code, 2) << unknown;
  // Nothing was sent: depth 1 keeps its default.
  EXPECT_EQ(TableRow(Run({"quotas", "get"}).out, "1").at(1), "8");
}

TEST_F(ClientBinaryTest, QuotasSetBeyondMaxDepthIsOneServerErrorLine) {
  RunResult r = Run({"quotas", "set", "9=1"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(r.err.rfind("overseer: INVALID_REQUEST: ", 0), 0u) << r;
  EXPECT_EQ(CountLines(r.err), 1u) << r;
  EXPECT_EQ(r.out, "") << r;
}

TEST_F(ClientBinaryTest, QuotasUsageShowsSlotsInUseWithWarnings) {
  RunResult r = Run({"quotas", "usage"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out.rfind("DEPTH  QUOTA  USED  AVAILABLE  WARN\n", 0), 0u) << r;
  const std::vector<std::string> zero = TableRow(r.out, "0");
  ASSERT_EQ(zero.size(), 5u) << r;
  EXPECT_EQ(zero[1], "10") << r;
  EXPECT_NE(r.out.find("\ntotal used: "), std::string::npos) << r;

  RunResult js = Run({"quotas", "usage", "--json"});
  ASSERT_EQ(js.code, 0) << js;
  json::value v = ParseJson(js.out);
  ASSERT_TRUE(v.is_object()) << js;
  EXPECT_TRUE(v.at("usage").is_array()) << js;
  EXPECT_TRUE(v.at("total_used").is_int64()) << js;
}

}  // namespace
