// BlockingPool: threads for blocking calls (sqlite3, file reads) so the event loop never
// blocks. RunBlocking hops to the pool, runs `fn`, and resumes on the caller's executor.
// Construct and destroy on the main thread; RunBlocking from loop coroutines.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace overseer::service {

class BlockingPool {
 public:
  explicit BlockingPool(size_t threads) : pool_(threads) {}
  ~BlockingPool() { Join(); }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  boost::asio::thread_pool::executor_type executor() { return pool_.get_executor(); }
  // Waits for queued work to finish and joins the threads. Idempotent.
  void Join() { pool_.join(); }

 private:
  boost::asio::thread_pool pool_;
};

// Runs `fn()` on the pool and resumes the awaiting coroutine on its own executor with the
// result. Not itself a coroutine: GCC 12 mis-destroys lambda captures moved into coroutine
// frames, so the work travels through async_initiate and two posts instead.
template <typename Fn>
auto RunBlocking(BlockingPool& pool, Fn fn) {
  using R = std::invoke_result_t<Fn&>;
  return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(R)>(
      [&pool](auto handler, Fn f) {
        auto home = boost::asio::get_associated_executor(handler);
        boost::asio::post(
            pool.executor(), [h = std::move(handler), f = std::move(f), home]() mutable {
              R result = f();
              boost::asio::post(home, [h = std::move(h), result = std::move(result)]() mutable {
                std::move(h)(std::move(result));
              });
            });
      },
      boost::asio::use_awaitable, std::move(fn));
}

}  // namespace overseer::service
