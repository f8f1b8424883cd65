#include "service/commit_queue.h"

#include <boost/asio/post.hpp>
#include <memory>
#include <utility>

namespace overseer::service {

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
      ++batches_;
      committed_ += static_cast<int64_t>(batch->size());
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
