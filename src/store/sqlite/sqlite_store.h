// The SQLite backend of Store: one connection (Debian's SQLite 3.40.1 has the WAL-reset bug
// with several writers), WAL, synchronous=NORMAL, foreign_keys=ON, busy_timeout=5000 ms,
// write transactions with BEGIN IMMEDIATE, prepared statements cached per SQL text.
// Every method takes one internal mutex, so the object may be called from any thread, one
// call at a time being served; the service keeps it on the one-thread BlockingPool.
//
// Beyond store.h: list `limit` < 1 is kInvalidRequest, MigrateDown with steps < 0 is
// kInvalidRequest, FinishIdempotent with status <= 0 is kInvalidRequest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace overseer::store {

// Opens (creating if missing) the database at `path`: a file path (its parent directory is
// created if missing) or ":memory:" (a private database that lives as long as the Store).
// Does not migrate: call MigrateUp(). Errors: kUnavailable if the directory or file cannot
// be created or opened; kInternal if the file is not a database or the embedded migrations
// are malformed.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

// Test only: the number of rows in `table` ([a-z_]+) of a store made by OpenSqliteStore.
// kInvalidRequest if `store` is not a SQLite store or the name is not a plain identifier.
Result<int64_t> SqliteCountRowsForTest(Store& store, const std::string& table);

}  // namespace overseer::store
