#include "service/supervisor.h"

namespace overseer::service {
namespace asio = boost::asio;

namespace {

MetricsRegistry& RegistryOf(std::unique_ptr<MetricsRegistry>& own, MetricsRegistry* given) {
  if (given != nullptr) return *given;
  own = std::make_unique<MetricsRegistry>();
  return *own;
}

}  // namespace

Supervisor::Supervisor(asio::io_context& io, BlockingPool& pool, store::Store& store,
                       proc::Launcher& procs, SupervisorOptions options, TokenMinter minter,
                       const Clock& clock, MetricsRegistry* metrics)
    : ctx_(io, pool, store, procs, std::move(options), std::move(minter), clock,
           RegistryOf(own_metrics_, metrics)) {
  ctx_.charge_usage = [this](LiveWorker& w, const UsageDelta& used) { budgets_.Charge(w, used); };
}

Supervisor::~Supervisor() = default;

asio::awaitable<Status> Supervisor::Recover() {
  if (Status halts = co_await halts_.Load(); !halts) co_return halts;
  co_return co_await recovery_.Recover();
}

asio::awaitable<void> Supervisor::Shutdown(std::chrono::milliseconds grace) {
  ctx_.shutting_down = true;
  ctx_.bus.Close();  // long polls answer now
  // Exits waiting for an unavailable database stop waiting (a bounded shutdown): the next
  // start finds those workers RUNNING and records them as after any restart.
  ctx_.commits.Close();
  std::vector<WorkerPtr> active;
  for (auto& [id, w] : ctx_.workers) {
    // An IDLE worker has no process: its job (waiting for slots or dependencies) stays
    // PENDING and is queued again at the next start.
    if (core::IsActiveWorkerState(w->rec.status) && w->rec.status != core::WorkerState::kIdle) {
      active.push_back(w);
    }
  }
  std::string reason = "SUPERVISOR_SHUTDOWN";
  co_await runner_.TerminateAll(std::move(active), grace, std::move(reason));
  (void)co_await ctx_.tasks.Drain(grace + std::chrono::seconds(2));
  co_await budgets_.Flush();  // the usage reported since the last write
}

}  // namespace overseer::service
