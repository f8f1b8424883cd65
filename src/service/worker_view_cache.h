// WorkerViewCache: a bounded map of worker id -> the worker as GET answers it, for workers
// that can no longer change (terminal and no longer supervised). Such a record is immutable,
// so the cache needs no invalidation (and stays correct with several daemons on one database).
// It spares `GET /api/supervisor/workers/{id}` the database round trip on the hot path.
// Event loop thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/lru_map.h"
#include "core/types.h"
#include "proc/process_manager.h"

namespace overseer::service {

struct WorkerView {
  core::Worker worker;
  std::vector<core::Transition> transitions;
  proc::Usage usage;   // zeros when no process is alive
  bool final = false;  // the record can no longer change (terminal, not supervised)
};

class WorkerViewCache {
 public:
  explicit WorkerViewCache(size_t capacity) : entries_(capacity) {}

  // The cached view of `id` if it belongs to `workspace_id` (another workspace's: nullptr).
  std::shared_ptr<const WorkerView> Find(const std::string& workspace_id, const std::string& id);
  // Keeps `view` (the least recently used entry goes when full).
  void Put(WorkerView view);
  size_t size() const { return entries_.size(); }

 private:
  LruMap<std::shared_ptr<const WorkerView>> entries_;
};

}  // namespace overseer::service
