// overseer: one binary. `serve` runs the daemon; `migrate` manages the schema; `token
// create` mints tokens; the client commands (workers, jobs) talk to a running daemon.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "app/config.h"
#include "app/open_store.h"
#include "app/serve.h"
#include "auth/jwt.h"
#include "cli/client_commands.h"
#include "common/time.h"

namespace {

using overseer::Result;
using overseer::Status;
using overseer::app::Config;

void AddDaemonFlags(CLI::App* cmd, Config& c) {
  cmd->add_option("--state-dir", c.state_dir,
                  "state directory (OVERSEER_STATE_DIR; default ./data)");
  cmd->add_option(
      "--db", c.db,
      "sqlite:///path/file.db or a path (OVERSEER_DB; default <state-dir>/overseer.db)");
}

void AddKeyFlags(CLI::App* cmd, Config& c) {
  cmd->add_option("--jwt-secret", c.jwt_secret, "HS256 secret, >= 32 bytes (OVERSEER_JWT_SECRET)");
  cmd->add_option("--jwt-secret-file", c.jwt_secret_file,
                  "file holding the HS256 secret (OVERSEER_JWT_SECRET_FILE)");
  cmd->add_option("--jwt-public-key", c.jwt_public_key,
                  "PEM public key: RS256 (RSA) or ES256 (P-256) (OVERSEER_JWT_PUBLIC_KEY)");
  cmd->add_option("--jwt-private-key", c.jwt_private_key,
                  "PEM private key for minting RS256/ES256 tokens (OVERSEER_JWT_PRIVATE_KEY)");
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "overseer: %s\n", message.c_str());
  return 1;
}

// `migrate`: its log (steps applied, waits for another migrator) goes to stderr, so stdout
// holds the listing alone. Failures name the database (password masked); exit 2 for a bad
// --db or --steps (kInvalidRequest), else 1.
int Migrate(const Config& c, const std::string& action, int steps) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("overseer"));
  const std::string url = overseer::app::DatabaseUrl(c);
  const std::string shown = overseer::app::DisplayUrl(url);
  const auto fail = [&](const std::string& what, const overseer::Error& e) {
    Fail(what + " " + shown + ": " + e.message);
    return e.code == overseer::ErrorCode::kInvalidRequest ? 2 : 1;
  };
  auto store = overseer::app::OpenStore(url);
  if (!store) return fail("cannot open", store.error());
  if (action == "up") {
    Status s = (*store)->MigrateUp();
    if (!s) return fail("migrate up on", s.error());
  } else if (action == "down") {
    Status s = (*store)->MigrateDown(steps);
    if (!s) return fail("migrate down on", s.error());
  }
  auto list = (*store)->Migrations();
  if (!list) return fail("cannot read the migrations of", list.error());
  for (const auto& m : *list) {
    std::printf(
        "%04d  %-24s %s\n", m.version, m.name.c_str(),
        m.applied ? ("applied " + overseer::FormatRfc3339(m.applied_at)).c_str() : "pending");
  }
  return 0;
}

