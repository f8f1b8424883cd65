#include "service/idempotency.h"

namespace overseer::service {

boost::asio::awaitable<Result<store::IdempotencyRecord>> IdempotencyKeys::Begin(
    std::string workspace_id, std::string key, std::string fingerprint) {
  const TimeMs now = clock_.NowMs();
  co_return co_await RunBlocking(
      pool_, [&] { return store_.BeginIdempotent(workspace_id, key, fingerprint, now); });
}

boost::asio::awaitable<Status> IdempotencyKeys::Finish(std::string workspace_id, std::string key,
                                                       int status, std::string body) {
  const TimeMs now = clock_.NowMs();
  co_return co_await RunBlocking(
      pool_, [&] { return store_.FinishIdempotent(workspace_id, key, status, body, now); });
}

boost::asio::awaitable<Status> IdempotencyKeys::Drop(std::string workspace_id, std::string key) {
  co_return co_await RunBlocking(pool_, [&] { return store_.DropIdempotent(workspace_id, key); });
}

boost::asio::awaitable<Status> IdempotencyKeys::Purge(int64_t keep_ms, bool include_in_flight) {
  const TimeMs cutoff = clock_.NowMs() - keep_ms;
  co_return co_await RunBlocking(pool_,
                                 [&] { return store_.PurgeIdempotent(cutoff, include_in_flight); });
}

}  // namespace overseer::service
