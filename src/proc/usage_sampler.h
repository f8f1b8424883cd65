// UsageSampler: the live usage of units, read off the request path and served from memory.
//
// An ask (Cached, Await) never reads a file: it answers the unit's last sample, and keeps the
// unit "watched" for `interest` after the ask. While any unit is watched, a timer on the loop
// runs a pass every `period`: it samples every watched unit whose sample is at least period/2
// old, sharing one scan of /proc among the units without a cgroup, and forgets the units not
// asked about within `interest` (then the timer stops: an idle daemon does not wake up). An ask
// that finds no sample younger than 2 * period (the first one, or after a pause of interest)
// waits for an extra pass posted at once, so no answer is ever older than 2 * period.
//
// Internal to the process layer (see unit.h). Loop thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "proc/process_manager.h"

namespace overseer::proc::internal {

class Unit;

class UsageSampler : public std::enable_shared_from_this<UsageSampler> {
 public:
  using SteadyClock = std::chrono::steady_clock;

  UsageSampler(boost::asio::io_context& io, std::chrono::milliseconds period,
               std::chrono::milliseconds interest);

  // Zeros for a finished unit; its last sample if younger than 2 * period; else nullopt.
  std::optional<Usage> Cached(const std::shared_ptr<Unit>& unit);
  // `done` runs posted on the loop with a sample read after this call (zeros if the unit
  // finishes or is gone first).
  void Await(const std::shared_ptr<Unit>& unit, std::function<void(Usage)> done);
  // The manager is going away: stop the timer, drop the waiters uncalled.
  void Stop();

  bool idle() const { return entries_.empty() && !armed_; }

 private:
  struct Entry {
    std::weak_ptr<Unit> unit;
    Usage sample;
    SteadyClock::time_point sampled{};  // epoch: never
    SteadyClock::time_point asked{};
    std::vector<std::function<void(Usage)>> waiters;
  };

  Entry& Watch(const std::shared_ptr<Unit>& unit, SteadyClock::time_point now);
  void Arm();
  // One pass. `urgent`: posted for waiters; samples only the entries that have some.
  void Pass(bool urgent);

  boost::asio::io_context& io_;
  const std::chrono::milliseconds period_;
  const std::chrono::milliseconds interest_;
  boost::asio::steady_timer timer_;
  bool armed_ = false;
  bool urgent_posted_ = false;
  bool stopped_ = false;
  // Keyed by the unit's address; `unit` tells a live unit from a dead one at the same address.
  std::unordered_map<const Unit*, Entry> entries_;
};

}  // namespace overseer::proc::internal
