// KillLeftovers: the Sweep that SIGKILLs the processes an earlier daemon of this instance left
// (in leftover cgroups, or carrying its env marker) and waits for them. Loop thread only.
#include <dirent.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <set>
#include <string_view>
#include <utility>

#include "proc/proc_fs.h"
#include "proc/unit.h"

namespace overseer::proc::internal {
namespace {

constexpr auto kLeftoverDeadline = std::chrono::seconds(30);

}  // namespace

bool Sweep::IsLeftover(pid_t pid) {
  for (const auto& marker : live_markers_) {
    if (EnvironHas(pid, marker, false)) return false;
  }
  if (!cgroup_rel_prefix_.empty()) {
    auto path = ReadCgroupV2Path(pid);
    if (path && path->compare(0, cgroup_rel_prefix_.size(), cgroup_rel_prefix_) == 0) return true;
  }
  return IsLive(pid) && EnvironHas(pid, env_prefix_, true);
}

void Sweep::Start() {
  deadline_.expires_after(kLeftoverDeadline);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->core_ == nullptr || ec || self->finished_) return;
    spdlog::error("proc: {} leftover process(es) still alive after {} s; giving up waiting",
                  self->watched_.size(), kLeftoverDeadline.count());
    self->Finish(true);
  });
  Round();
}

void Sweep::Round() {
  if (core_ == nullptr || finished_) return;
  std::set<pid_t> candidates;
  for (const auto& dir : dirs_) {
    for (pid_t pid : ReadCgroupProcs(dir)) candidates.insert(pid);
  }
  bool undecided = false;  // a process without a readable environment now (execve)
  for (pid_t pid : ListAllPids()) {
    if (candidates.count(pid) != 0 || !IsLive(pid)) continue;
    EnvMatch m = EnvironMatch(pid, env_prefix_, true);
    if (m == EnvMatch::kYes) candidates.insert(pid);
    undecided = undecided || m == EnvMatch::kUnknown;
  }
  for (pid_t pid : candidates) {
    if (auto it = watched_.find(pid); it != watched_.end()) {
      PidfdSendSignal(it->second->native_handle(), SIGKILL);
      continue;
    }
    int fd = PidfdOpen(pid);
    if (fd < 0) continue;
    if (!IsLeftover(pid)) {
      close(fd);
      continue;
    }
    PidfdSendSignal(fd, SIGKILL);
    if (killed_.insert(pid).second) {
      spdlog::warn("proc: killing leftover process {}", pid);
    }
    auto d = std::make_shared<Descriptor>(io_, fd);
    watched_[pid] = d;
    d->async_wait(Descriptor::wait_read, [self = shared_from_this(), pid,
                                          raw = d.get()](const boost::system::error_code& ec) {
      if (self->core_ == nullptr || ec == asio::error::operation_aborted) return;
      auto it2 = self->watched_.find(pid);
      if (it2 == self->watched_.end() || it2->second.get() != raw) return;
      self->watched_.erase(it2);
      // Our own children (same process as an earlier manager, e.g. in tests) become zombies.
      self->core_->ReapOrphans();
      if (self->watched_.empty()) self->Round();
    });
  }
  // Whatever forked since the listing: cgroup.kill reaches it (the next round waits for it).
  for (const auto& dir : dirs_) WriteSmallFile(dir + "/cgroup.kill", "1");
  bool look_again = undecided && ++undecided_rounds_ <= kMaxRechecks;
  if (watched_.empty() && !look_again) {
    // Dying (past the listing) but not yet out of the cgroup: look again soon.
    for (const auto& dir : dirs_) look_again = look_again || !ReadCgroupProcs(dir).empty();
  }
  if (look_again) {
    recheck_.expires_after(std::chrono::milliseconds(10));
    recheck_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->Round();
    });
    return;
  }
  if (watched_.empty()) Finish(false);
}

void Sweep::Finish(bool timed_out) {
  if (finished_) return;
  finished_ = true;
  deadline_.cancel();
  recheck_.cancel();
  if (!timed_out) {
    for (const auto& dir : dirs_) {
      if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
        spdlog::warn("proc: cannot remove leftover cgroup {}: {}", dir, ErrnoText(errno));
      }
    }
  }
  boost::system::error_code ignored;
  for (auto& [pid, d] : watched_) d->close(ignored);
  watched_.clear();
  int count = static_cast<int>(killed_.size());
  if (count > 0) spdlog::warn("proc: killed {} leftover process(es)", count);
  if (done_) asio::post(io_, [done = std::move(done_), count] { done(count); });
  if (core_ != nullptr) core_->OnSweepFinished(this);
}

void Sweep::Detach() {
  core_ = nullptr;
  deadline_.cancel();
  recheck_.cancel();
  boost::system::error_code ignored;
  for (auto& [pid, d] : watched_) d->close(ignored);
  watched_.clear();
}

void ManagerCore::KillLeftovers(std::function<void(int)> done) {
  std::vector<std::string> dirs;
  std::string rel_prefix;
  if (!cgroup_root_.empty()) {
    std::string parent = cgroup_root_ + "/overseer-" + instance_id_;
    rel_prefix = parent.substr(cgroup_root_.size()) + "/";
    if (DIR* d = opendir(parent.c_str())) {
      while (dirent* e = readdir(d)) {  // NOLINT(concurrency-mt-unsafe): DIR not shared
        if (e->d_type != DT_DIR || std::string_view(e->d_name) == "." ||
            std::string_view(e->d_name) == "..") {
          continue;
        }
        if (units_.count(e->d_name) != 0) continue;  // ours, alive
        dirs.push_back(parent + "/" + e->d_name);
      }
      closedir(d);
    }
  }
  std::vector<std::string> live_markers;
  for (const auto& [name, unit] : units_) {
    live_markers.push_back(std::string(kMarkerKey) + instance_id_ + "/" + name);
  }
  auto sweep = std::make_shared<Sweep>(this, io_, std::move(dirs), std::move(rel_prefix),
                                       std::string(kMarkerKey) + instance_id_ + "/",
                                       std::move(live_markers), std::move(done));
  sweeps_.insert(sweep);
  sweep->Start();
}

}  // namespace overseer::proc::internal
