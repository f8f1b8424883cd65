// UsageSampler: see usage_sampler.h. Loop thread only.
#include "proc/usage_sampler.h"

#include <boost/asio/post.hpp>
#include <utility>

#include "proc/proc_fs.h"
#include "proc/unit.h"

namespace overseer::proc::internal {
namespace asio = boost::asio;

namespace {

// Each waiter runs posted, never inline: a waiter may ask again.
void Answer(asio::io_context& io, std::vector<std::function<void(Usage)>> waiters, Usage u) {
  for (auto& w : waiters) {
    asio::post(io, [w = std::move(w), u] { w(u); });
  }
}

}  // namespace

UsageSampler::UsageSampler(asio::io_context& io, std::chrono::milliseconds period,
                           std::chrono::milliseconds interest)
    : io_(io), period_(period), interest_(interest), timer_(io) {}

std::optional<Usage> UsageSampler::Cached(const std::shared_ptr<Unit>& unit) {
  if (unit->finished()) return Usage{};
  const SteadyClock::time_point now = SteadyClock::now();
  Entry& e = Watch(unit, now);
  if (e.sampled != SteadyClock::time_point{} && now - e.sampled <= 2 * period_) return e.sample;
  return std::nullopt;
}

void UsageSampler::Await(const std::shared_ptr<Unit>& unit, std::function<void(Usage)> done) {
  if (stopped_) return;  // the manager is going away: dropped uncalled, as documented
  if (unit->finished()) {
    Answer(io_, {std::move(done)}, Usage{});
    return;
  }
  Watch(unit, SteadyClock::now()).waiters.push_back(std::move(done));
  if (urgent_posted_) return;
  urgent_posted_ = true;
  asio::post(io_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->urgent_posted_ = false;
    if (!self->stopped_) self->Pass(true);
  });
}

void UsageSampler::Stop() {
  stopped_ = true;
  timer_.cancel();
  entries_.clear();
}

UsageSampler::Entry& UsageSampler::Watch(const std::shared_ptr<Unit>& unit,
                                         SteadyClock::time_point now) {
  Entry& e = entries_[unit.get()];
  if (e.unit.lock() != unit) {  // new, or a finished unit's address taken by this one
    Answer(io_, std::move(e.waiters), Usage{});
    e = Entry{};
    e.unit = unit;
  }
  e.asked = now;
  Arm();
  return e;
}

void UsageSampler::Arm() {
  if (armed_ || stopped_ || entries_.empty()) return;
  armed_ = true;
  timer_.expires_after(period_);
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self) return;
    self->armed_ = false;
    if (ec || self->stopped_) return;
    self->Pass(false);
    self->Arm();  // only while some unit is still watched
  });
}

void UsageSampler::Pass(bool urgent) {
  const SteadyClock::time_point now = SteadyClock::now();
  std::vector<std::pair<Entry*, std::shared_ptr<Unit>>> due;
  bool need_host = false;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    std::shared_ptr<Unit> unit = e.unit.lock();
    if (!unit || unit->finished()) {
      Answer(io_, std::move(e.waiters), Usage{});
      it = entries_.erase(it);
      continue;
    }
    if (e.waiters.empty()) {
      if (now - e.asked > interest_) {  // nobody asked for a while: stop sampling it
        it = entries_.erase(it);
        continue;
      }
      // An urgent pass is for the waiters only; a periodic one skips a unit sampled by an
      // urgent pass moments ago.
      if (urgent || now - e.sampled < period_ / 2) {
        ++it;
        continue;
      }
    }
    need_host = need_host || !unit->has_cgroup();
    due.emplace_back(&e, std::move(unit));
    ++it;
  }
  // One scan of the host for every unit without a cgroup (each would otherwise scan it).
  HostStats host;
  if (need_host) {
    for (pid_t pid : ListAllPids()) {
      if (auto st = ReadProcStat(pid)) host.push_back(*st);
    }
  }
  for (auto& [e, unit] : due) {
    e->sampled = SteadyClock::now();  // before the read: an age never understated
    e->sample = unit->ReadUsage(need_host ? &host : nullptr);
    Answer(io_, std::exchange(e->waiters, {}), e->sample);
  }
}

}  // namespace overseer::proc::internal
