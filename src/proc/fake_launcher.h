// FakeLauncher: a Launcher without processes, for the service tests. Units are kept by
// unit_name (a worker id); a test makes them exit, print, stop or continue, in any order, and
// every callback is posted to the loop as the real process layer would deliver it. Loop
// thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <string>
#include <vector>

#include "proc/launcher.h"

namespace overseer::proc {

class FakeLauncher final : public Launcher {
 public:
  explicit FakeLauncher(boost::asio::io_context& io) : io_(io) {}

  Result<std::shared_ptr<Process>> Spawn(const SpawnSpec& spec,
                                         ProcessCallbacks callbacks) override;
  Status Pause(Process& p) override;
  Status Resume(Process& p) override;
  // The unit ends at once by SIGTERM (or, with terminate_kills(false), only when the test
  // calls Exit), then `done` runs.
  void Terminate(const std::shared_ptr<Process>& p, std::chrono::milliseconds grace,
                 std::function<void()> done) override;
  MainState State(const Process& p) const override;
  std::optional<Usage> CachedUsage(const Process& p) override;
  void AwaitUsage(const Process& p, std::function<void(Usage)> done) override;
  void KillLeftovers(std::function<void(int)> done) override;

  // --- what a test does ---
  // The next `n` spawns fail (kInternal), as a spawn out of descriptors would.
  void FailNextSpawns(int n) { fail_spawns_ = n; }
  // Whether a Pause stops the process (default) or the SIGSTOP is lost (the process keeps
  // running, e.g. it exits first: the test then calls Exit).
  void set_pause_stops(bool v) { pause_stops_ = v; }
  void set_terminate_kills(bool v) { terminate_kills_ = v; }
  // The main process of the live unit `name` exits with `st` (on_exit posted). False if there
  // is no such live unit.
  bool Exit(const std::string& name, ExitStatus st);
  bool Print(const std::string& name, const std::string& line);  // on_output
  bool StopFromOutside(const std::string& name);                 // someone else's SIGSTOP
  bool ContinueFromOutside(const std::string& name);             // someone else's SIGCONT
  // A late notification of an earlier continue: on_continued is posted, the state is left as
  // it is (notifications arrive late and coalesce).
  bool NotifyContinued(const std::string& name);

  // The live unit `name` (spawned, main process not yet exited).
  bool Live(const std::string& name) const;
  // What the main process of unit `name` is doing (kExited if there is none).
  MainState StateOf(const std::string& name) const;
  // Its spawn spec (the last spawn of that name), or nullptr.
  const SpawnSpec* Spec(const std::string& name) const;
  int spawns() const { return spawns_; }
  int live_units() const;
  std::chrono::milliseconds last_grace() const { return last_grace_; }

 private:
  struct Unit {
    SpawnSpec spec;
    ProcessCallbacks callbacks;
    std::shared_ptr<Process> proc;
    MainState state = MainState::kRunning;
  };
  Unit* Find(const std::string& name);
  const Unit* Find(const std::string& name) const;
  void Post(std::function<void()> fn);

  boost::asio::io_context& io_;
  std::map<std::string, Unit> units_;
  int fail_spawns_ = 0;
  int spawns_ = 0;
  pid_t next_pid_ = 100000;
  bool pause_stops_ = true;
  bool terminate_kills_ = true;
  std::chrono::milliseconds last_grace_{0};
};

}  // namespace overseer::proc
