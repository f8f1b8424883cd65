// Daemon configuration (SPEC §9): flags, else OVERSEER_* environment variables, else
// defaults. Main thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.h"
#include "common/result.h"

namespace overseer::app {

struct Config {
  std::string listen = "127.0.0.1:8080";  // --listen / OVERSEER_LISTEN
  std::string db;                         // --db / OVERSEER_DB; "" = sqlite in state dir
  std::string state_dir = "./data";       // --state-dir / OVERSEER_STATE_DIR
  std::string jwt_secret;                 // --jwt-secret / OVERSEER_JWT_SECRET
  std::string jwt_secret_file;            // --jwt-secret-file / OVERSEER_JWT_SECRET_FILE
  std::string jwt_public_key;             // --jwt-public-key / OVERSEER_JWT_PUBLIC_KEY (PEM file)
  std::string jwt_private_key;            // --jwt-private-key / OVERSEER_JWT_PRIVATE_KEY (PEM file)
  int max_depth = 5;                      // --max-depth / OVERSEER_MAX_DEPTH
  // --default-quotas / OVERSEER_DEFAULT_QUOTAS: worker slots per depth, "10,8,5,3,2,1".
  std::string default_quotas = "10,8,5,3,2,1";
  std::string log_level = "info";           // --log-level / OVERSEER_LOG_LEVEL
  bool access_log = true;                   // --no-access-log / OVERSEER_ACCESS_LOG=0
  int64_t worker_log_max_bytes = 10 << 20;  // --worker-log-max-bytes
  bool use_cgroup = true;                   // --no-cgroup / OVERSEER_CGROUP=0
  int shutdown_grace_seconds = 10;          // --shutdown-grace
  // Agent runtimes (SPEC §11).
  std::string claude_bin = "claude";     // --claude-bin / OVERSEER_CLAUDE_BIN
  std::string codex_bin = "codex";       // --codex-bin / OVERSEER_CODEX_BIN
  std::vector<std::string> claude_args;  // --claude-arg (repeated)
  std::vector<std::string> codex_args;   // --codex-arg (repeated)
  std::string agent_env_file;            // --agent-env-file / OVERSEER_AGENT_ENV_FILE
  std::string price_table;               // --price-table / OVERSEER_PRICE_TABLE
};

// The agent credentials prefixes (SPEC §11): these variables of the daemon's environment
// reach only the workers of their runtime.
bool IsAgentVariable(std::string_view kv);
// KEY=VALUE lines of an --agent-env-file (blank lines and # comments skipped); only agent
// variables are accepted. kInvalidRequest naming the line.
Result<std::vector<std::string>> ParseAgentEnvFile(std::string_view text);

// Fills unset fields of `c` from the environment (flags win: call after parsing flags,
// passing which flags were given).
void ApplyEnvironment(Config& c, const std::function<bool(const char*)>& flag_given);

// "host:port" -> parts; kInvalidRequest if malformed.
// "10,8,5" -> {10, 8, 5}: 1 to 17 integers 0..10000.
Result<std::vector<int>> ParseQuotaList(const std::string& text);

Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen);

// The database URL to open (app/open_store.h): `db`, or <state_dir>/overseer.db if unset.
std::string DatabaseUrl(const Config& c);

// The verifier for the configured key: a public key fixes RS256/ES256, else the HMAC
// secret (from --jwt-secret or the file) HS256. kInvalidRequest with what to do.
Result<std::unique_ptr<auth::JwtVerifier>> MakeVerifier(const Config& c);
// The signer: private key PEM if given, else the HMAC secret; kInvalidRequest if neither.
Result<std::unique_ptr<auth::JwtSigner>> MakeSigner(const Config& c);

// Reads a whole small file; kInvalidRequest naming it if unreadable.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace overseer::app
