// A fake model server of tests/fakes (node): the Anthropic Messages API that the real `claude`
// CLI talks to, or the OpenAI Responses API of `codex`, answering from a script. Started on a
// free 127.0.0.1 port for one test and stopped with it (SIGTERM; and it exits by itself when
// the test process dies: its stdin is a pipe of ours, --exit-on-eof). Its request log is a
// JSON line per request.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace overseer::it {

class FakeModel {
 public:
  enum class Kind { kAnthropic, kOpenAiResponses };
  // `script`: {"turns": [...]} as tests/fakes/README.md describes.
  FakeModel(Kind kind, const boost::json::value& script);
  ~FakeModel();
  FakeModel(const FakeModel&) = delete;
  FakeModel& operator=(const FakeModel&) = delete;

  bool running() const { return port_ > 0; }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }  // a temp dir of this fake (HOMEs go here)
  // The request log so far, one object per request.
  std::vector<boost::json::object> Requests() const;

  // The real CLIs installed by npm (package-lock.json).
  static std::string ClaudeBin();
  static std::string CodexBin();
  // The environment a claude task needs against this fake (HOME in dir(), the key, the
  // outbound-traffic switches of FIELD-NOTES).
  boost::json::object ClaudeEnv(const std::string& home_name = "home") const;
  // The same for codex: a CODEX_HOME with a config.toml whose provider is this fake.
  boost::json::object CodexEnv(const std::string& home_name = "home") const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
  std::string dir_;
  std::string log_;
};

}  // namespace overseer::it
