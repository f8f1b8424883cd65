#include "service/worker_view_cache.h"

#include <gtest/gtest.h>

namespace overseer::service {
namespace {

WorkerView View(const std::string& ws, const std::string& id, const std::string& reason = "") {
  WorkerView v;
  v.worker.workspace_id = ws;
  v.worker.id = id;
  v.worker.status = core::WorkerState::kCompleted;
  v.transitions.push_back(core::Transition{"RUNNING", "COMPLETED", reason, 1});
  return v;
}

TEST(WorkerViewCacheTest, AnswersOnlyTheOwningWorkspace) {
  WorkerViewCache cache(4);
  cache.Put(View("ws_a", "w_1"));
  ASSERT_NE(cache.Find("ws_a", "w_1"), nullptr);
  EXPECT_EQ(cache.Find("ws_a", "w_1")->worker.id, "w_1");
  EXPECT_EQ(cache.Find("ws_b", "w_1"), nullptr);  // another workspace: as if missing
  EXPECT_EQ(cache.Find("ws_a", "w_2"), nullptr);
}

TEST(WorkerViewCacheTest, EvictsTheLeastRecentlyUsedWhenFull) {
  WorkerViewCache cache(2);
  cache.Put(View("ws", "w_1"));
  cache.Put(View("ws", "w_2"));
  ASSERT_NE(cache.Find("ws", "w_1"), nullptr);  // w_1 is now the most recently used
  cache.Put(View("ws", "w_3"));                 // evicts w_2
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.Find("ws", "w_1"), nullptr);
  EXPECT_EQ(cache.Find("ws", "w_2"), nullptr);
  EXPECT_NE(cache.Find("ws", "w_3"), nullptr);
}

TEST(WorkerViewCacheTest, PutOfAKnownIdReplacesWithoutGrowing) {
  WorkerViewCache cache(2);
  cache.Put(View("ws", "w_1", "old"));
  cache.Put(View("ws", "w_1", "new"));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find("ws", "w_1")->transitions.at(0).reason, "new");
}

TEST(WorkerViewCacheTest, ZeroCapacityKeepsNothing) {
  WorkerViewCache cache(0);
  cache.Put(View("ws", "w_1"));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Find("ws", "w_1"), nullptr);
}

}  // namespace
}  // namespace overseer::service
