// Slots taken back by a PAUSED worker (a resume, an unhalt) through the harness, when another
// writer on the same database (a second daemon) has filled the depth meanwhile: this daemon's
// book still has the slot free, the database refuses the commit (store::SlotLimit), and the
// worker stays PAUSED with its process stopped and no slot leaked in the book; a queued job
// whose start is refused likewise waits at the head of its queue and is tried again.
#include <gtest/gtest.h>

#include <variant>

#include "common/ids.h"
#include "core/halt.h"
#include "unit/service/harness.h"

namespace overseer::service::testing {
namespace {

using core::HaltMode;
using core::WorkerState;
using proc::MainState;

const Caller kOperator{"ws", ""};
constexpr std::chrono::milliseconds kGrace{10};

// Another writer's held allocation of `n` slots at `depth` of workspace "ws", written to the
// database without this daemon knowing (its book does not count it).
std::string FillFromOutside(ServiceHarness& h, int depth, int n) {
  store::ChangeSet cs;
  cs.new_allocations = {
      core::Allocation{NewId("a_"), "ws", "j_other_daemon", "", depth, n, h.clock().NowMs(), 0}};
  Status st = h.store().Apply(cs);
  EXPECT_TRUE(st.ok()) << st.error().message;
  return cs.new_allocations[0].id;
}

void ReleaseFromOutside(ServiceHarness& h, const std::string& id) {
  store::ChangeSet cs;
  cs.released_allocations = {store::AllocationRelease{id, "ws", h.clock().NowMs()}};
  Status st = h.store().Apply(cs);
  EXPECT_TRUE(st.ok()) << st.error().message;
}

int UsedInBook(ServiceHarness& h, int depth) {
  return h.sup().scheduler().GetQuotas(kOperator).quotas[static_cast<size_t>(depth)].used;
}

std::string DetailText(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.details) {
    if (k == key && std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  }
  return "";
}

TEST(SlotLimitsTest, AResumeTheDatabaseRefusesLeavesTheWorkerPausedAndStopped) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{0, 2}})).ok());
  Result<core::Job> job = h.Submit(CommandJob(1));
  ASSERT_TRUE(job.ok()) << job.error().message;
  const std::string w = h.WorkersOf(job->id)[0].id;
  ASSERT_TRUE(h.Run(h.sup().workers().Pause(kOperator, w)).ok());
  EXPECT_EQ(UsedInBook(h, 0), 0);
  const std::string outside = FillFromOutside(h, 0, 2);

  Result<core::Worker> refused = h.Run(h.sup().workers().Resume(kOperator, w));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kQuotaExceeded) << refused.error().message;
  EXPECT_EQ(DetailText(refused.error(), "worker_id"), w);
  // Still PAUSED, stopped, and no slot counted for it — also once the loop has handled the
  // continue and stop notifications the refused attempt caused (no CONTINUED_EXTERNALLY).
  h.Settle();
  EXPECT_EQ(h.WorkerRow(w).status, WorkerState::kPaused);
  EXPECT_EQ(h.WorkerRow(w).status_reason, "PAUSE_REQUESTED");
  EXPECT_EQ(h.launcher().StateOf(w), MainState::kStopped);
  EXPECT_EQ(UsedInBook(h, 0), 0);
  EXPECT_TRUE(h.store().ListJobAllocations("ws", job->id)->size() == 1u);  // the first, released

  // The other writer gives its slots back: the resume goes through.
  ReleaseFromOutside(h, outside);
  Result<core::Worker> resumed = h.Run(h.sup().workers().Resume(kOperator, w));
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  EXPECT_EQ(resumed->status, WorkerState::kRunning);
  EXPECT_EQ(h.launcher().StateOf(w), MainState::kRunning);
  EXPECT_EQ(UsedInBook(h, 0), 1);
}

TEST(SlotLimitsTest, AnUnhaltResumesOnlyTheWorkersTheDatabaseStillHasSlotsFor) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{0, 3}})).ok());
  Result<core::Job> job = h.Submit(CommandJob(3));
  ASSERT_TRUE(job.ok()) << job.error().message;
  Result<core::Job> halted =
      h.Run(h.sup().halts().HaltJob(kOperator, "ops", job->id, HaltMode::kFreeze, "why", kGrace));
  ASSERT_TRUE(halted.ok()) << halted.error().message;
  EXPECT_EQ(UsedInBook(h, 0), 0);
  FillFromOutside(h, 0, 1);  // 2 of the 3 slots left in the database

  ASSERT_TRUE(h.Run(h.sup().halts().UnhaltJob(kOperator, "ops", job->id)).ok());
  h.Settle();
  int running = 0;
  for (const core::Worker& row : h.WorkersOf(job->id)) {
    if (row.status == WorkerState::kRunning) {
      ++running;
      EXPECT_EQ(row.status_reason, "UNHALTED");
      EXPECT_EQ(h.launcher().StateOf(row.id), MainState::kRunning);
    } else {
      EXPECT_EQ(row.status, WorkerState::kPaused) << row.id;
      EXPECT_EQ(row.status_reason, core::kHaltReason) << row.id;
      EXPECT_EQ(h.launcher().StateOf(row.id), MainState::kStopped) << row.id;
    }
  }
  EXPECT_EQ(running, 2);
  EXPECT_EQ(UsedInBook(h, 0), 2);
}

TEST(SlotLimitsTest, AQueuedJobWhoseStartTheDatabaseRefusesWaitsAtTheHeadAndStartsLater) {
  ServiceHarness h;
  ASSERT_TRUE(h.Run(h.sup().scheduler().SetQuotas(kOperator, {{0, 1}})).ok());
  Result<core::Job> holder = h.Submit(CommandJob(1));
  ASSERT_TRUE(holder.ok()) << holder.error().message;
  Result<core::Job> queued = h.Submit(CommandJob(1));
  ASSERT_TRUE(queued.ok()) << queued.error().message;
  EXPECT_EQ(queued->status_reason, "WAITING_FOR_QUOTA");
  // Another writer takes the slot the holder is about to give back.
  const std::string outside = FillFromOutside(h, 0, 1);
  ASSERT_TRUE(h.Run(h.sup().jobs().CancelJob(kOperator, holder->id, kGrace, true)).ok());
  h.Settle();
  // The start was refused: still PENDING, nothing started, no slot counted in the book.
  EXPECT_EQ(h.JobRow(queued->id).status, core::JobState::kPending);
  EXPECT_EQ(h.WorkersOf(queued->id)[0].status, WorkerState::kIdle);
  EXPECT_EQ(UsedInBook(h, 0), 0);
  // Once the other writer releases, the job starts by itself (tried again a second later).
  ReleaseFromOutside(h, outside);
  EXPECT_TRUE(h.Loop([&] { return h.WorkersOf(queued->id)[0].status == WorkerState::kRunning; },
                     std::chrono::milliseconds(5000)));
  EXPECT_EQ(h.JobRow(queued->id).status, core::JobState::kRunning);
  EXPECT_EQ(UsedInBook(h, 0), 1);
}

}  // namespace
}  // namespace overseer::service::testing
