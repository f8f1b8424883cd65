// OpenStore: the one place that turns a --db URL into a Store backend. Only app names the
// concrete backends (STYLE.md); everything else sees store::Store. Called at start (serve,
// migrate), before the event loop runs; any thread.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace overseer::app {

// Opens (does not migrate) the store `url` names:
//   /abs/path or rel/path          a SQLite file (its directory is created if missing)
//   sqlite:///abs/path             the same, absolute
//   sqlite:rel/path, sqlite://rel  the same, relative to the working directory
//   :memory: or sqlite::memory:    a private SQLite database in memory
//   postgresql://[user[:password]@][host][:port][/database][?param=value...] or postgres://...
//                                  a PostgreSQL database (the password from the URL,
//                                  PGPASSWORD or ~/.pgpass; nothing connects until first use)
// Anything else with a scheme ("x://", "x:") or an empty path is kInvalidRequest naming the
// accepted forms. Errors of the backend's open pass through (kUnavailable, kInternal).
Result<std::unique_ptr<store::Store>> OpenStore(const std::string& url);

// The BlockingPool threads that call the store: 1 for SQLite (its single writer, one
// connection), 4 for PostgreSQL (a pooled connection each: reads are not queued behind a commit,
// nor behind a connect that waits for an unreachable server; the group commit stays one at a
// time).
int StoreThreads(const std::string& url);

// `url` as it may be shown (logs, messages): a PostgreSQL URL with its password masked.
std::string DisplayUrl(const std::string& url);

}  // namespace overseer::app
