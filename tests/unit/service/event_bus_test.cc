#include "service/event_bus.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "service/background_tasks.h"

namespace overseer::service {
namespace {

namespace asio = boost::asio;

core::Event JobEvent(const std::string& job, const std::string& to) {
  core::Event e;
  e.type = core::EventType::kJobTransition;
  e.job_id = job;
  e.to_state = to;
  return e;
}

TEST(EventBusTest, SubscribersGetEveryEventInOrderUntilTheyLetGo) {
  EventBus bus;
  std::vector<std::string> seen;
  std::optional<EventBus::Subscription> sub =
      bus.Subscribe([&](const core::Event& e) { seen.push_back(e.job_id + ":" + e.to_state); });
  std::vector<core::Event> batch{JobEvent("j1", "RUNNING"), JobEvent("j1", "COMPLETED")};
  bus.Publish(batch);
  EXPECT_EQ(seen, (std::vector<std::string>{"j1:RUNNING", "j1:COMPLETED"}));
  sub.reset();
  bus.Publish(batch);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(bus.subscribers(), 0u);
  EXPECT_EQ(bus.published(), 4);
}

TEST(EventBusTest, AHandlerMayUnsubscribeItselfAndCloseWakesEveryone) {
  EventBus bus;
  int calls = 0;
  int closed = 0;
  EventBus::Subscription self;
  self = bus.Subscribe([&](const core::Event&) {
    ++calls;
    self.Reset();
  });
  EventBus::Subscription other = bus.Subscribe([](const core::Event&) {}, [&] { ++closed; });
  std::vector<core::Event> two{JobEvent("a", "RUNNING"), JobEvent("b", "RUNNING")};
  bus.Publish(two);
  EXPECT_EQ(calls, 1);
  bus.Close();
  bus.Close();
  EXPECT_EQ(closed, 1);
  bus.Publish(two);  // closed: nothing more
  EXPECT_EQ(bus.published(), 2);
}

TEST(EventBusTest, ASubscriptionMayOutliveItsBus) {
  EventBus::Subscription sub;
  {
    EventBus bus;
    sub = bus.Subscribe([](const core::Event&) {});
  }
  sub.Reset();  // no access to the destroyed bus (ASan would say so)
}

asio::awaitable<void> SleepFor(asio::io_context& io, std::chrono::milliseconds d, int* done) {
  asio::steady_timer t(io, d);
  co_await t.async_wait(asio::use_awaitable);
  ++*done;
}

asio::awaitable<void> Throws() {
  throw std::runtime_error("boom");
  co_return;
}

TEST(BackgroundTasksTest, DrainWaitsForEveryTaskIncludingFailingOnes) {
  asio::io_context io;
  BackgroundTasks tasks(io);
  int done = 0;
  tasks.Spawn(SleepFor(io, std::chrono::milliseconds(20), &done), "sleep");
  tasks.Spawn(SleepFor(io, std::chrono::milliseconds(5), &done), "sleep");
  tasks.Spawn(Throws(), "throw");
  EXPECT_EQ(tasks.running(), 3u);
  std::optional<size_t> left;
  asio::co_spawn(io, tasks.Drain(std::chrono::seconds(5)),
                 [&](std::exception_ptr, size_t n) { left = n; });
  io.run();
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(done, 2);
  EXPECT_EQ(tasks.running(), 0u);
  EXPECT_EQ(tasks.started(), 3u);
}

TEST(BackgroundTasksTest, DrainGivesUpAfterItsLimit) {
  asio::io_context io;
  BackgroundTasks tasks(io);
  int done = 0;
  tasks.Spawn(SleepFor(io, std::chrono::milliseconds(300), &done), "slow");
  std::optional<size_t> left;
  asio::co_spawn(io, tasks.Drain(std::chrono::milliseconds(10)),
                 [&](std::exception_ptr, size_t n) { left = n; });
  while (!left) io.run_one();
  EXPECT_EQ(left, 1u);
  io.run();
  EXPECT_EQ(done, 1);
}

}  // namespace
}  // namespace overseer::service
