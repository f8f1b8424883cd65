#include "proc/fake_launcher.h"

#include <boost/asio/post.hpp>
#include <csignal>

namespace overseer::proc {

void FakeLauncher::Post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

FakeLauncher::Unit* FakeLauncher::Find(const std::string& name) {
  auto it = units_.find(name);
  return it == units_.end() ? nullptr : &it->second;
}

const FakeLauncher::Unit* FakeLauncher::Find(const std::string& name) const {
  auto it = units_.find(name);
  return it == units_.end() ? nullptr : &it->second;
}

Result<std::shared_ptr<Process>> FakeLauncher::Spawn(const SpawnSpec& spec,
                                                     ProcessCallbacks callbacks) {
  if (spec.argv.empty()) return MakeError(ErrorCode::kInvalidRequest, "empty command");
  if (const Unit* u = Find(spec.unit_name); u != nullptr && u->state != MainState::kExited) {
    return MakeError(ErrorCode::kInvalidRequest, "unit_name in use: " + spec.unit_name);
  }
  if (fail_spawns_ > 0) {
    --fail_spawns_;
    return MakeError(ErrorCode::kInternal, "spawn failed (fake): too many open files");
  }
  ++spawns_;
  auto p = std::make_shared<Process>();
  p->pid_ = next_pid_++;
  p->unit_name_ = spec.unit_name;
  p->log_path_ = spec.log_path;
  Unit& u = units_[spec.unit_name];
  u = Unit{spec, std::move(callbacks), p, MainState::kRunning};
  return p;
}

Status FakeLauncher::Pause(Process& p) {
  Unit* u = Find(p.unit_name());
  if (u == nullptr || u->proc.get() != &p || u->state == MainState::kExited) {
    return MakeError(ErrorCode::kInvalidStateTransition, "the process has exited");
  }
  if (!pause_stops_ || u->state == MainState::kStopped) return OkStatus();
  u->state = MainState::kStopped;
  if (u->callbacks.on_stopped) Post(u->callbacks.on_stopped);
  return OkStatus();
}

Status FakeLauncher::Resume(Process& p) {
  Unit* u = Find(p.unit_name());
  if (u == nullptr || u->proc.get() != &p || u->state == MainState::kExited) {
    return MakeError(ErrorCode::kInvalidStateTransition, "the process has exited");
  }
  if (u->state != MainState::kStopped) return OkStatus();
  u->state = MainState::kRunning;
  if (u->callbacks.on_continued) Post(u->callbacks.on_continued);
  return OkStatus();
}

void FakeLauncher::Terminate(const std::shared_ptr<Process>& p, std::chrono::milliseconds grace,
                             std::function<void()> done) {
  last_grace_ = grace;
  Unit* u = Find(p->unit_name());
  if (u != nullptr && u->proc == p && u->state != MainState::kExited && terminate_kills_) {
    Exit(p->unit_name(), ExitStatus{-1, SIGTERM});
  }
  // done after on_exit, as the real layer reports the drain after the reap.
  if (done) Post(std::move(done));
}

MainState FakeLauncher::State(const Process& p) const {
  const Unit* u = Find(p.unit_name());
  if (u == nullptr || u->proc.get() != &p) return MainState::kExited;
  return u->state;
}

std::optional<Usage> FakeLauncher::CachedUsage(const Process& p) {
  const Unit* u = Find(p.unit_name());
  if (u == nullptr || u->state == MainState::kExited) return Usage{};
  return Usage{0.0, 1 << 20, 1, 1};
}

void FakeLauncher::AwaitUsage(const Process& p, std::function<void(Usage)> done) {
  Usage u = CachedUsage(p).value_or(Usage{});
  Post([done = std::move(done), u] { done(u); });
}

void FakeLauncher::KillLeftovers(std::function<void(int)> done) {
  Post([done = std::move(done)] { done(0); });
}

bool FakeLauncher::Exit(const std::string& name, ExitStatus st) {
  Unit* u = Find(name);
  if (u == nullptr || u->state == MainState::kExited) return false;
  u->state = MainState::kExited;
  u->proc->exit_status_ = st;
  u->proc->finished_ = true;
  if (u->callbacks.on_exit) {
    Post([cb = u->callbacks.on_exit, st] { cb(st); });
  }
  return true;
}

bool FakeLauncher::Print(const std::string& name, const std::string& line) {
  Unit* u = Find(name);
  if (u == nullptr || u->state == MainState::kExited) return false;
  if (u->callbacks.on_output) {
    Post([cb = u->callbacks.on_output, line] { cb(line); });
  }
  return true;
}

bool FakeLauncher::StopFromOutside(const std::string& name) {
  Unit* u = Find(name);
  if (u == nullptr || u->state != MainState::kRunning) return false;
  u->state = MainState::kStopped;
  if (u->callbacks.on_stopped) Post(u->callbacks.on_stopped);
  return true;
}

bool FakeLauncher::ContinueFromOutside(const std::string& name) {
  Unit* u = Find(name);
  if (u == nullptr || u->state != MainState::kStopped) return false;
  u->state = MainState::kRunning;
  if (u->callbacks.on_continued) Post(u->callbacks.on_continued);
  return true;
}

bool FakeLauncher::NotifyContinued(const std::string& name) {
  Unit* u = Find(name);
  if (u == nullptr || u->state == MainState::kExited) return false;
  if (u->callbacks.on_continued) Post(u->callbacks.on_continued);
  return true;
}

bool FakeLauncher::Live(const std::string& name) const {
  const Unit* u = Find(name);
  return u != nullptr && u->state != MainState::kExited;
}

MainState FakeLauncher::StateOf(const std::string& name) const {
  const Unit* u = Find(name);
  return u == nullptr ? MainState::kExited : u->state;
}

const SpawnSpec* FakeLauncher::Spec(const std::string& name) const {
  const Unit* u = Find(name);
  return u == nullptr ? nullptr : &u->spec;
}

int FakeLauncher::live_units() const {
  int n = 0;
  for (const auto& [name, u] : units_) n += u.state != MainState::kExited ? 1 : 0;
  return n;
}

}  // namespace overseer::proc
