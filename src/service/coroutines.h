// Internal to src/service: the coroutine helpers its services share (awaiting a callback,
// a background task whose result is dropped, a count-down over parallel work). Loop thread
// only.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "common/time.h"
#include "core/types.h"

namespace overseer::service::internal {

// Runs `start(done)` and resumes once `done` has been called (possibly synchronously).
inline boost::asio::awaitable<void> AwaitCallback(
    const std::function<void(std::function<void()>)>& start) {
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
  auto fired = std::make_shared<bool>(false);
  start([timer, fired] {
    *fired = true;
    timer->cancel();
  });
  if (!*fired) {
    (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// `work`, its result dropped (a background task whose failure it logs itself).
template <typename T>
boost::asio::awaitable<void> Discard(boost::asio::awaitable<T> work) {
  (void)co_await std::move(work);
}

// `work`, then one less in `*remaining`; the last one wakes `done`.
template <typename T>
boost::asio::awaitable<void> CountDown(boost::asio::awaitable<T> work,
                                       std::shared_ptr<size_t> remaining,
                                       std::shared_ptr<boost::asio::steady_timer> done) {
  try {
    (void)co_await std::move(work);
  } catch (...) {
    if (--*remaining == 0) done->cancel();
    throw;
  }
  if (--*remaining == 0) done->cancel();
}

}  // namespace overseer::service::internal
