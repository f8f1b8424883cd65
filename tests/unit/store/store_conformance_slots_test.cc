// The Store conformance suite (store_conformance.h), continued: a slot taken back — a PAUSED
// worker's resume inserting the allocation its pause released — carries the quota of its depth
// (ChangeSet::slot_limits) and is refused inside the transaction when other writers hold the
// depth's slots, whoever wrote them. Runs on every backend (unit_store, unit_store_pg).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/ids.h"
#include "core/events.h"
#include "core/types.h"
#include "unit/store/store_conformance.h"

namespace overseer::store::testing_support {
namespace {

using core::Job;
using core::JobState;
using core::Worker;
using core::WorkerState;

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& ok_status_ = (expr);                            \
    ASSERT_TRUE(ok_status_.ok()) << ok_status_.error().message; \
  } while (false)

int64_t DetailInt(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.details) {
    if (k == key && std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
  }
  return -1;
}

Job RunningJob(const std::string& ws, int depth) {
  return MakeJob(ws, JobState::kRunning, "", depth);
}

Worker PausedWorker(const Job& job) {
  Worker w = MakeWorker(job.workspace_id, job.id, WorkerState::kPaused);
  w.status_reason = "PAUSE_REQUESTED";
  w.attempt = 1;
  w.started_at = kT0;
  return w;
}

// Held by someone else: an allocation made through the API, or another daemon's worker.
core::Allocation Held(const std::string& ws, int depth, int n) {
  return core::Allocation{NewId("a_"), ws, "j_other", "", depth, n, kT0, 0};
}

// What a resume commits: PAUSED -> RUNNING with its transition and event, the allocation of the
// slot it takes back, and the quota of its depth.
ChangeSet ResumeOf(const Worker& paused, int depth, int max_workers, TimeMs at) {
  ChangeSet cs;
  WorkerUpdate u;
  u.worker = paused;
  u.worker.status = WorkerState::kRunning;
  u.worker.status_reason = "RESUME_REQUESTED";
  u.worker.updated_at = at;
  u.expected_status = WorkerState::kPaused;
  u.transition = core::Transition{"PAUSED", "RUNNING", "RESUME_REQUESTED", at};
  cs.worker_updates = {u};
  cs.events = {core::WorkerTransitionEvent(u.worker, "PAUSED", at)};
  cs.new_allocations = {core::Allocation{NewId("a_"), paused.workspace_id, paused.job_id, paused.id,
                                         depth, 1, at, 0}};
  cs.slot_limits = {SlotLimit{paused.workspace_id, depth, max_workers}};
  return cs;
}

TEST_P(StoreConformanceTest, AResumeIsRefusedWhenOtherWritersHoldTheDepthsSlots) {
  const Job job = RunningJob("ws1", 2);
  const Worker paused = PausedWorker(job);
  ChangeSet setup;
  setup.new_jobs = {job};
  setup.new_workers = {paused};
  // The quota of depth 2 is 3: 3 slots held there by others (in two allocations); the same
  // depth of another workspace, and another depth, do not count.
  setup.new_allocations = {Held("ws1", 2, 2), Held("ws1", 2, 1), Held("ws2", 2, 5),
                           Held("ws1", 1, 5)};
  ASSERT_OK(store_->Apply(setup));
  const int64_t events_before = Rows("events");
  const int64_t transitions_before = Rows("state_transitions");

  const ChangeSet resume = ResumeOf(paused, 2, 3, kT0 + 10);
  Status st = store_->Apply(resume);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kQuotaExceeded) << st.error().message;
  EXPECT_EQ(DetailInt(st.error(), "depth"), 2);
  EXPECT_EQ(DetailInt(st.error(), "quota"), 3);
  EXPECT_EQ(DetailInt(st.error(), "used"), 3);
  EXPECT_EQ(DetailInt(st.error(), "requested"), 1);
  // Nothing of it stays: the worker is PAUSED, with no new transition, event or allocation.
  Result<Worker> row = store_->GetWorker("ws1", paused.id);
  ASSERT_OK(row);
  EXPECT_EQ(row->status, WorkerState::kPaused);
  EXPECT_EQ(row->status_reason, "PAUSE_REQUESTED");
  EXPECT_EQ(Rows("state_transitions"), transitions_before);
  EXPECT_EQ(Rows("events"), events_before);
  EXPECT_TRUE(store_->ListJobAllocations("ws1", job.id)->empty());
  EXPECT_EQ(store_->ListHeldAllocations()->size(), 4u);

  // Once another writer gives a slot back, the same resume commits.
  Result<std::vector<core::Allocation>> others = store_->ListJobAllocations("ws1", "j_other");
  ASSERT_OK(others);
  ChangeSet release;
  for (const core::Allocation& a : *others) {
    if (a.depth == 2 && a.worker_count == 1) {
      release.released_allocations = {AllocationRelease{a.id, "ws1", kT0 + 20}};
    }
  }
  ASSERT_EQ(release.released_allocations.size(), 1u);
  ASSERT_OK(store_->Apply(release));
  ASSERT_OK(store_->Apply(resume));
  row = store_->GetWorker("ws1", paused.id);
  ASSERT_OK(row);
  EXPECT_EQ(row->status, WorkerState::kRunning);
  Result<std::vector<core::Allocation>> mine = store_->ListJobAllocations("ws1", job.id);
  ASSERT_OK(mine);
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].worker_id, paused.id);
  EXPECT_EQ((*mine)[0].released_at, 0);
  EXPECT_EQ(Rows("state_transitions"), transitions_before + 1);
}

