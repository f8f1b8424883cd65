// AsyncMutex: a FIFO lock for coroutines on one io_context thread (no OS locking). It
// serializes the steps of one worker's (or job's) state changes across co_await points.
// Loop thread only.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <memory>

namespace overseer::service {

class AsyncMutex {
 public:
  // Resumes once the caller owns the lock; pair with Unlock (or use ScopedLock).
  boost::asio::awaitable<void> Lock() {
    if (!locked_) {
      locked_ = true;
      co_return;
    }
    auto ex = co_await boost::asio::this_coro::executor;
    auto timer = std::make_shared<boost::asio::steady_timer>(ex);
    timer->expires_at(boost::asio::steady_timer::time_point::max());
    waiters_.push_back(timer);
    // Unlock cancels the timer: ownership passes to us with locked_ still true.
    (void)co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

  void Unlock() {
    if (waiters_.empty()) {
      locked_ = false;
      return;
    }
    auto next = waiters_.front();
    waiters_.pop_front();
    next->cancel();
  }

  bool locked() const { return locked_; }

 private:
  bool locked_ = false;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

// RAII owner of a locked AsyncMutex: `auto guard = co_await ScopedLock::Acquire(m);`.
class ScopedLock {
 public:
  static boost::asio::awaitable<ScopedLock> Acquire(AsyncMutex& m) {
    co_await m.Lock();
    co_return ScopedLock(&m);
  }
  ScopedLock() = default;
  ScopedLock(ScopedLock&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
  ScopedLock& operator=(ScopedLock&& o) noexcept {
    if (this != &o) {
      Release();
      m_ = o.m_;
      o.m_ = nullptr;
    }
    return *this;
  }
  ~ScopedLock() { Release(); }
  void Release() {
    if (m_ != nullptr) m_->Unlock();
    m_ = nullptr;
  }

 private:
  explicit ScopedLock(AsyncMutex* m) : m_(m) {}
  AsyncMutex* m_ = nullptr;
};

}  // namespace overseer::service
