// Cancels over rows another writer holds, in the service harness: the cancel reads the active
// rows below its job from the database, then cancels them by compare-and-set in its commit. When
// that writer changes one of them between the read and the commit, the commit fails (kConflict)
// and the cancel reads again, once: a row the other writer moved on is canceled from where it is
// now, a row it ended is left as it ended. And a worker whose row a client reads before the
// daemon has its start's answer is found (it waits for the start), not refused as unsupervised.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "unit/service/forwarding_store.h"
#include "unit/service/harness.h"

namespace overseer::service::testing {
namespace {

using core::JobState;

// Another writer acting right after the cancel's read of the rows below a job: once armed, the
// next ListActiveDescendants answers what the database held, then runs `act` on the database.
class InterferingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::function<void(store::Store&)> act;  // one shot
  std::atomic<int> reads{0};

  Result<std::vector<core::Job>> ListActiveDescendants(const std::string& ws,
                                                       const std::string& ancestor,
                                                       int max_jobs) override {
    ++reads;
    Result<std::vector<core::Job>> rows =
        ForwardingStore::ListActiveDescendants(ws, ancestor, max_jobs);
    if (act) {
      std::function<void(store::Store&)> once = std::move(act);
      act = nullptr;
      once(inner());
    }
    return rows;
  }
};

class CancelHarnessTest : public ::testing::Test {
 protected:
  CancelHarnessTest()
      : h_(HarnessOptions(), [this](std::unique_ptr<store::Store> db) {
          auto s = std::make_unique<InterferingStore>(std::move(db));
          store_ = s.get();
          return s;
        }) {}

  // A row of another writer under `parent` (no process here).
  core::Job OtherWritersChild(const core::Job& parent, JobState status) {
    core::Job j;
    j.id = NewId("j_");
    j.workspace_id = "ws";
    j.name = "written elsewhere";
    j.status = status;
    j.depth = parent.depth + 1;
    j.parent_job_id = parent.id;
    j.task_json = R"({"runtime":"command","command":["true"]})";
    j.metadata_json = "{}";
    j.created_at = 1'800'000'000'000;
    j.updated_at = j.created_at;
    store::ChangeSet cs;
    cs.new_jobs.push_back(j);
    Status st = store_->Apply(cs);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return j;
  }

  // The other writer moves `row` from its status to `to`.
  static void Move(store::Store& db, core::Job row, JobState to) {
    const JobState from = row.status;
    row.status = to;
    row.status_reason = "OTHER_WRITER";
    store::ChangeSet cs;
    cs.job_updates.push_back(store::JobUpdate{row, from});
    Status st = db.Apply(cs);
    EXPECT_TRUE(st.ok()) << st.error().message;
  }

  Result<core::Job> Cancel(const std::string& id) {
    return h_.Run(h_.sup().jobs().CancelJob(Caller{"ws", ""}, id, std::chrono::milliseconds(10),
                                            /*wait=*/true));
  }

