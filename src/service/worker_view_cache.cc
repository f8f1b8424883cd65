#include "service/worker_view_cache.h"

#include <utility>

namespace overseer::service {

std::shared_ptr<const WorkerView> WorkerViewCache::Find(const std::string& workspace_id,
                                                        const std::string& id) {
  const std::shared_ptr<const WorkerView>* found = entries_.Find(id);
  if (found == nullptr || (*found)->worker.workspace_id != workspace_id) return nullptr;
  return *found;
}

void WorkerViewCache::Put(WorkerView view) {
  std::string id = view.worker.id;
  entries_.Put(id, std::make_shared<const WorkerView>(std::move(view)));
}

}  // namespace overseer::service
