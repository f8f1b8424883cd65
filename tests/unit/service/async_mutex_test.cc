// AsyncMutex: FIFO handover between coroutines, and LockWithin giving up after its patience
// without leaving itself queued (a cancel that must not wait behind a commit held up by a
// database outage relies on it).
#include "service/async_mutex.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace overseer::service {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

TEST(AsyncMutexTest, WaitersGetTheLockInTheOrderTheyAsked) {
  asio::io_context io;
  AsyncMutex m;
  std::vector<std::string> order;
  auto holder = [&](std::string name) -> asio::awaitable<void> {
    auto lock = co_await ScopedLock::Acquire(m);
    order.push_back(name);
    co_await Sleep(5ms);
  };
  for (const char* n : {"a", "b", "c"}) asio::co_spawn(io, holder(n), asio::detached);
  io.run();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(m.locked());
}

TEST(AsyncMutexTest, LockWithinGivesUpAfterItsPatienceAndLeavesTheQueue) {
  asio::io_context io;
  AsyncMutex m;
  bool timed_out = false;
  bool later_got_it = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto held = co_await ScopedLock::Acquire(m);
        co_await Sleep(100ms);  // longer than the patience below
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::optional<ScopedLock> l = co_await ScopedLock::AcquireWithin(m, 20ms);
        timed_out = !l.has_value();
        // Gone from the queue: the holder's release hands the lock to the next waiter, or
        // frees it, and this one can ask again.
        std::optional<ScopedLock> again = co_await ScopedLock::AcquireWithin(m, 2s);
        later_got_it = again.has_value();
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(later_got_it);
  EXPECT_FALSE(m.locked()) << "a waiter that gave up must not keep the lock";
}

TEST(AsyncMutexTest, LockWithinTakesAFreeLockAtOnceAndAHandoverWithinItsPatience) {
  asio::io_context io;
  AsyncMutex m;
  int got = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::optional<ScopedLock> l = co_await ScopedLock::AcquireWithin(m, 0ms);
        if (l) ++got;
        co_await Sleep(10ms);
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::optional<ScopedLock> l = co_await ScopedLock::AcquireWithin(m, 2s);
        if (l) ++got;
      },
      asio::detached);
  io.run();
  EXPECT_EQ(got, 2);
  EXPECT_FALSE(m.locked());
}

}  // namespace
}  // namespace overseer::service
