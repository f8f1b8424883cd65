// The Store conformance suite (store_conformance.h), continued: what a cancel cascade and a
// dependency's end read from the database (SPEC §8's job_hierarchy and job_dependencies) — the
// jobs below a job, and the jobs waiting for one, that have not ended, whoever wrote them.
// Runs on every backend (unit_store, unit_store_pg).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/types.h"
#include "unit/store/store_conformance.h"

namespace overseer::store::testing_support {
namespace {

using core::Job;
using core::JobState;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& ok_status_ = (expr);                            \
    ASSERT_TRUE(ok_status_.ok()) << ok_status_.error().message; \
  } while (false)

std::vector<std::string> IdsOf(const Result<std::vector<Job>>& rows) {
  std::vector<std::string> out;
  if (!rows.ok()) return {"error: " + rows.error().message};
  for (const Job& j : *rows) out.push_back(j.id);
  return out;
}

ChangeSet Insert(std::vector<Job> jobs) {
  ChangeSet cs;
  cs.new_jobs = std::move(jobs);
  return cs;
}

TEST_P(StoreConformanceTest, ActiveDescendantsAreTheJobsBelowThatHaveNotEndedByDepth) {
  const Job root = MakeJob("ws1", JobState::kRunning);
  Job a = MakeJob("ws1", JobState::kRunning, root.id, 1);
  Job b = MakeJob("ws1", JobState::kPending, root.id, 1);
  const Job done = MakeJob("ws1", JobState::kCompleted, root.id, 1);
  const Job under_a = MakeJob("ws1", JobState::kSubmitted, a.id, 2);
  const Job under_done = MakeJob("ws1", JobState::kPending, done.id, 2);
  const Job failed_under_a = MakeJob("ws1", JobState::kFailed, a.id, 2);
  const Job other_root = MakeJob("ws1", JobState::kRunning);
  const Job unrelated = MakeJob("ws1", JobState::kRunning, other_root.id, 1);
  // A row of another workspace that (wrongly) names root as its parent is not reached.
  const Job foreign = MakeJob("ws2", JobState::kRunning, root.id, 1);
  ASSERT_OK(store_->Apply(Insert(
      {root, a, b, done, under_a, under_done, failed_under_a, other_root, unrelated, foreign})));

  // By depth, then id; the job itself is not listed; ended rows are skipped, not their
  // active descendants.
  std::vector<std::string> depth1{a.id, b.id};
  std::sort(depth1.begin(), depth1.end());
  std::vector<std::string> depth2{under_a.id, under_done.id};
  std::sort(depth2.begin(), depth2.end());
  EXPECT_THAT(IdsOf(store_->ListActiveDescendants("ws1", root.id, 100)),
              ElementsAre(depth1[0], depth1[1], depth2[0], depth2[1]));
  EXPECT_THAT(IdsOf(store_->ListActiveDescendants("ws1", a.id, 100)), ElementsAre(under_a.id));
  // The limit cuts the deepest first.
  EXPECT_THAT(IdsOf(store_->ListActiveDescendants("ws1", root.id, 2)),
              ElementsAre(depth1[0], depth1[1]));
  // Another workspace's id, or none, has nothing below it.
  EXPECT_THAT(IdsOf(store_->ListActiveDescendants("ws2", root.id, 100)), IsEmpty());
  EXPECT_THAT(IdsOf(store_->ListActiveDescendants("ws1", "j_missing", 100)), IsEmpty());
  EXPECT_EQ(store_->ListActiveDescendants("ws1", root.id, 0).error().code,
            ErrorCode::kInvalidRequest);

  // A row that ends leaves the list at once; the rows below it stay until they end too.
  ChangeSet end;
  Job canceled = a;
  canceled.status = JobState::kCanceled;
  end.job_updates.push_back(JobUpdate{canceled, JobState::kRunning});
  ASSERT_OK(store_->Apply(end));
  EXPECT_THAT(IdsOf(store_->ListActiveDescendants("ws1", root.id, 100)),
              ElementsAre(b.id, depth2[0], depth2[1]));
}

TEST_P(StoreConformanceTest, ActiveDependentsAreTheJobsWaitingForOneThatHaveNotEnded) {
  const Job dep = MakeJob("ws1", JobState::kRunning);
  const Job other = MakeJob("ws1", JobState::kRunning);
  Job waits1 = MakeJob("ws1", JobState::kPending);
  waits1.depends_on = {dep.id};
  Job waits2 = MakeJob("ws1", JobState::kPending);
  waits2.depends_on = {other.id, dep.id};
  Job ended = MakeJob("ws1", JobState::kCanceled);
  ended.depends_on = {dep.id};
  Job elsewhere = MakeJob("ws1", JobState::kPending);
  elsewhere.depends_on = {other.id};
  ASSERT_OK(store_->Apply(Insert({dep, other, waits1, waits2, ended, elsewhere})));

  std::vector<std::string> want{waits1.id, waits2.id};
  std::sort(want.begin(), want.end());
  EXPECT_THAT(IdsOf(store_->ListActiveDependents("ws1", dep.id, 100)),
              ElementsAre(want[0], want[1]));
  EXPECT_THAT(IdsOf(store_->ListActiveDependents("ws1", dep.id, 1)), ElementsAre(want[0]));
  std::vector<std::string> on_other{waits2.id, elsewhere.id};
  std::sort(on_other.begin(), on_other.end());
  EXPECT_THAT(IdsOf(store_->ListActiveDependents("ws1", other.id, 100)),
              ElementsAre(on_other[0], on_other[1]));
  EXPECT_THAT(IdsOf(store_->ListActiveDependents("ws2", dep.id, 100)), IsEmpty());
  EXPECT_THAT(IdsOf(store_->ListActiveDependents("ws1", waits1.id, 100)), IsEmpty());
  EXPECT_EQ(store_->ListActiveDependents("ws1", dep.id, 0).error().code,
            ErrorCode::kInvalidRequest);
}

}  // namespace
}  // namespace overseer::store::testing_support
