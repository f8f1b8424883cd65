// BackgroundTasks: every coroutine the services start without awaiting it (an exit to record,
// a retry due, a cascade, a commit nobody waits for) is started here, counted, and drained at
// shutdown: none is fire-and-forget. Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

namespace overseer::service {

class BackgroundTasks {
 public:
  explicit BackgroundTasks(boost::asio::io_context& io) : io_(io) {}
  BackgroundTasks(const BackgroundTasks&) = delete;
  BackgroundTasks& operator=(const BackgroundTasks&) = delete;

  // Starts `work` on the loop; an exception it ends with is logged as "`what` failed: ...".
  // `what` must be a string literal.
  void Spawn(boost::asio::awaitable<void> work, const char* what);

  // Coroutines started and not yet ended.
  size_t running() const { return running_; }
  size_t started() const { return started_; }

  // Resumes once none is running (including those started meanwhile), or after `limit`;
  // answers how many were still running then.
  boost::asio::awaitable<size_t> Drain(std::chrono::milliseconds limit);

 private:
  void Ended();

  boost::asio::io_context& io_;
  size_t running_ = 0;
  size_t started_ = 0;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> drain_waiters_;
};

}  // namespace overseer::service
