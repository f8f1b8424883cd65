#include "service/background_tasks.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

namespace overseer::service {
namespace asio = boost::asio;

void BackgroundTasks::Spawn(asio::awaitable<void> work, const char* what) {
  ++running_;
  ++started_;
  asio::co_spawn(io_, std::move(work), [this, what](const std::exception_ptr& e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("{} failed: {}", what, ex.what());
      }
    }
    Ended();
  });
}

void BackgroundTasks::Ended() {
  --running_;
  if (running_ != 0) return;
  for (const auto& t : drain_waiters_) t->cancel();
  drain_waiters_.clear();
}

asio::awaitable<size_t> BackgroundTasks::Drain(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (running_ > 0 && std::chrono::steady_clock::now() < deadline) {
    auto timer = std::make_shared<asio::steady_timer>(io_, deadline);
    drain_waiters_.push_back(timer);
    (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (running_ > 0) spdlog::warn("shutdown: {} background tasks still running", running_);
  co_return running_;
}

}  // namespace overseer::service