int TokenCreate(const Config& c, const std::string& sub, const std::string& ws,
                const std::string& scopes, const std::string& ttl, const std::string& job_id) {
  Result<int64_t> ttl_ms = overseer::auth::ParseDuration(ttl);
  if (!ttl_ms) return Fail("--ttl: " + ttl_ms.error().message);
  auto signer = overseer::app::MakeSigner(c);
  if (!signer) return Fail(signer.error().message);
  overseer::auth::Claims claims;
  claims.subject = sub;
  claims.workspace_id = ws;
  claims.job_id = job_id;
  size_t start = 0;
  while (start <= scopes.size()) {
    size_t comma = scopes.find(',', start);
    if (comma == std::string::npos) comma = scopes.size();
    std::string s = scopes.substr(start, comma - start);
    if (!s.empty()) {
      if (!overseer::auth::IsKnownScope(s)) return Fail("--scopes: unknown scope '" + s + "'");
      claims.scopes.push_back(s);
    }
    start = comma + 1;
  }
  claims.issued_at = overseer::SystemClock::Instance().NowMs();
  claims.expires_at = claims.issued_at + *ttl_ms;
  Result<std::string> token = (*signer)->Sign(claims);
  if (!token) return Fail(token.error().message);
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

// An exception escaping main is a bug: std::terminate reports it (type, what()) and aborts.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{"overseer: a supervisor daemon for hierarchies of AI coding agents"};
  app.require_subcommand(1);
  Config config;

  CLI::App* serve = app.add_subcommand("serve", "run the daemon");
  serve->add_option("--listen", config.listen,
                    "host:port (OVERSEER_LISTEN; default 127.0.0.1:8080)");
  AddDaemonFlags(serve, config);
  AddKeyFlags(serve, config);
  serve->add_option("--max-depth", config.max_depth,
                    "deepest job depth (OVERSEER_MAX_DEPTH; default 5)");
  serve->add_option(
      "--default-quotas", config.default_quotas,
      "worker slots per depth for workspaces without their own quotas, from depth 0; "
      "deeper depths repeat the last (OVERSEER_DEFAULT_QUOTAS; default 10,8,5,3,2,1)");
  serve->add_option("--log-level", config.log_level,
                    "trace|debug|info|warn|error (OVERSEER_LOG_LEVEL)");
  serve->add_flag(
      "--no-access-log", [&](int64_t) { config.access_log = false; },
      "no access log line per request (OVERSEER_ACCESS_LOG=0)");
  serve->add_flag(
      "--no-cgroup", [&](int64_t) { config.use_cgroup = false; },
      "process groups + subreaper only, even where cgroup v2 exists (OVERSEER_CGROUP=0)");
  serve->add_option("--worker-log-max-bytes", config.worker_log_max_bytes,
                    "cap of each worker's log file before rotation (default 10 MiB)");
  serve->add_option("--shutdown-grace", config.shutdown_grace_seconds,
                    "seconds workers get between SIGTERM and SIGKILL at shutdown (default 10)");
  serve->add_option("--claude-bin", config.claude_bin,
                    "the claude CLI for runtime claude (OVERSEER_CLAUDE_BIN; default: claude on "
                    "PATH)");
  serve->add_option("--codex-bin", config.codex_bin,
                    "the codex CLI for runtime codex (OVERSEER_CODEX_BIN; default: codex on PATH)");
  serve
      ->add_option("--claude-arg", config.claude_args,
                   "an extra argument for every claude run (repeat the flag for several)")
      ->allow_extra_args(false);
  serve
      ->add_option("--codex-arg", config.codex_args,
                   "an extra argument for every codex exec run, e.g. --codex-arg=-c "
                   "--codex-arg=model_provider=gateway (repeat the flag)")
      ->allow_extra_args(false);
  serve->add_option("--agent-env-file", config.agent_env_file,
                    "KEY=VALUE lines (ANTHROPIC_*, OPENAI_*, CODEX_*) for the agent runtimes "
                    "(OVERSEER_AGENT_ENV_FILE)");
  serve->add_option("--price-table", config.price_table,
                    "JSON file of token prices per model, replacing the built-in table "
                    "(OVERSEER_PRICE_TABLE)");

  CLI::App* migrate = app.add_subcommand("migrate", "apply, roll back or list schema migrations");
  AddDaemonFlags(migrate, config);
  std::string action = "status";
  int steps = 1;
  migrate->add_option("action", action, "up | down | status")
      ->check(CLI::IsMember({"up", "down", "status"}));
  migrate->add_option("--steps", steps, "how many migrations `down` rolls back (default 1)");

  CLI::App* token = app.add_subcommand("token", "mint tokens");
  token->require_subcommand(1);
  CLI::App* create = token->add_subcommand("create", "print a signed JWT");
  AddKeyFlags(create, config);
  std::string sub, ws = "default", scopes, ttl = "1h", job_id;
  create->add_option("--sub", sub, "subject (who the token is for)")->required();
  create->add_option("--workspace", ws, "workspace id (default \"default\")");
  create->add_option("--scopes", scopes, "comma-separated scopes, e.g. jobs:read,jobs:write")
      ->required();
  create->add_option("--ttl", ttl, "lifetime: 90s, 30m, 1h, 7d (default 1h)");
  create->add_option("--job", job_id, "bind the token to a job (as worker tokens are)");

  overseer::cli::ClientCommands client(app);  // workers ..., jobs ..., quotas ...

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (client.Selected()) return client.UsageExit(app, e);
    return app.exit(e);
  }
  auto given = [&](CLI::App* cmd) {
    return [cmd](const char* flag) {
      try {
        return cmd->get_option(flag)->count() > 0;
      } catch (const CLI::OptionNotFound&) {
        return false;
      }
    };
  };
  if (serve->parsed()) {
    overseer::app::ApplyEnvironment(config, given(serve));
    return overseer::app::Serve(config);
  }
  if (migrate->parsed()) {
    overseer::app::ApplyEnvironment(config, given(migrate));
    return Migrate(config, action, steps);
  }
  if (create->parsed()) {
    overseer::app::ApplyEnvironment(config, given(create));
    return TokenCreate(config, sub, ws, scopes, ttl, job_id);
  }
  if (client.Selected()) return client.Run();
  return 1;
}
