// PgPool: a bounded pool of PgConnections for the PostgreSQL store. Thread-safe: any thread
// may Acquire; a Lease is used by the thread that holds it and returns its connection when
// destroyed. Blocking (waits and connects): BlockingPool threads only, never the event loop.
//
// Connections open lazily, at most `size` at once. A connection found broken when handed out
// (its backend terminated, the server restarted) is closed and replaced by a new one; one
// that comes back broken, or inside a transaction that cannot be rolled back, is closed and
// its slot freed. The pool must outlive its leases.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/postgres/pg_connection.h"

namespace overseer::store::pg {

class PgPool {
 public:
  struct Options {
    int size = 4;  // connections open at most (>= 1)
  };
  struct Stats {
    int open = 0;           // connections open or being opened
    int idle = 0;           // open and not leased
    int64_t connects = 0;   // connections opened so far
    int64_t replaced = 0;   // idle connections found broken and replaced at Acquire
    int64_t discarded = 0;  // connections closed when they came back broken
  };

  // A connection on loan; returned to the pool when destroyed. Move-only.
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}
    // Gives back the connection held, then holds `other`'s.
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    PgConnection& operator*() const { return *conn_; }
    PgConnection* operator->() const { return conn_.get(); }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // Does not connect (the first Acquire does). `options.size` < 1 is a bug.
  PgPool(PgConfig config, Options options);
  // Every lease must be back (OVERSEER_CHECK).
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // A connection within `wait`: an idle one (checked alive without a round trip, replaced if
  // it is not), else a new one while fewer than `size` are open, else the next one returned.
  // kUnavailable when none is free within `wait` ("all N database connections busy"), or
  // when connecting fails (the time left of `wait` bounds the connect, and so does the
  // URL's connect_timeout).
  Result<Lease> Acquire(std::chrono::milliseconds wait);

  // Closes every idle connection (the next Acquire opens new ones): after a migration, so that
  // no connection keeps statements prepared for the old tables.
  void CloseIdle();

  Stats stats() const;
  int size() const { return options_.size; }
  const PgConfig& config() const { return config_; }

 private:
  void Return(std::unique_ptr<PgConnection> conn);

  const PgConfig config_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  Stats stats_;                                      // guarded by mu_ (idle: idle_.size())
};

}  // namespace overseer::store::pg