TEST_P(StoreConformanceTest, SeveralWorkersResumedInOneChangeSetFailTogetherOverTheQuota) {
  // An unhalt resumes a job's workers in one ChangeSet: 2 free slots do not take 3 back.
  const Job job = RunningJob("ws1", 0);
  std::vector<Worker> paused = {PausedWorker(job), PausedWorker(job), PausedWorker(job)};
  ChangeSet setup;
  setup.new_jobs = {job};
  setup.new_workers = paused;
  setup.new_allocations = {Held("ws1", 0, 2)};
  ASSERT_OK(store_->Apply(setup));
  ChangeSet all;
  for (const Worker& w : paused) {
    ChangeSet one = ResumeOf(w, 0, 4, kT0 + 5);
    all.worker_updates.push_back(one.worker_updates[0]);
    all.events.push_back(one.events[0]);
    all.new_allocations.push_back(one.new_allocations[0]);
  }
  all.slot_limits = {SlotLimit{"ws1", 0, 4}};
  Status st = store_->Apply(all);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kQuotaExceeded);
  EXPECT_EQ(DetailInt(st.error(), "used"), 2);
  EXPECT_EQ(DetailInt(st.error(), "requested"), 3);
  for (const Worker& w : paused)
    EXPECT_EQ(store_->GetWorker("ws1", w.id)->status, WorkerState::kPaused);
  // One at a time, as far as the slots go.
  EXPECT_TRUE(store_->Apply(ResumeOf(paused[0], 0, 4, kT0 + 6)).ok());
  EXPECT_TRUE(store_->Apply(ResumeOf(paused[1], 0, 4, kT0 + 6)).ok());
  EXPECT_EQ(store_->Apply(ResumeOf(paused[2], 0, 4, kT0 + 6)).error().code,
            ErrorCode::kQuotaExceeded);
  EXPECT_EQ(store_->GetWorker("ws1", paused[2].id)->status, WorkerState::kPaused);
}

TEST_P(StoreConformanceTest, ResumesRacingOnSeveralConnectionsNeverExceedTheQuota) {
  // Two writers (two daemons, on connections of their own where the backend has several) each
  // resume one worker into the last free slot at once: one wins, the other is refused.
  constexpr int kRounds = 8;
  std::unique_ptr<Store> second;
  if (backend_->Persistent()) {
    Result<std::unique_ptr<Store>> opened = backend_->Open();
    ASSERT_OK(opened);
    second = std::move(*opened);
  }
  Store& other = second ? *second : *store_;
  for (int round = 0; round < kRounds; ++round) {
    const std::string ws = "race" + std::to_string(round);
    const Job job = RunningJob(ws, 1);
    const Worker a = PausedWorker(job);
    const Worker b = PausedWorker(job);
    ChangeSet setup;
    setup.new_jobs = {job};
    setup.new_workers = {a, b};
    setup.new_allocations = {Held(ws, 1, 1)};
    ASSERT_OK(store_->Apply(setup));
    const ChangeSet resume_a = ResumeOf(a, 1, 2, kT0 + round);
    const ChangeSet resume_b = ResumeOf(b, 1, 2, kT0 + round);
    std::atomic<bool> go{false};
    Status st_a = OkStatus();
    Status st_b = OkStatus();
    std::thread ta([&] {
      while (!go.load()) std::this_thread::yield();
      st_a = store_->Apply(resume_a);
    });
    std::thread tb([&] {
      while (!go.load()) std::this_thread::yield();
      st_b = other.Apply(resume_b);
    });
    go = true;
    ta.join();
    tb.join();
    ASSERT_NE(st_a.ok(), st_b.ok()) << "round " << round << ": exactly one resume fits";
    const Status& refused = st_a.ok() ? st_b : st_a;
    EXPECT_EQ(refused.error().code, ErrorCode::kQuotaExceeded) << refused.error().message;
    int64_t held = 0;
    Result<std::vector<core::Allocation>> all = store_->ListHeldAllocations();
    ASSERT_OK(all);
    for (const core::Allocation& x : *all) {
      if (x.workspace_id == ws && x.depth == 1) held += x.worker_count;
    }
    EXPECT_EQ(held, 2) << "round " << round;
    const WorkerState sa = store_->GetWorker(ws, a.id)->status;
    const WorkerState sb = store_->GetWorker(ws, b.id)->status;
    EXPECT_EQ(sa == WorkerState::kRunning, st_a.ok());
    EXPECT_EQ(sb == WorkerState::kRunning, st_b.ok());
  }
}

}  // namespace
}  // namespace overseer::store::testing_support
