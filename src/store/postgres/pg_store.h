// The PostgreSQL backend of Store (issue #12, SPEC §8): libpq through a bounded pool of
// connections (pg_pool.h), statements prepared per connection, READ COMMITTED transactions
// whose compare-and-sets are single UPDATEs (the row lock makes a concurrent loser see the
// winner's status), preconditions read FOR SHARE, idempotency keys by INSERT ... ON CONFLICT.
// Apply is one transaction; ApplyAll one transaction with a savepoint per ChangeSet. A
// transaction the server aborts (serialization failure, deadlock) is run again a bounded
// number of times, then answered kUnavailable ("database busy"), so no caller waits forever.
// Times are timestamptz, JSON columns jsonb (read back as PostgreSQL prints them: the same
// JSON value, with its own spacing and key order). Thread-safe: any number of threads at once.
//
// Beyond store.h: list `limit` < 1 is kInvalidRequest, MigrateDown with steps < 0 is
// kInvalidRequest, FinishIdempotent with status <= 0 is kInvalidRequest.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace overseer::store {

struct PostgresOptions {
  int pool_size = 4;                             // connections open at most
  std::chrono::milliseconds acquire_wait{5000};  // for a free connection (incl. connect)
  int conflict_retries = 5;                      // runs again of an aborted transaction
};

// A store on the database of `url` (postgresql:// or postgres://; the password from the URL,
// PGPASSWORD or ~/.pgpass). Does not connect (the first call does) and does not migrate.
// kInvalidRequest (the URL masked in the message) if the URL is malformed.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url,
                                                 PostgresOptions options = {});

// Test only: the number of rows in `table` ([a-z_]+) of a store made by OpenPostgresStore.
Result<int64_t> PostgresCountRowsForTest(Store& store, const std::string& table);

}  // namespace overseer::store
