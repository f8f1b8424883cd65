// Which database the integration tests run the daemon on: SQLite (the default: a file in the
// daemon's state directory) or PostgreSQL when OVERSEER_IT_DB=postgres (ctest registers the
// whole suite a second time with it, label integration_pg).
//
// On PostgreSQL every Daemon gets a database of its own on one shared server: the cluster that
// the ctest fixture `pg` started for this ctest run (tests/support/pg_holder.cc; its URL in
// <build>/pg-it/ctest-<ctest pid>.url, found through getppid()), or, when the binary runs
// outside ctest (or the file is missing), a cluster this process starts itself on first use
// and stops at exit (PgCluster; its watchdog stops it if the process dies).
#pragma once

#include <string>

#include "common/result.h"

namespace overseer::it {

// OVERSEER_IT_DB=postgres.
bool OnPostgres();

// Creates a new, empty database on the shared server; its URL (the daemon migrates it).
Result<std::string> CreateTestDatabase();
// DROP DATABASE ... WITH (FORCE) for a URL CreateTestDatabase returned (failures are ignored:
// the cluster is thrown away at the end of the run anyway).
void DropTestDatabase(const std::string& url);

}  // namespace overseer::it
