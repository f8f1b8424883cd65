// WorkerViewCache: a bounded map of worker id -> the worker as GET answers it, for workers
// that can no longer change (terminal and no longer supervised). Such a record is immutable,
// so the cache needs no invalidation (and stays correct with several daemons on one database).
// It spares `GET /api/supervisor/workers/{id}` the database round trip on the hot path.
// Event loop thread only.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/types.h"
#include "proc/process_manager.h"

namespace overseer::service {

struct WorkerView {
  core::Worker worker;
  std::vector<core::Transition> transitions;
  proc::Usage usage;  // zeros when no process is alive
};

class WorkerViewCache {
 public:
  explicit WorkerViewCache(size_t capacity) : capacity_(capacity) {}

  // The cached view of `id` if it belongs to `workspace_id` (another workspace's: nullptr).
  std::shared_ptr<const WorkerView> Find(const std::string& workspace_id, const std::string& id);
  // Keeps `view` (the least recently used entry goes when full).
  void Put(WorkerView view);
  size_t size() const { return map_.size(); }

 private:
  using Order = std::list<std::string>;  // most recently used first
  struct Entry {
    std::shared_ptr<const WorkerView> view;
    Order::iterator pos;
  };
  size_t capacity_;
  Order order_;
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace overseer::service
