// The PostgreSQL server of the unit_store_pg binary: one PgCluster, started once per process
// by a gtest Environment (pg_test_env.cc) and stopped at its end, also when tests fail (and by
// its watchdog when the process dies). Main thread: tests reach it through Cluster().
#pragma once

#include <chrono>
#include <memory>

#include "store/postgres/pg_connection.h"
#include "support/pg_cluster.h"

namespace overseer::store::pg {

// The running cluster (aborts if the Environment did not start one: then no test runs).
test_support::PgCluster& Cluster();
// The cluster's URL, parsed.
PgConfig ClusterConfig();
// A new connection to the cluster as its superuser; aborts on failure (a test's precondition).
std::unique_ptr<PgConnection> ConnectOrDie();
// Terminates backend `pid` (pg_terminate_backend) and waits until its process has exited, so
// its socket is closed (the server stops listing it in pg_stat_activity a little earlier).
// A gtest failure if it is still there after 10 s.
void TerminateBackendAndWait(int pid);

}  // namespace overseer::store::pg
