#include "service/commit_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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
  Queue(Pending{&cs, Handler([ticket](Status st) {
                  ticket->result = std::move(st);
                  if (ticket->wake) ticket->wake->cancel();
                })});
  return ticket;
}

void CommitQueue::Queue(Pending p) {
  if (outage_ && p.durability == Durability::kAnswerNow) {
    // Commits that must be written are waiting for the database: nothing overtakes them.
    Answer(std::move(p.done), MakeError(ErrorCode::kUnavailable,
                                        "database unavailable: the daemon is waiting for it to "
                                        "come back; retry later"));
    return;
  }
  queue_.push_back(std::move(p));
  if (!writing_) WriteBatch();
}

void CommitQueue::Answer(Handler done, Status st) {
  boost::asio::post(
      io_, [done = std::move(done), st = std::move(st)]() mutable { std::move(done)(st); });
}

void CommitQueue::Close() {
  closed_ = true;
  if (retry_timer_) retry_timer_->cancel();
  if (!outage_) return;
  outage_ = false;
  writing_ = false;
  std::vector<Pending> waiting = std::move(queue_);
  queue_.clear();
  for (Pending& p : waiting) {
    Answer(std::move(p.done),
           MakeError(ErrorCode::kUnavailable, "database unavailable at shutdown"));
  }
}

void CommitQueue::RetryLater() {
  backoff_ =
      std::clamp(backoff_ * 2, std::chrono::milliseconds(250), std::chrono::milliseconds(5000));
  retry_timer_.emplace(io_, backoff_);
  retry_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || closed_ || !outage_) return;
    WriteBatch();
  });
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
      writing_ = false;
      // Commits that must be written and met an outage wait, in order; everything else is
      // answered now.
      std::vector<Pending> wait;
      for (size_t i = 0; i < batch->size(); ++i) {
        Pending& p = (*batch)[i];
        if (!results[i] && results[i].error().code == ErrorCode::kUnavailable && !closed_ &&
            p.durability == Durability::kUntilWritten) {
          wait.push_back(std::move(p));
          continue;
        }
        Answer(std::move(p.done), std::move(results[i]));
      }
      batches_->Add();
      committed_->Add(static_cast<int64_t>(batch->size() - wait.size()));
      if (!wait.empty()) {
        if (!outage_)
          spdlog::warn("database unavailable: {} commit(s) that record process exits wait for it",
                       wait.size());
        outage_ = true;
        writing_ = true;  // until the retry
        // Those that arrived meanwhile: the ones that must be written queue behind, the
        // others are answered as any commit during the outage.
        for (Pending& p : queue_) {
          if (p.durability == Durability::kUntilWritten) {
            wait.push_back(std::move(p));
          } else {
            Answer(std::move(p.done),
                   MakeError(ErrorCode::kUnavailable, "database unavailable; retry later"));
          }
        }
        queue_ = std::move(wait);
        RetryLater();
        return;
      }
      if (outage_) spdlog::info("database back: the commits that waited are written");
      outage_ = false;
      backoff_ = std::chrono::milliseconds(0);
      if (!queue_.empty()) WriteBatch();
    });
  });
}

}  // namespace overseer::service
