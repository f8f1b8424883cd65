// The integration tests' database choice and, on PostgreSQL, one database per Daemon on a
// shared server (see it_db.h).
#include "integration/it_db.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>

#include "common/ids.h"
#include "support/pg_cluster.h"

namespace overseer::it {
namespace {

std::mutex g_mu;
std::unique_ptr<test_support::PgCluster> g_own_cluster;  // guarded by g_mu
std::string g_server_url;                                // guarded by g_mu

// postgresql://overseer@127.0.0.1:<port>/overseer of the server this process uses.
Result<std::string> ServerUrl() {
  std::lock_guard lock(g_mu);
  if (!g_server_url.empty()) return g_server_url;
  // The cluster of this ctest run (tests/support/pg_holder.cc): ctest is our parent.
  std::ifstream in(std::string(OVERSEER_BINARY_DIR) + "/pg-it/ctest-" +
                   std::to_string(::getppid()) + ".url");
  std::string url;
  if (in && std::getline(in, url) && url.rfind("postgresql://", 0) == 0) {
    g_server_url = url;
    return g_server_url;
  }
  auto cluster = test_support::PgCluster::Start({.max_connections = 100});
  if (!cluster) return std::move(cluster).error();
  g_own_cluster = std::move(*cluster);
  g_server_url = g_own_cluster->url();
  std::atexit([] {
    std::lock_guard l(g_mu);
    g_own_cluster.reset();
  });
  return g_server_url;
}

// Runs one statement on the server's maintenance database `overseer`.
Status Exec(const std::string& server_url, const std::string& sql) {
  PGconn* conn = PQconnectdb(server_url.c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* res = PQexec(conn, sql.c_str());
    if (PQresultStatus(res) != PGRES_COMMAND_OK) error = PQresultErrorMessage(res);
    PQclear(res);
  }
  PQfinish(conn);
  if (!error.empty()) return MakeError(ErrorCode::kUnavailable, sql + ": " + error);
  return OkStatus();
}

// The URL with its database (the path after the authority) replaced.
std::string WithDatabase(const std::string& url, const std::string& database) {
  return url.substr(0, url.rfind('/') + 1) + database;
}

}  // namespace

bool OnPostgres() {
  const char* db = std::getenv("OVERSEER_IT_DB");  // NOLINT(concurrency-mt-unsafe)
  return db != nullptr && std::string(db) == "postgres";
}

Result<std::string> CreateTestDatabase() {
  Result<std::string> server = ServerUrl();
  if (!server) return std::move(server).error();
  const std::string name = "it_" + RandomHex(8);
  if (Status st = Exec(*server, "CREATE DATABASE " + name); !st) return std::move(st).error();
  return WithDatabase(*server, name);
}

void DropTestDatabase(const std::string& url) {
  Result<std::string> server = ServerUrl();
  if (!server) return;
  const std::string name = url.substr(url.rfind('/') + 1);
  (void)Exec(*server, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

}  // namespace overseer::it
