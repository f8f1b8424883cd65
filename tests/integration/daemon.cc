#include "integration/daemon.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "auth/jwt.h"
#include "common/base64url.h"
#include "common/ids.h"
#include "integration/it_db.h"

extern char** environ;

namespace overseer::it {
namespace json = boost::json;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  closedir(d);
  return out;
}

bool EnvironHas(pid_t pid, const std::string& entry) {
  const std::string env = ReadFile("/proc/" + std::to_string(pid) + "/environ");
  size_t pos = 0;
  while (pos < env.size()) {
    size_t end = env.find('\0', pos);
    if (end == std::string::npos) end = env.size();
    if (env.compare(pos, end - pos, entry) == 0) return true;
    pos = end + 1;
  }
  return false;
}

std::string SignWith(const std::string& secret, const auth::Claims& claims) {
  auto signer = auth::JwtSigner::ForHmacSecret(secret);
  if (!signer) return "signer-error:" + signer.error().message;
  auto token = (*signer)->Sign(claims);
  if (!token) return "sign-error:" + token.error().message;
  return *token;
}

auth::Claims BaseClaims(const std::string& workspace) {
  auth::Claims c;
  c.subject = "tester";
  c.workspace_id = workspace;
  c.scopes = AllScopes();
  c.issued_at = NowMs();
  c.expires_at = c.issued_at + 3600 * 1000;
  return c;
}

}  // namespace

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(20ms);
  }
}

std::vector<std::string> AllScopes() {
  return {"supervisor:read", "supervisor:write", "jobs:read",      "jobs:write",
          "resources:read",  "resources:write",  "resources:admin"};
}

char ProcState(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return '\0';
  return stat[paren + 2];
}

pid_t ProcParent(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 4 >= stat.size()) return -1;
  return static_cast<pid_t>(std::strtol(stat.c_str() + paren + 4, nullptr, 10));
}

std::string ProcCmdline(pid_t pid) {
  std::string s = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  while (!s.empty() && s.back() == '\0') s.pop_back();
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

bool ProcAlive(pid_t pid) {
  const char s = ProcState(pid);
  return s != '\0' && s != 'Z' && s != 'X';
}

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/overseer-it-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  root_ = dir != nullptr ? dir : "/tmp/overseer-it-failed";
  state_dir_ = root_ + "/data";
  secret_ = RandomHex(24);  // 48 characters
  secret_file_ = root_ + "/jwt-secret";
  stderr_path_ = root_ + "/daemon-stderr.log";
  mark_ = "IT_DAEMON_MARK=" + RandomHex(8);
  std::ofstream(secret_file_) << secret_ << "\n";
  ::chmod(secret_file_.c_str(), 0600);
  if (!options_.db_url.empty()) {
    db_ = options_.db_url;
  } else if (OnPostgres()) {
    Result<std::string> url = CreateTestDatabase();
    if (url) {
      db_ = *url;
      owns_pg_db_ = true;
    } else {
      db_error_ = "cannot create the test database: " + url.error().message;
    }
  } else {
    db_ = state_dir_ + "/overseer.db";
  }
}

Daemon::~Daemon() {
  if (pid_ > 0) Kill9();
  KillAllMarked();
  if (std::getenv("OVERSEER_IT_KEEP") == nullptr) {  // NOLINT(concurrency-mt-unsafe)
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    if (owns_pg_db_) DropTestDatabase(db_);
  }
}

::testing::AssertionResult Daemon::Start() {
  if (pid_ > 0) return ::testing::AssertionFailure() << "daemon already running";
  if (!db_error_.empty()) return ::testing::AssertionFailure() << db_error_;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return ::testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
  }
  const char* binary = std::getenv("OVERSEER_IT_BINARY");  // NOLINT(concurrency-mt-unsafe)
  std::vector<std::string> args = {binary != nullptr && *binary != '\0' ? binary : OVERSEER_BINARY,
                                   "serve",
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--state-dir",
                                   state_dir_};
  if (owns_pg_db_ || !options_.db_url.empty()) args.insert(args.end(), {"--db", db_});
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    if (kv.rfind("OVERSEER_", 0) == 0 || kv.rfind("IT_DAEMON_MARK=", 0) == 0) continue;
    env.emplace_back(kv);
  }
  for (const std::string& kv : options_.extra_env) {
    const std::string name = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.rfind(name, 0) == 0; });
    env.push_back(kv);
  }
  env.push_back("OVERSEER_JWT_SECRET_FILE=" + secret_file_);
  env.push_back(mark_);
  std::vector<char*> argv_c;
  for (auto& a : args) argv_c.push_back(a.data());
  argv_c.push_back(nullptr);
  std::vector<char*> env_c;
  for (auto& e : env) env_c.push_back(e.data());
  env_c.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv_c.data(), env_c.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (err != 0) {
    ::close(out[0]);
    return ::testing::AssertionFailure() << "posix_spawn " << args[0] << ": " << std::strerror(err);
  }
  pid_ = pid;

  const std::string prefix = "overseer listening on ";
  std::string buf;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool eof = false;
  while (std::chrono::steady_clock::now() < deadline) {
    const size_t nl = buf.find('\n');
    if (nl != std::string::npos) {
      const std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.rfind(prefix, 0) == 0) {
        url_ = line.substr(prefix.size());
        ::close(out[0]);
        return ::testing::AssertionSuccess();
      }
      continue;
    }
    int status = 0;
    if (eof || ::waitpid(pid_, &status, WNOHANG) == pid_) {
      if (eof) ::waitpid(pid_, &status, 0);
      pid_ = -1;
      ::close(out[0]);
      return ::testing::AssertionFailure()
             << "the daemon exited before listening (status " << status << "); stderr:\n"
             << StderrTail();
    }
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char chunk[512];
      const ssize_t n = ::read(out[0], chunk, sizeof chunk);
      if (n > 0) {
        buf.append(chunk, static_cast<size_t>(n));
      } else if (n == 0) {
        eof = true;
      }
    }
  }
  ::close(out[0]);
  Kill9();
  return ::testing::AssertionFailure() << "no 'overseer listening on' line within 30 s; stderr:\n"
                                       << StderrTail();
}

