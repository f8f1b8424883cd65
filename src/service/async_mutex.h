// AsyncMutex: a FIFO lock for coroutines on one io_context thread (no OS locking). It
// serializes the steps of one worker's (or job's) state changes across co_await points.
// Loop thread only.
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>

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

  // Like Lock, giving up after `patience`: true once the caller owns the lock, false (not
  // owning it, no longer waiting) when it was not handed over in time.
  boost::asio::awaitable<bool> LockWithin(std::chrono::steady_clock::duration patience) {
    if (!locked_) {
      locked_ = true;
      co_return true;
    }
    auto ex = co_await boost::asio::this_coro::executor;
    auto timer = std::make_shared<boost::asio::steady_timer>(ex);
    timer->expires_after(patience);
    waiters_.push_back(timer);
    (void)co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    // Handed over (Unlock took us off the queue, maybe after the timer had already expired),
    // or still queued: then the wait timed out.
    auto it = std::find(waiters_.begin(), waiters_.end(), timer);
    if (it == waiters_.end()) co_return true;
    waiters_.erase(it);
    co_return false;
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
  // The lock if it was handed over within `patience`, else nullopt.
  static boost::asio::awaitable<std::optional<ScopedLock>> AcquireWithin(
      AsyncMutex& m, std::chrono::steady_clock::duration patience) {
    // (No co_await inside a condition, and one co_return: GCC 12 miscompiles both here.)
    const bool owned = co_await m.LockWithin(patience);
    std::optional<ScopedLock> out;
    if (owned) out.emplace(ScopedLock(&m));
    co_return out;
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
