// Idempotency keys (SPEC §6) over the store, on the BlockingPool. Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "common/result.h"
#include "common/time.h"
#include "service/blocking_pool.h"
#include "store/store.h"

namespace overseer::service {

class IdempotencyKeys {
 public:
  IdempotencyKeys(BlockingPool& pool, store::Store& store, const Clock& clock)
      : pool_(pool), store_(store), clock_(clock) {}

  boost::asio::awaitable<Result<store::IdempotencyRecord>> Begin(std::string workspace_id,
                                                                 std::string key,
                                                                 std::string fingerprint);
  boost::asio::awaitable<Status> Finish(std::string workspace_id, std::string key, int status,
                                        std::string body);
  boost::asio::awaitable<Status> Drop(std::string workspace_id, std::string key);
  // Deletes keys older than `keep_ms` (SPEC: kept at least 24 h).
  boost::asio::awaitable<Status> Purge(int64_t keep_ms, bool include_in_flight);

 private:
  BlockingPool& pool_;
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace overseer::service