  InterferingStore* store_ = nullptr;
  ServiceHarness h_;
};

TEST_F(CancelHarnessTest, ARowMovedOnBetweenTheReadAndTheCommitIsCanceledOnTheSecondTry) {
  Result<core::Job> root = h_.Submit(CommandJob());
  ASSERT_TRUE(root.ok()) << root.error().message;
  ASSERT_TRUE(h_.WaitJob(root->id, JobState::kRunning));
  const core::Job child = OtherWritersChild(*root, JobState::kPending);
  // The other writer starts it right after the cancel read it PENDING.
  store_->act = [child](store::Store& db) { Move(db, child, JobState::kRunning); };

  Result<core::Job> canceled = Cancel(root->id);
  ASSERT_TRUE(canceled.ok()) << canceled.error().message;
  EXPECT_EQ(canceled->status, JobState::kCanceled);
  EXPECT_EQ(store_->reads.load(), 2) << "the cancel should have read the rows again once";
  const core::Job row = h_.JobRow(child.id);
  EXPECT_EQ(row.status, JobState::kCanceled);
  EXPECT_EQ(row.status_reason, "PARENT_CANCELED");
  EXPECT_EQ(h_.JobRow(root->id).status, JobState::kCanceled);
}

TEST_F(CancelHarnessTest, ARowEndedBetweenTheReadAndTheCommitIsLeftAsItEnded) {
  Result<core::Job> root = h_.Submit(CommandJob());
  ASSERT_TRUE(root.ok()) << root.error().message;
  ASSERT_TRUE(h_.WaitJob(root->id, JobState::kRunning));
  const core::Job child = OtherWritersChild(*root, JobState::kRunning);
  store_->act = [child](store::Store& db) { Move(db, child, JobState::kCompleted); };

  Result<core::Job> canceled = Cancel(root->id);
  ASSERT_TRUE(canceled.ok()) << canceled.error().message;
  EXPECT_EQ(canceled->status, JobState::kCanceled);
  EXPECT_EQ(store_->reads.load(), 2);
  const core::Job row = h_.JobRow(child.id);
  EXPECT_EQ(row.status, JobState::kCompleted);
  EXPECT_EQ(row.status_reason, "OTHER_WRITER");
}

TEST_F(CancelHarnessTest, WithNoOneInTheWayTheRowsBelowAreCanceledInOneCommit) {
  Result<core::Job> root = h_.Submit(CommandJob());
  ASSERT_TRUE(root.ok()) << root.error().message;
  ASSERT_TRUE(h_.WaitJob(root->id, JobState::kRunning));
  const core::Job child = OtherWritersChild(*root, JobState::kRunning);
  const core::Job grandchild = OtherWritersChild(child, JobState::kPending);

  Result<core::Job> canceled = Cancel(root->id);
  ASSERT_TRUE(canceled.ok()) << canceled.error().message;
  EXPECT_EQ(store_->reads.load(), 1);
  EXPECT_EQ(h_.JobRow(child.id).status, JobState::kCanceled);
  EXPECT_EQ(h_.JobRow(grandchild.id).status, JobState::kCanceled);
  EXPECT_EQ(h_.JobRow(grandchild.id).status_reason, "PARENT_CANCELED");
}

}  // namespace
}  // namespace overseer::service::testing

namespace overseer::service::testing {
namespace {

// The database answers a commit only once released: its rows are readable (a list shows them)
// while the daemon still waits for the answer.
class HeldAnswerStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::atomic<bool> hold{false};  // the next ApplyAll waits after writing
  CallGate gate;

  std::vector<Status> ApplyAll(std::span<const store::ChangeSet* const> changes) override {
    std::vector<Status> out = ForwardingStore::ApplyAll(changes);
    if (hold.exchange(false)) {
      gate.Wait();
    }
    return out;
  }
};

TEST(SubmitRaceTest, AWorkerSeenInTheDatabaseBeforeItsStartIsAnsweredIsFoundNotRefused) {
  HeldAnswerStore* db = nullptr;
  ServiceHarness h(HarnessOptions(), [&db](std::unique_ptr<store::Store> inner) {
    auto s = std::make_unique<HeldAnswerStore>(std::move(inner));
    db = s.get();
    return s;
  });
  db->hold = true;
  auto submitted = std::make_shared<std::optional<Result<core::Job>>>();
  h.Start(h.sup().jobs().CreateJob(Caller{"ws", ""}, CommandJob()), submitted);
  ASSERT_TRUE(h.Loop([&] { return db->gate.holding.load(); }));
  // Another client lists the workers (the start is committed) and pauses the new one at once.
  Result<store::Page<core::Worker>> listed = h.store().ListWorkers("ws", store::WorkerQuery{});
  ASSERT_TRUE(listed.ok() && listed->items.size() == 1u);
  const std::string wid = listed->items[0].id;
  auto paused = std::make_shared<std::optional<Result<core::Worker>>>();
  h.Start(h.sup().workers().Pause(Caller{"ws", ""}, wid), paused);
  h.Settle(std::chrono::milliseconds(20));
  db->gate.release = true;
  ASSERT_TRUE(h.Loop([&] { return paused->has_value() && submitted->has_value(); }));
  ASSERT_TRUE((*submitted)->ok());
  ASSERT_TRUE((*paused)->ok()) << (*paused)->error().message;
  EXPECT_EQ((**paused)->status, core::WorkerState::kPaused);
}

}  // namespace
}  // namespace overseer::service::testing
