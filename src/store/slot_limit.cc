// The backend-neutral parts of ChangeSet::slot_limits (store.h): what a ChangeSet asks for at a
// depth, and the error when the slots held there break the quota. Pure; any thread.
#include <string>

#include "store/store.h"

namespace overseer::store {

int64_t SlotsRequested(const ChangeSet& changes, const std::string& workspace_id, int depth) {
  int64_t n = 0;
  for (const core::Allocation& a : changes.new_allocations) {
    if (a.workspace_id == workspace_id && a.depth == depth) n += a.worker_count;
  }
  return n;
}

Error SlotLimitExceeded(const SlotLimit& limit, int64_t held, int64_t requested) {
  Error e = MakeError(ErrorCode::kQuotaExceeded, "not enough free worker slots at depth " +
                                                     std::to_string(limit.depth) +
                                                     " (held by this and other writers)");
  e.With("depth", limit.depth)
      .With("quota", limit.max_workers)
      .With("used", held - requested)
      .With("requested", requested);
  return e;
}

}  // namespace overseer::store
