// PgPool: lazily opened, bounded; broken connections replaced on the way out of the pool.
#include "store/postgres/pg_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "common/check.h"

namespace overseer::store::pg {

using Clock = std::chrono::steady_clock;

PgPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(std::move(conn_));
}

PgPool::Lease& PgPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr) pool_->Return(std::move(conn_));
    pool_ = std::exchange(other.pool_, nullptr);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

PgPool::PgPool(PgConfig config, Options options) : config_(std::move(config)), options_(options) {
  OVERSEER_CHECK(options_.size >= 1);
}

PgPool::~PgPool() {
  std::lock_guard lock(mu_);
  OVERSEER_CHECK(stats_.open == static_cast<int>(idle_.size()));
}

Result<PgPool::Lease> PgPool::Acquire(std::chrono::milliseconds wait) {
  const Clock::time_point deadline = Clock::now() + wait;
  std::unique_ptr<PgConnection> broken;  // closed outside the lock
  {
    std::unique_lock lock(mu_);
    while (true) {
      if (!idle_.empty()) {
        std::unique_ptr<PgConnection> conn = std::move(idle_.back());
        idle_.pop_back();
        if (conn->CheckAlive()) return Lease(this, std::move(conn));
        // Its slot stays counted in stats_.open: the replacement below takes it over.
        ++stats_.replaced;
        spdlog::warn("postgres: a pooled connection to {} was lost; replacing it",
                     config_.masked_url);
        broken = std::move(conn);
        break;
      }
      if (stats_.open < options_.size) {
        ++stats_.open;
        break;
      }
      if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          stats_.open >= options_.size) {
        return MakeError(ErrorCode::kUnavailable, "database unavailable: all " +
                                                      std::to_string(options_.size) +
                                                      " database connections busy");
      }
    }
  }
  broken.reset();
  const auto left =
      std::max(std::chrono::milliseconds(1),
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  Result<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect(config_, std::min(left, config_.connect_timeout));
  std::lock_guard lock(mu_);
  if (!conn) {
    --stats_.open;
    returned_.notify_one();  // a waiter may open one in the freed slot
    return std::move(conn).error();
  }
  ++stats_.connects;
  return Lease(this, std::move(*conn));
}

void PgPool::Return(std::unique_ptr<PgConnection> conn) {
  // A lease dropped mid-transaction (an early return that skipped the guard) is rolled back
  // here, so the next holder starts clean; anything odd closes the connection instead.
  bool keep = conn->CheckAlive();
  if (keep) {
    const PGTransactionStatusType tx = conn->transaction_status();
    if (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR) {
      keep = conn->Exec("ROLLBACK").ok();
    } else {
      keep = tx == PQTRANS_IDLE;
    }
  }
  std::unique_ptr<PgConnection> closing;
  {
    std::lock_guard lock(mu_);
    if (keep) {
      idle_.push_back(std::move(conn));
    } else {
      --stats_.open;
      ++stats_.discarded;
      closing = std::move(conn);
    }
  }
  returned_.notify_one();
  // `closing` is finished here, outside the lock.
}

void PgPool::CloseIdle() {
  std::vector<std::unique_ptr<PgConnection>> closing;  // finished outside the lock
  {
    std::lock_guard lock(mu_);
    closing.swap(idle_);
    stats_.open -= static_cast<int>(closing.size());
  }
  returned_.notify_all();
}

PgPool::Stats PgPool::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.idle = static_cast<int>(idle_.size());
  return s;
}

}  // namespace overseer::store::pg
