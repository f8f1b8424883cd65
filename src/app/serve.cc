#include "app/serve.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <filesystem>

#include "api/error_mapping.h"
#include "api/routes.h"
#include "app/open_store.h"
#include "auth/sha256.h"
#include "common/metrics.h"
#include "http/server.h"
#include "proc/process_manager.h"
#include "service/blocking_pool.h"
#include "service/idempotency.h"
#include "service/runtimes/price_table.h"
#include "service/supervisor.h"

extern char** environ;

namespace overseer::app {
namespace asio = boost::asio;

namespace {

constexpr int64_t kIdempotencyKeepMs = 24LL * 3600 * 1000;
constexpr int64_t kWorkerTokenTtlMs = 7LL * 24 * 3600 * 1000;

// Workers inherit the daemon's environment minus everything OVERSEER_* (the JWT secret
// must never reach an agent) and minus the agent credentials (ANTHROPIC_*, OPENAI_*,
// CODEX_*), which go to `agent_env`: only the workers of their runtime get them. The
// supervisor adds each worker's own OVERSEER_* variables.
std::vector<std::string> InheritedEnvironment(std::vector<std::string>& agent_env) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("OVERSEER_", 0) == 0) continue;
    if (IsAgentVariable(kv)) {
      agent_env.emplace_back(kv);
      continue;
    }
    env.emplace_back(kv);
  }
  return env;
}

// The agent runtimes' settings: CLIs, extra arguments, credentials, prices.
Result<service::AgentOptions> AgentSettings(const Config& c, std::vector<std::string> agent_env) {
  service::AgentOptions a;
  a.claude_bin = c.claude_bin;
  a.codex_bin = c.codex_bin;
  a.claude_args = c.claude_args;
  a.codex_args = c.codex_args;
  if (!c.agent_env_file.empty()) {
    Result<std::string> text = ReadSmallFile(c.agent_env_file, 1 << 20);
    if (!text) return text.error();
    Result<std::vector<std::string>> vars = ParseAgentEnvFile(*text);
    if (!vars) return vars.error();
    // The file's values win over the daemon's environment (later entries win in execve).
    agent_env.insert(agent_env.end(), vars->begin(), vars->end());
  }
  a.agent_env = std::move(agent_env);
  if (!c.price_table.empty()) {
    Result<service::PriceTable> prices = service::PriceTable::LoadFile(c.price_table);
    if (!prices) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "--price-table " + c.price_table + ": " + prices.error().message);
    }
    a.prices = std::make_shared<const service::PriceTable>(std::move(*prices));
  }
  return a;
}

// A short stable name for the state directory: cgroup and env-marker names of this daemon.
// GET bodies of finished workers kept rendered (about 1-2 KB each).
constexpr size_t kRenderedWorkerBodies = 4096;

// overseer-exec installed beside this binary (the build puts both in one directory).
std::string ExecHelperPath() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (self.parent_path() / "overseer-exec").string();
}

std::string InstanceId(const std::string& state_dir) {
  std::error_code ec;
  std::string abs = std::filesystem::weakly_canonical(state_dir, ec).string();
  if (ec) abs = state_dir;
  return auth::Sha256Hex(abs).substr(0, 12);
}

void SetUpLogging(const Config& c) {
  auto console = spdlog::stderr_color_mt("overseer");
  spdlog::set_default_logger(console);
  spdlog::set_level(spdlog::level::from_str(c.log_level));
  auto access = spdlog::stderr_color_mt("access");
  access->set_level(c.access_log ? spdlog::level::info : spdlog::level::off);
}

}  // namespace

