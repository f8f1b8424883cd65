// CommitQueue: group commit in front of the store's single writer. Commit(cs) queues the
// ChangeSet; while one batch is being written on the BlockingPool, the ChangeSets that arrive
// wait and are then written together, in one transaction (Store::ApplyAll, a savepoint each).
// Each caller gets exactly what Store::Apply would have answered for its own ChangeSet.
// Under a burst (many submits, exits) this turns N commits into a few; alone, a commit costs
// what it did. Start(cs) queues at once and Wait(ticket) gives the answer later, so the caller
// can work (start processes) while the store writes. Loop thread only; the ChangeSet must
// outlive the co_await, or the Wait (it is not copied).
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/metrics.h"
#include "common/result.h"
#include "service/blocking_pool.h"
#include "store/store.h"

namespace overseer::service {

class CommitQueue {
 public:
  // `metrics` (optional) gets overseer_commits_total (ChangeSets written) and
  // overseer_commit_transactions_total (the transactions that wrote them).
  CommitQueue(boost::asio::io_context& io, BlockingPool& pool, store::Store& store,
              MetricsRegistry* metrics = nullptr);

  boost::asio::awaitable<Status> Commit(const store::ChangeSet& cs) {
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(Status)>(
        [this, &cs](auto handler) {
          queue_.push_back(Pending{&cs, Handler(std::move(handler))});
          if (!writing_) WriteBatch();
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

 private:
  using Handler = boost::asio::any_completion_handler<void(Status)>;
  struct Pending {
    const store::ChangeSet* cs;
    Handler done;
  };
  void WriteBatch();

  boost::asio::io_context& io_;
  BlockingPool& pool_;
  store::Store& store_;
  std::vector<Pending> queue_;
  bool writing_ = false;
  Counter own_batches_;  // used when no registry is given
  Counter own_committed_;
  Counter* batches_;
  Counter* committed_;
};

}  // namespace overseer::service
