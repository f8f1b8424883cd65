// The gtest Environment that starts the binary's PostgreSQL cluster, and its accessors.
#include "unit/store_pg/pg_test_env.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

#include "common/check.h"

namespace overseer::store::pg {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<test_support::PgCluster> g_cluster;

long long MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const Clock::time_point start = Clock::now();
    Result<std::unique_ptr<test_support::PgCluster>> cluster = test_support::PgCluster::Start();
    ASSERT_TRUE(cluster.ok()) << "cannot start the test PostgreSQL cluster: "
                              << cluster.error().message;
    g_cluster = std::move(*cluster);
    std::fprintf(stderr, "[ PgCluster ] started %s in %lld ms\n", g_cluster->url().c_str(),
                 MsSince(start));
  }
  void TearDown() override {
    const Clock::time_point start = Clock::now();
    g_cluster.reset();
    std::fprintf(stderr, "[ PgCluster ] stopped and removed in %lld ms\n", MsSince(start));
  }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PgEnvironment);

}  // namespace

test_support::PgCluster& Cluster() {
  OVERSEER_CHECK(g_cluster != nullptr);
  return *g_cluster;
}

PgConfig ClusterConfig() {
  Result<PgConfig> config = ParsePgUrl(Cluster().url());
  OVERSEER_CHECK(config.ok());
  return *config;
}

std::unique_ptr<PgConnection> ConnectOrDie() {
  Result<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect(ClusterConfig(), std::chrono::seconds(10));
  OVERSEER_CHECK(conn.ok());
  return std::move(*conn);
}

namespace {

// True once process `pid` has exited (gone, or a zombie).
bool ProcessGone(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field;
  std::string comm;
  char state = '?';
  stat >> pid_field >> comm >> state;
  return !stat || state == 'Z' || state == 'X';
}

}  // namespace

void TerminateBackendAndWait(int pid) {
  std::unique_ptr<PgConnection> admin = ConnectOrDie();
  // The timeout argument (PostgreSQL 14+) makes it wait until the backend has ended.
  Result<PgResult> r = admin->Exec("SELECT pg_terminate_backend($1, 10000)", pid);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->Text(0, 0), "t");
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
  while (!ProcessGone(pid)) {
    ASSERT_LT(Clock::now(), deadline) << "backend " << pid << " still running";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace overseer::store::pg