int Serve(const Config& config) {
  SetUpLogging(config);
  std::signal(SIGPIPE, SIG_IGN);

  Result<std::pair<std::string, uint16_t>> listen = ParseListen(config.listen);
  if (!listen) {
    spdlog::error("{}", listen.error().message);
    return 2;
  }
  Result<std::unique_ptr<auth::JwtVerifier>> verifier = MakeVerifier(config);
  if (!verifier) {
    spdlog::error("{}", verifier.error().message);
    return 2;
  }
  Result<std::unique_ptr<auth::JwtSigner>> signer = MakeSigner(config);  // optional
  if (!signer) {
    spdlog::warn("workers get no OVERSEER_TOKEN: {}", signer.error().message);
  }
  if (config.max_depth < 0 || config.max_depth > 16) {
    spdlog::error("--max-depth must be 0..16");
    return 2;
  }

  std::error_code ec;
  std::filesystem::create_directories(config.state_dir + "/logs", ec);
  if (ec) {
    spdlog::error("cannot create state directory {}: {}", config.state_dir, ec.message());
    return 1;
  }
  ::chmod(config.state_dir.c_str(), 0700);

  // 1. Open the store and migrate.
  const std::string db_url = DatabaseUrl(config);
  Result<std::unique_ptr<store::Store>> store = OpenStore(db_url);
  if (!store) {
    spdlog::error("cannot open database {}: {}", DisplayUrl(db_url), store.error().message);
    return store.error().code == ErrorCode::kInvalidRequest ? 2 : 1;  // 2: a bad --db
  }
  if (Status s = (*store)->MigrateUp(); !s) {
    spdlog::error("migration failed: {}", s.error().message);
    return 1;
  }
  const Clock& clock = SystemClock::Instance();
  if (Status s = (*store)->PurgeIdempotent(clock.NowMs() - kIdempotencyKeepMs, true); !s) {
    spdlog::warn("could not purge old idempotency keys: {}", s.error().message);
  }

  // The daemon's counters, gauges and histograms (the server records requests into it).
  // Handed to the HTTP server and the services (throughput, commits); rendered by
  // GET /api/supervisor/metrics (JSON) and, with #13, by GET /metrics.
  MetricsRegistry metrics;
  asio::io_context io(1);
  service::BlockingPool pool(StoreThreads(db_url));
  proc::ProcessManager procs(io, proc::ProcessManagerOptions{InstanceId(config.state_dir),
                                                             config.use_cgroup, ExecHelperPath()});
  std::string host = listen->first;
  service::SupervisorOptions sopts;
  sopts.state_dir = config.state_dir;
  sopts.max_depth = config.max_depth;
  Result<std::vector<int>> quotas = ParseQuotaList(config.default_quotas);
  if (!quotas) {
    spdlog::error("{}", quotas.error().message);
    return 2;
  }
  sopts.default_quotas = std::move(*quotas);
  sopts.log_max_bytes = config.worker_log_max_bytes;
  std::vector<std::string> agent_env;
  sopts.base_env = InheritedEnvironment(agent_env);
  Result<service::AgentOptions> agents = AgentSettings(config, std::move(agent_env));
  if (!agents) {
    spdlog::error("{}", agents.error().message);
    return 2;
  }
  sopts.agents = std::move(*agents);
  auth::JwtSigner* signer_ptr = signer ? signer->get() : nullptr;
  service::TokenMinter minter = [signer_ptr, &clock](const std::string& ws,
                                                     const std::string& job_id, int) {
    if (signer_ptr == nullptr) return std::string();
    auth::Claims c;
    c.subject = "job:" + job_id;
    c.workspace_id = ws;
    c.job_id = job_id;
    c.scopes = {std::string(auth::kJobsRead), std::string(auth::kJobsWrite),
                std::string(auth::kSupervisorRead), std::string(auth::kResourcesRead),
                std::string(auth::kResourcesWrite)};
    c.issued_at = clock.NowMs();
    c.expires_at = c.issued_at + kWorkerTokenTtlMs;
    Result<std::string> t = signer_ptr->Sign(c);
    return t ? *t : std::string();
  };
  service::Supervisor supervisor(io, pool, **store, procs, sopts, minter, clock, &metrics);
  service::IdempotencyKeys idempotency(pool, **store, clock);
  api::RenderedWorkers rendered_workers(kRenderedWorkerBodies);
  api::ApiContext ctx{supervisor, idempotency, **verifier, clock, &rendered_workers};

  http::Router router;
  api::RegisterRoutes(router, ctx);
  http::ServerOptions server_options;
  server_options.metrics = &metrics;
  http::Server server(io, std::move(router), api::RenderHttpError, server_options);

  int exit_code = 0;
  bool stopping = false;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void()> shutdown = [&] {
    if (stopping) return;
    stopping = true;
    spdlog::info("shutting down: stop accepting, terminate workers (grace {} s)",
                 config.shutdown_grace_seconds);
    server.Stop([] {});
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await supervisor.Shutdown(std::chrono::seconds(config.shutdown_grace_seconds));
        },
        [&](const std::exception_ptr&) {
          spdlog::info("all workers ended; bye");
          io.stop();
        });
  };
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& err, int sig) {
        if (err) return;
        if (stopping && sig == SIGINT) {
          spdlog::warn("second SIGINT: exiting now");
          std::_Exit(130);
        }
        shutdown();
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  // 2. Recover, 3. listen.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Status rec = co_await supervisor.Recover();
        if (!rec) {
          spdlog::error("recovery failed: {}", rec.error().message);
          exit_code = 1;
          io.stop();
          co_return;
        }
        Result<asio::ip::tcp::endpoint> ep = server.Listen(host, listen->second);
        if (!ep) {
          spdlog::error("cannot listen on {}: {}", config.listen, ep.error().message);
          exit_code = 1;
          co_await supervisor.Shutdown(std::chrono::seconds(1));
          io.stop();
          co_return;
        }
        std::string url = "http://" + ep->address().to_string() + ":" + std::to_string(ep->port());
        supervisor.SetDaemonUrl(url);
        // Machine-readable line first (tests and scripts wait for it), then the human one.
        std::printf("overseer listening on %s\n", url.c_str());
        std::fflush(stdout);
        spdlog::info("ready: {} (state {}, database {}, cgroups {})", url, config.state_dir,
                     DisplayUrl(db_url), procs.cgroups_enabled() ? "v2" : "off");
      },
      [&](const std::exception_ptr& e) {
        if (e) {
          spdlog::error("startup failed");
          exit_code = 1;
          io.stop();
        }
      });

  // 4. Run.
  io.run();
  pool.Join();
  spdlog::default_logger()->flush();
  return exit_code;
}

}  // namespace overseer::app
