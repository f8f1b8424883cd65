#include "service/commit_queue.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <utility>

namespace overseer::service {

CommitQueue::CommitQueue(boost::asio::io_context& io, BlockingPool& pool, store::Store& store,
                         MetricsRegistry* metrics)
    : io_(io),
      pool_(pool),
      store_(store),
      batches_(metrics ? &metrics->GetCounter("overseer_commit_transactions_total",
                                              "Database transactions written by the group commit.")
                       : &own_batches_),
      committed_(metrics ? &metrics->GetCounter("overseer_commits_total",
                                                "Status changes (ChangeSets) committed.")
                         : &own_committed_) {}

std::shared_ptr<CommitQueue::Ticket> CommitQueue::Start(const store::ChangeSet& cs) {
  auto ticket = std::make_shared<Ticket>();
  queue_.push_back(Pending{&cs, Handler([ticket](Status st) {
                             ticket->result = std::move(st);
                             if (ticket->wake) ticket->wake->cancel();
                           })});
  if (!writing_) WriteBatch();
  return ticket;
}

boost::asio::awaitable<Status> CommitQueue::Wait(std::shared_ptr<Ticket> ticket) {
  while (!ticket->result) {  // woken by the batch's answer (the timer never expires)
    if (!ticket->wake) ticket->wake.emplace(io_, boost::asio::steady_timer::time_point::max());
    (void)co_await ticket->wake->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  co_return std::move(*ticket->result);
}

void CommitQueue::WriteBatch() {
  writing_ = true;
  auto batch = std::make_shared<std::vector<Pending>>(std::move(queue_));
  queue_.clear();
  boost::asio::post(pool_.executor(), [this, batch] {
    std::vector<const store::ChangeSet*> changes;
    changes.reserve(batch->size());
    for (const Pending& p : *batch) changes.push_back(p.cs);
    std::vector<Status> results = store_.ApplyAll(changes);
    boost::asio::post(io_, [this, batch, results = std::move(results)]() mutable {
      batches_->Add();
      committed_->Add(static_cast<int64_t>(batch->size()));
      writing_ = false;
      // Each waiter resumes in its own handler (no re-entry from here).
      for (size_t i = 0; i < batch->size(); ++i) {
        boost::asio::post(io_, [done = std::move((*batch)[i].done),
                                st = std::move(results[i])]() mutable { std::move(done)(st); });
      }
      if (!queue_.empty()) WriteBatch();
    });
  });
}

}  // namespace overseer::service
