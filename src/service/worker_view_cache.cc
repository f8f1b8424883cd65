#include "service/worker_view_cache.h"

#include <utility>

namespace overseer::service {

std::shared_ptr<const WorkerView> WorkerViewCache::Find(const std::string& workspace_id,
                                                        const std::string& id) {
  auto it = map_.find(id);
  if (it == map_.end() || it->second.view->worker.workspace_id != workspace_id) return nullptr;
  order_.splice(order_.begin(), order_, it->second.pos);
  return it->second.view;
}

void WorkerViewCache::Put(WorkerView view) {
  if (capacity_ == 0) return;
  std::string id = view.worker.id;
  auto shared = std::make_shared<const WorkerView>(std::move(view));
  if (auto it = map_.find(id); it != map_.end()) {
    it->second.view = std::move(shared);
    order_.splice(order_.begin(), order_, it->second.pos);
    return;
  }
  if (map_.size() >= capacity_) {
    map_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(id);
  map_.emplace(std::move(id), Entry{std::move(shared), order_.begin()});
}

}  // namespace overseer::service
