// Launcher: the seam between the services and processes. ProcessManager implements it with
// real processes (process_manager.h); FakeLauncher (fake_launcher.h) with none, for the
// service tests. Same thread rule as ProcessManager: the loop thread only, every callback on
// the loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "common/result.h"
#include "proc/process.h"

namespace overseer::proc {

class Launcher {
 public:
  virtual ~Launcher() = default;

  // Starts a unit (see ProcessManager::Spawn for what a real one does). Callbacks run on the
  // loop, never inside this call. kInvalidRequest, kInternal.
  virtual Result<std::shared_ptr<Process>> Spawn(const SpawnSpec& spec,
                                                 ProcessCallbacks callbacks) = 0;
  // SIGSTOP / SIGCONT to the whole unit; kInvalidStateTransition once the main process exited.
  virtual Status Pause(Process& p) = 0;
  virtual Status Resume(Process& p) = 0;
  // SIGTERM, then SIGKILL after `grace`; `done` once nothing of the unit is left (posted).
  virtual void Terminate(const std::shared_ptr<Process>& p, std::chrono::milliseconds grace,
                         std::function<void()> done) = 0;
  // What the main process is doing now.
  virtual MainState State(const Process& p) const = 0;
  // Live usage from memory (nullopt: not sampled recently; AwaitUsage gives one, posted).
  virtual std::optional<Usage> CachedUsage(const Process& p) = 0;
  virtual void AwaitUsage(const Process& p, std::function<void(Usage)> done) = 0;
  // At start: ends what an earlier daemon left; `done(count)` on the loop.
  virtual void KillLeftovers(std::function<void(int)> done) = 0;
};

}  // namespace overseer::proc
