// PostgreSQL schema migrations (issue #12): the embedded src/store/migrations/postgres files
// (the same versions and names as the SQLite ones) run on one PgConnection, planned by the
// backend-neutral store/migrations.h. Each step runs in its own transaction and is recorded in
// (up) or deleted from (down) schema_migrations in that same transaction:
//
//   schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,
//                      applied_at timestamptz NOT NULL)
//
// created here when missing. Several daemons may start on one database at once: MigratePgUp and
// MigratePgDown hold the session-level advisory lock kPgMigrationLockKey for their whole run
// and read what is applied only once they hold it, so exactly one of them runs each step and
// the others find it done. The lock is released on every path (a lost connection releases it
// with the session).
//
// Errors (store.h): kUnavailable when the server cannot be reached or cannot serve now (a
// transaction it aborted, deadlock or serialization failure, counts as this too: retry
// later), kInvalidRequest for steps < 0, kInternal for anything else, including an applied
// version this binary does not know when going down over it. Messages never hold SQL or the
// server's text (that goes to the log).
//
// Blocking; the connection is used by one thread at a time (pg_connection.h).
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.h"
#include "store/migrations.h"
#include "store/postgres/pg_connection.h"
#include "store/store.h"

namespace overseer::store::pg {

// The pg_advisory_lock key (one bigint) held while migrating: "overseer" in ASCII,
// 0x6f76657273656572. Any other overseer process on the database takes the same one.
inline constexpr int64_t kPgMigrationLockKey = 0x6f76657273656572;

// ParseMigrations of the embedded postgres files (kInternal if they are malformed: a build bug).
Result<std::vector<Migration>> PostgresMigrations();

// The applied versions recorded in schema_migrations; creates the table if it is missing
// (under kPgMigrationLockKey, so two processes cannot race on the creation).
Result<AppliedMap> ReadAppliedMigrations(PgConnection& conn);

// Applies every migration of `known` not yet applied, ascending.
Status MigratePgUp(PgConnection& conn, const std::vector<Migration>& known);

// Rolls back the newest `steps` applied migrations, newest first (fewer if fewer are applied).
Status MigratePgDown(PgConnection& conn, const std::vector<Migration>& known, int steps);

// Every known migration with its applied flag, plus applied versions unknown to this binary.
Result<std::vector<MigrationInfo>> DescribePgMigrations(PgConnection& conn,
                                                        const std::vector<Migration>& known);

}  // namespace overseer::store::pg
