// PgPool against the binary's real PostgreSQL server: the bound, waiting, and replacing
// connections that were lost.
#include "store/postgres/pg_pool.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "unit/store_pg/pg_test_env.h"

namespace overseer::store::pg {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(PgPoolTest, NeverOpensMoreThanItsSizeAndWaitsUntilTheDeadline) {
  PgPool pool(ClusterConfig(), {.size = 2});
  Result<PgPool::Lease> a = pool.Acquire(milliseconds(5000));
  Result<PgPool::Lease> b = pool.Acquire(milliseconds(5000));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->backend_pid(), (*b)->backend_pid());
  const Clock::time_point start = Clock::now();
  Result<PgPool::Lease> c = pool.Acquire(milliseconds(200));
  const auto took = Clock::now() - start;
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_EQ(pool.stats().open, 2);

  // A waiter gets the connection given back, long before its deadline.
  const int a_pid = (*a)->backend_pid();
  std::thread giver([&] {
    std::this_thread::sleep_for(milliseconds(100));
    a = MakeError(ErrorCode::kInternal, "given back");  // destroys the lease
  });
  const Clock::time_point wait_start = Clock::now();
  Result<PgPool::Lease> d = pool.Acquire(milliseconds(10000));
  giver.join();
  ASSERT_TRUE(d.ok());
  EXPECT_LT(Clock::now() - wait_start, milliseconds(5000));
  EXPECT_EQ((*d)->backend_pid(), a_pid);  // the same connection, reused
  EXPECT_EQ(pool.stats().connects, 2);
}

TEST(PgPoolTest, ManyThreadsShareTheBoundedConnections) {
  PgPool pool(ClusterConfig(), {.size = 3});
  std::atomic<int> in_use{0};
  std::atomic<int> max_in_use{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        Result<PgPool::Lease> lease = pool.Acquire(milliseconds(10000));
        if (!lease.ok()) {
          ++failures;
          continue;
        }
        const int now = ++in_use;
        int seen = max_in_use.load();
        while (now > seen && !max_in_use.compare_exchange_weak(seen, now)) {
        }
        if (!(*lease)->Exec("SELECT pg_sleep(0.002)").ok()) ++failures;
        --in_use;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(max_in_use.load(), 3);
  EXPECT_LE(pool.stats().connects, 3);
  EXPECT_EQ(pool.stats().idle, pool.stats().open);
}

TEST(PgPoolTest, IdleConnectionTerminatedByTheServerIsReplacedAtAcquire) {
  PgPool pool(ClusterConfig(), {.size = 1});
  int old_pid = 0;
  {
    Result<PgPool::Lease> lease = pool.Acquire(milliseconds(5000));
    ASSERT_TRUE(lease.ok());
    old_pid = (*lease)->backend_pid();
  }
  TerminateBackendAndWait(old_pid);
  Result<PgPool::Lease> lease = pool.Acquire(milliseconds(5000));
  ASSERT_TRUE(lease.ok());
  EXPECT_NE((*lease)->backend_pid(), old_pid);
  Result<PgResult> r = (*lease)->Exec("SELECT 1");
  ASSERT_TRUE(r.ok());
  const PgPool::Stats stats = pool.stats();
  EXPECT_EQ(stats.replaced, 1);
  EXPECT_EQ(stats.connects, 2);
  EXPECT_EQ(stats.open, 1);
}

TEST(PgPoolTest, ConnectionLostWhileLeasedIsDiscardedAndTheNextOneIsFresh) {
  PgPool pool(ClusterConfig(), {.size = 1});
  {
    Result<PgPool::Lease> lease = pool.Acquire(milliseconds(5000));
    ASSERT_TRUE(lease.ok());
    TerminateBackendAndWait((*lease)->backend_pid());
    Result<PgResult> r = (*lease)->Exec("SELECT 1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  }
  EXPECT_EQ(pool.stats().discarded, 1);
  EXPECT_EQ(pool.stats().open, 0);
  Result<PgPool::Lease> lease = pool.Acquire(milliseconds(5000));
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE((*lease)->Exec("SELECT 1").ok());
}

TEST(PgPoolTest, LeaseReturnedInsideATransactionIsRolledBack) {
  PgPool pool(ClusterConfig(), {.size = 1});
  {
    Result<PgPool::Lease> lease = pool.Acquire(milliseconds(5000));
    ASSERT_TRUE(lease.ok());
    ASSERT_TRUE(
        (*lease)->ExecScript("DROP TABLE IF EXISTS pool_tx; CREATE TABLE pool_tx (id int)").ok());
    ASSERT_TRUE((*lease)->Exec("BEGIN").ok());
    ASSERT_TRUE((*lease)->Exec("INSERT INTO pool_tx VALUES (1)").ok());
  }
  Result<PgPool::Lease> lease = pool.Acquire(milliseconds(5000));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)->transaction_status(), PQTRANS_IDLE);
  Result<PgResult> r = (*lease)->Exec("SELECT count(*) FROM pool_tx");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Int64(0, 0), 0);
  EXPECT_EQ(pool.stats().connects, 1);  // kept, not reopened
}

TEST(PgPoolTest, MoveAssigningALeaseGivesBackTheOneItHeld) {
  PgPool pool(ClusterConfig(), {.size = 2});
  Result<PgPool::Lease> a = pool.Acquire(milliseconds(5000));
  Result<PgPool::Lease> b = pool.Acquire(milliseconds(5000));
  ASSERT_TRUE(a.ok() && b.ok());
  const int b_pid = (*b)->backend_pid();
  *a = std::move(*b);
  EXPECT_EQ((*a)->backend_pid(), b_pid);
  EXPECT_EQ(pool.stats().idle, 1);  // a's connection is back
  Result<PgPool::Lease> c = pool.Acquire(milliseconds(0));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(pool.stats().connects, 2);
}

TEST(PgPoolTest, UnreachableServerIsUnavailableAndFreesTheSlot) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);  // nothing listens there
  Result<PgConfig> config = ParsePgUrl(
      "postgresql://overseer@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/overseer");
  ASSERT_TRUE(config.ok());
  PgPool pool(*config, {.size = 1});
  for (int i = 0; i < 2; ++i) {  // the failed connect gave its slot back
    const Clock::time_point start = Clock::now();
    Result<PgPool::Lease> lease = pool.Acquire(milliseconds(5000));
    ASSERT_FALSE(lease.ok());
    EXPECT_EQ(lease.error().code, ErrorCode::kUnavailable);
    EXPECT_LT(Clock::now() - start, milliseconds(1000));
  }
  EXPECT_EQ(pool.stats().open, 0);
}

}  // namespace
}  // namespace overseer::store::pg
