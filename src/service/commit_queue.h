// CommitQueue: group commit in front of the store's single writer. Commit(cs) queues the
// ChangeSet; while one batch is being written on the BlockingPool, the ChangeSets that arrive
// wait and are then written together, in one transaction (Store::ApplyAll, a savepoint each).
// Each caller gets exactly what Store::Apply would have answered for its own ChangeSet.
// Under a burst (many submits, exits) this turns N commits into a few; alone, a commit costs
// what it did. Start(cs) queues at once and Wait(ticket) gives the answer later, so the caller
// can work (start processes) while the store writes. Loop thread only; the ChangeSet must
// outlive the co_await, or the Wait (it is not copied).
//
// Database outages: a commit answered kUnavailable is normally answered so (the API says 503,
// nothing changed). A commit that records what already happened and cannot be refused — a
// process exited — is queued with Durability::kUntilWritten instead: it is retried, with the
// ones behind it and in order, every 250 ms .. 5 s until the database takes it, and answered
// then (at most until Close()). While such commits wait, every other commit is answered
// kUnavailable at once (without a round trip), so nothing overtakes them and API calls fail fast.
// Close() (at shutdown) answers the waiting ones kUnavailable.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/metrics.h"
#include "common/result.h"
#include "service/blocking_pool.h"
#include "store/store.h"

namespace overseer::service {

enum class Durability {
  kAnswerNow,     // kUnavailable is answered at once
  kUntilWritten,  // kUnavailable is retried until the database is back (see above)
};

class CommitQueue {
 public:
  // `metrics` (optional) gets overseer_commits_total (ChangeSets written) and
  // overseer_commit_transactions_total (the transactions that wrote them).
  CommitQueue(boost::asio::io_context& io, BlockingPool& pool, store::Store& store,
              MetricsRegistry* metrics = nullptr);

  boost::asio::awaitable<Status> Commit(const store::ChangeSet& cs,
                                        Durability durability = Durability::kAnswerNow) {
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(Status)>(
        [this, &cs, durability](auto handler) {
          Queue(Pending{&cs, Handler(std::move(handler)), durability});
        },
        boost::asio::use_awaitable);
  }

  // A commit queued by Start, answered through Wait.
  struct Ticket {
    std::optional<Status> result;
    std::optional<boost::asio::steady_timer> wake;  // set while a Wait is suspended
  };

  // Queues `cs` now (written at once if no batch is being written) without waiting for it.
  std::shared_ptr<Ticket> Start(const store::ChangeSet& cs);
  // The answer Commit(cs) would have given for the ChangeSet of `ticket`. Once per ticket.
  boost::asio::awaitable<Status> Wait(std::shared_ptr<Ticket> ticket);

  // Transactions written so far, and the ChangeSets in them (for tests and metrics).
  int64_t batches() const { return batches_->value(); }
  int64_t committed() const { return committed_->value(); }
  // Commits waiting for the database to come back (kUntilWritten ones and those behind them).
  size_t waiting_for_database() const { return outage_ ? queue_.size() : 0; }
  // Answers every commit waiting for the database kUnavailable and stops retrying; from then
  // on kUntilWritten is answered like kAnswerNow (shutdown: bounded).
  void Close();

 private:
  using Handler = boost::asio::any_completion_handler<void(Status)>;
  struct Pending {
    const store::ChangeSet* cs;
    Handler done;
    Durability durability = Durability::kAnswerNow;
  };
  void Queue(Pending p);
  void WriteBatch();
  // Answers `done` with `st` in a handler of its own (no re-entry).
  void Answer(Handler done, Status st);
  void RetryLater();

  boost::asio::io_context& io_;
  BlockingPool& pool_;
  store::Store& store_;
  std::vector<Pending> queue_;
  bool writing_ = false;  // a batch is being written, or a retry is due (outage_)
  bool outage_ = false;   // kUntilWritten commits wait for the database
  bool closed_ = false;
  std::chrono::milliseconds backoff_{0};
  std::optional<boost::asio::steady_timer> retry_timer_;
  Counter own_batches_;  // used when no registry is given
  Counter own_committed_;
  Counter* batches_;
  Counter* committed_;
};

}  // namespace overseer::service
