#include "integration/fake_model.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace overseer::it {
namespace json = boost::json;

namespace {

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "overseer-fake-XXXXXX").string();
  char* d = ::mkdtemp(tmpl.data());
  return d == nullptr ? std::string() : std::string(d);
}

// Reads the child's stdout until "PORT=<n>\n" (10 s at most).
int ReadPort(int fd) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return 0;
    got.append(buf, static_cast<size_t>(n));
    const size_t at = got.find("PORT=");
    const size_t nl = got.find('\n', at);
    if (at != std::string::npos && nl != std::string::npos) {
      return std::atoi(got.substr(at + 5, nl - at - 5).c_str());
    }
  }
  return 0;
}

}  // namespace

std::string FakeModel::ClaudeBin() { return std::string(OVERSEER_SOURCE_DIR) + "/node_modules/.bin/claude"; }
std::string FakeModel::CodexBin() { return std::string(OVERSEER_SOURCE_DIR) + "/node_modules/.bin/codex"; }

FakeModel::FakeModel(Kind kind, const json::value& script) {
  dir_ = MakeTempDir();
  if (dir_.empty()) return;
  const std::string script_path = dir_ + "/script.json";
  std::ofstream(script_path) << json::serialize(script);
  log_ = dir_ + "/requests.jsonl";
  const std::string server = std::string(OVERSEER_SOURCE_DIR) + "/tests/fakes/" +
                             (kind == Kind::kAnthropic ? "fake_anthropic.js"
                                                       : "fake_openai_responses.js");
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  std::vector<std::string> args = {"node", server, script_path, "--port", "0", "--log", log_,
                                   "--exit-on-eof"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = ::posix_spawnp(&pid_, "node", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  stdin_fd_ = in_pipe[1];
  if (rc != 0) {
    pid_ = -1;
    ::close(out_pipe[0]);
    return;
  }
  port_ = ReadPort(out_pipe[0]);
  ::close(out_pipe[0]);  // its later output (none) would get EPIPE: it writes nothing else
}

FakeModel::~FakeModel() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  if (!dir_.empty() && std::getenv("KEEP_FAKE_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::vector<json::object> FakeModel::Requests() const {
  std::vector<json::object> out;
  std::ifstream in(log_);
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (!ec && v.is_object()) out.push_back(v.as_object());
  }
  return out;
}

json::object FakeModel::ClaudeEnv(const std::string& home_name) const {
  const std::string home = dir_ + "/" + home_name;
  std::filesystem::create_directories(home);
  return json::object{{"HOME", home},
                      {"ANTHROPIC_BASE_URL", base_url()},
                      {"ANTHROPIC_API_KEY", "sk-ant-fake-key"},
                      {"DISABLE_AUTOUPDATER", "1"},
                      {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"},
                      {"DISABLE_TELEMETRY", "1"},
                      {"CLAUDE_CODE_MAX_RETRIES", "1"}};
}

json::object FakeModel::CodexEnv(const std::string& home_name) const {
  const std::string home = dir_ + "/" + home_name;
  const std::string codex_home = home + "/.codex";
  std::filesystem::create_directories(codex_home);
  std::ofstream(codex_home + "/config.toml")
      << "model_provider = \"fake\"\n"
         "check_for_update_on_startup = false\n"
         "[analytics]\nenabled = false\n"
         "[model_providers.fake]\n"
         "name = \"fake\"\n"
         "base_url = \"" + base_url() + "/v1\"\n"
         "env_key = \"OPENAI_API_KEY\"\n"
         "wire_api = \"responses\"\n"
         "supports_websockets = false\n"
         "request_max_retries = 0\n"
         "stream_max_retries = 0\n";
  return json::object{{"HOME", home}, {"OPENAI_API_KEY", "sk-fake-key"}};
}

}  // namespace overseer::it
