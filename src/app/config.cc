#include "app/config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace overseer::app {

namespace {
const char* Env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): main thread, at start
  return (v != nullptr && *v != '\0') ? v : nullptr;
}
}  // namespace

void ApplyEnvironment(Config& c, const std::function<bool(const char*)>& flag_given) {
  auto str = [&](const char* flag, const char* env, std::string& field) {
    if (!flag_given(flag)) {
      if (const char* v = Env(env)) field = v;
    }
  };
  str("--listen", "OVERSEER_LISTEN", c.listen);
  str("--db", "OVERSEER_DB", c.db);
  str("--state-dir", "OVERSEER_STATE_DIR", c.state_dir);
  str("--jwt-secret", "OVERSEER_JWT_SECRET", c.jwt_secret);
  str("--jwt-secret-file", "OVERSEER_JWT_SECRET_FILE", c.jwt_secret_file);
  str("--jwt-public-key", "OVERSEER_JWT_PUBLIC_KEY", c.jwt_public_key);
  str("--jwt-private-key", "OVERSEER_JWT_PRIVATE_KEY", c.jwt_private_key);
  str("--log-level", "OVERSEER_LOG_LEVEL", c.log_level);
  str("--default-quotas", "OVERSEER_DEFAULT_QUOTAS", c.default_quotas);
  str("--claude-bin", "OVERSEER_CLAUDE_BIN", c.claude_bin);
  str("--codex-bin", "OVERSEER_CODEX_BIN", c.codex_bin);
  str("--agent-env-file", "OVERSEER_AGENT_ENV_FILE", c.agent_env_file);
  str("--price-table", "OVERSEER_PRICE_TABLE", c.price_table);
  if (!flag_given("--max-depth")) {
    if (const char* v = Env("OVERSEER_MAX_DEPTH")) c.max_depth = std::atoi(v);
  }
  if (!flag_given("--no-access-log")) {
    if (const char* v = Env("OVERSEER_ACCESS_LOG")) c.access_log = std::string(v) != "0";
  }
  if (!flag_given("--no-cgroup")) {
    if (const char* v = Env("OVERSEER_CGROUP")) c.use_cgroup = std::string(v) != "0";
  }
}

bool IsAgentVariable(std::string_view kv) {
  for (std::string_view p : {"ANTHROPIC_", "OPENAI_", "CODEX_"}) {
    if (kv.substr(0, p.size()) == p) return true;
  }
  return false;
}

Result<std::vector<std::string>> ParseAgentEnvFile(std::string_view text) {
  std::vector<std::string> out;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.substr(0, 7) == "export ") line.remove_prefix(7);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0 || !IsAgentVariable(line)) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "--agent-env-file line " + std::to_string(line_no) +
                           ": expected KEY=VALUE with a key starting ANTHROPIC_, OPENAI_ or "
                           "CODEX_");
    }
    out.emplace_back(line);
  }
  return out;
}

Result<std::vector<int>> ParseQuotaList(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  const Error bad = MakeError(ErrorCode::kInvalidRequest,
                              "--default-quotas must be 1 to 17 comma-separated integers 0..10000, "
                              "one per depth from 0 (got '" +
                                  text.substr(0, 100) + "')");
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long n = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || n < 0 || n > 10000) return bad;
    out.push_back(static_cast<int>(n));
  }
  if (out.empty() || out.size() > 17) return bad;
  return out;
}

Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= listen.size()) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "--listen must be host:port, e.g. 127.0.0.1:8080 (got '" + listen + "')");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port_text = listen.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "--listen port must be 0..65535 (got '" + port_text + "')");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

std::string DatabaseUrl(const Config& c) {
  return c.db.empty() ? c.state_dir + "/overseer.db" : c.db;
}

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kInvalidRequest, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  if (data.size() > max_bytes) {
    return MakeError(ErrorCode::kInvalidRequest, path + " is larger than expected");
  }
  return data;
}

namespace {
Result<std::string> Secret(const Config& c) {
  if (!c.jwt_secret.empty()) return c.jwt_secret;
  if (!c.jwt_secret_file.empty()) {
    Result<std::string> s = ReadSmallFile(c.jwt_secret_file, 4096);
    if (!s) return s;
    std::string v = *s;
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    return v;
  }
  return MakeError(
      ErrorCode::kInvalidRequest,
      "no JWT key configured: set OVERSEER_JWT_SECRET_FILE (or --jwt-secret-file) to a "
      "file holding a secret of at least 32 bytes, or --jwt-public-key for RS256/ES256");
}
}  // namespace

Result<std::unique_ptr<auth::JwtVerifier>> MakeVerifier(const Config& c) {
  if (!c.jwt_public_key.empty()) {
    Result<std::string> pem = ReadSmallFile(c.jwt_public_key, 64 * 1024);
    if (!pem) return pem.error();
    return auth::JwtVerifier::ForPublicKeyPem(*pem);
  }
  Result<std::string> secret = Secret(c);
  if (!secret) return secret.error();
  return auth::JwtVerifier::ForHmacSecret(*secret);
}

Result<std::unique_ptr<auth::JwtSigner>> MakeSigner(const Config& c) {
  if (!c.jwt_private_key.empty()) {
    Result<std::string> pem = ReadSmallFile(c.jwt_private_key, 64 * 1024);
    if (!pem) return pem.error();
    return auth::JwtSigner::ForPrivateKeyPem(*pem);
  }
  if (!c.jwt_public_key.empty()) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "with --jwt-public-key, minting needs --jwt-private-key (the matching PEM)");
  }
  Result<std::string> secret = Secret(c);
  if (!secret) return secret.error();
  return auth::JwtSigner::ForHmacSecret(*secret);
}

}  // namespace overseer::app