int Daemon::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  const bool exited = WaitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 30s);
  if (!exited) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return status;
}

void Daemon::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Daemon::Stderr() const { return ReadFile(stderr_path_); }

std::string Daemon::StderrTail(size_t lines) const {
  const std::string all = Stderr();
  std::string head;
  if (const size_t report =
          all.find("=================================================================\n==");
      report != std::string::npos) {
    size_t end = report;
    for (int i = 0; i < 12 && end != std::string::npos; ++i) end = all.find('\n', end + 1);
    head = "[sanitizer report]\n" +
           all.substr(report, end == std::string::npos ? end : end - report) + "\n[...]\n";
  }
  size_t pos = all.size();
  size_t seen = 0;
  while (pos > 0) {
    const size_t nl = all.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    if (++seen > lines) {
      pos = nl + 1;
      break;
    }
    pos = nl;
  }
  return head + all.substr(pos);
}

std::string Daemon::Token(const TokenSpec& spec) const {
  auth::Claims c;
  c.subject = spec.sub;
  c.workspace_id = spec.workspace;
  c.scopes = spec.scopes;
  c.job_id = spec.job_id;
  c.issued_at = NowMs();
  c.expires_at = c.issued_at + spec.ttl.count() * 1000;
  if (spec.nbf.count() != 0) c.not_before = c.issued_at + spec.nbf.count() * 1000;
  return SignWith(secret_, c);
}

std::string Daemon::Token(const std::string& workspace) const {
  TokenSpec s;
  s.workspace = workspace;
  return Token(s);
}

std::string Daemon::ExpiredToken(const std::string& workspace) const {
  auth::Claims c = BaseClaims(workspace);
  c.issued_at -= 2 * 3600 * 1000;
  c.expires_at = NowMs() - 10 * 60 * 1000;  // well past the 30 s leeway
  return SignWith(secret_, c);
}

std::string Daemon::NotYetValidToken(const std::string& workspace) const {
  auth::Claims c = BaseClaims(workspace);
  c.not_before = NowMs() + 10 * 60 * 1000;
  return SignWith(secret_, c);
}

std::string Daemon::WronglySignedToken(const std::string& workspace) const {
  return SignWith(RandomHex(24), BaseClaims(workspace));
}

std::string Daemon::AlgNoneToken(const std::string& workspace) const {
  json::array scopes;
  for (const auto& s : AllScopes()) scopes.emplace_back(s);
  const json::object payload{{"sub", "tester"},
                             {"workspace_id", workspace},
                             {"exp", NowMs() / 1000 + 3600},
                             {"scopes", std::move(scopes)}};
  return Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
         Base64UrlEncode(json::serialize(payload)) + ".";
}

std::vector<pid_t> Daemon::WorkerTree(const std::string& worker_id) {
  std::vector<pid_t> out;
  const std::string entry = "OVERSEER_WORKER_ID=" + worker_id;
  for (pid_t pid : AllPids()) {
    if (pid == ::getpid()) continue;
    if (ProcAlive(pid) && EnvironHas(pid, entry)) out.push_back(pid);
  }
  return out;
}

std::vector<pid_t> Daemon::ZombieChildren() const {
  std::vector<pid_t> out;
  if (pid_ <= 0) return out;
  for (pid_t pid : AllPids()) {
    if (ProcParent(pid) == pid_ && ProcState(pid) == 'Z') out.push_back(pid);
  }
  return out;
}

std::vector<pid_t> Daemon::MarkedAlive() const {
  std::vector<pid_t> out;
  for (pid_t pid : AllPids()) {
    if (pid == ::getpid() || pid == pid_ || !ProcAlive(pid)) continue;
    if (EnvironHas(pid, mark_)) out.push_back(pid);
  }
  return out;
}

void Daemon::KillAllMarked() const {
  WaitFor(
      [&] {
        bool any = false;
        for (pid_t pid : AllPids()) {
          if (pid == ::getpid() || !ProcAlive(pid)) continue;
          if (EnvironHas(pid, mark_)) {
            ::kill(pid, SIGCONT);
            ::kill(pid, SIGKILL);
            any = true;
          }
        }
        return !any;
      },
      5s);
}

}  // namespace overseer::it
