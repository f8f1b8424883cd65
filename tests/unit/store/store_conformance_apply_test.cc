// The Store conformance suite (store_conformance.h), continued: Apply — updates, transitions
// and their atomicity, halts and budgets (SPEC §11), preconditions. Runs on every backend
// (unit_store, unit_store_pg).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/store/store_conformance.h"
#include "unit/store/store_conformance_helpers.h"

namespace overseer::store::testing_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// ---- Apply: updates, transitions, atomicity ------------------------------------------

TEST_P(StoreConformanceTest, NewWorkerGetsCreationTransition) {
  Worker plain = MakeWorker("ws1", "j_1");
  Worker with_reason = MakeWorker("ws1", "j_1", WorkerState::kRunning);
  with_reason.status_reason = "SPAWNED";
  ASSERT_OK(store_->Apply(ChangeSet{{}, {plain, with_reason}, {}, {}, {}, {}, {}, {}}));

  Result<std::vector<Transition>> t = store_->ListTransitions("ws1", plain.id);
  ASSERT_OK(t);
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].from_state, "");
  EXPECT_EQ((*t)[0].to_state, "IDLE");
  EXPECT_EQ((*t)[0].reason, "CREATED");
  EXPECT_EQ((*t)[0].timestamp, kT0);

  t = store_->ListTransitions("ws1", with_reason.id);
  ASSERT_OK(t);
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].to_state, "RUNNING");
  EXPECT_EQ((*t)[0].reason, "SPAWNED");

  t = store_->ListTransitions("ws1", "w_unknown");
  ASSERT_OK(t);
  EXPECT_THAT(*t, IsEmpty());
}

TEST_P(StoreConformanceTest, WorkerUpdatesWriteEveryMutableColumnAndTransitionsInOrder) {
  Worker w = MakeWorker("ws1", "j_1");
  ASSERT_OK(store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}}));

  WorkerUpdate spawn = Move(w, WorkerState::kRunning, "SPAWNED", kT0 + 100);
  spawn.worker.pid = 777;
  spawn.worker.pgid = 777;
  spawn.worker.attempt = 1;
  spawn.worker.started_at = kT0 + 100;
  spawn.worker.cgroup_path = "/cg/x";
  spawn.worker.metadata_json = R"({"a":1})";
  ASSERT_OK(store_->Apply(ChangeSet{{}, {}, {spawn}, {}, {}, {}, {}, {}}));
  Result<Worker> got = store_->GetWorker("ws1", w.id);
  ASSERT_OK(got);
  ExpectSameWorker(*got, spawn.worker);

  WorkerUpdate pause = Move(spawn.worker, WorkerState::kPaused, "PAUSE", kT0 + 200);
  WorkerUpdate resume = Move(pause.worker, WorkerState::kRunning, "RESUME", kT0 + 300);
  WorkerUpdate fail = Move(resume.worker, WorkerState::kFailed, "EXIT_NONZERO", kT0 + 400);
  fail.worker.exit_code = 2;
  fail.worker.ended_at = kT0 + 400;
  fail.worker.pid = 0;  // back to null
  // Several updates of one worker in one ChangeSet apply in order.
  ASSERT_OK(store_->Apply(ChangeSet{{}, {}, {pause, resume}, {}, {}, {}, {}, {}}));
  ASSERT_OK(store_->Apply(ChangeSet{{}, {}, {fail}, {}, {}, {}, {}, {}}));
  got = store_->GetWorker("ws1", w.id);
  ASSERT_OK(got);
  ExpectSameWorker(*got, fail.worker);

  Result<std::vector<Transition>> t = store_->ListTransitions("ws1", w.id);
  ASSERT_OK(t);
  ASSERT_EQ(t->size(), 5u);
  const std::vector<std::tuple<std::string, std::string, std::string, TimeMs>> want = {
      {"", "IDLE", "CREATED", kT0},
      {"IDLE", "RUNNING", "SPAWNED", kT0 + 100},
      {"RUNNING", "PAUSED", "PAUSE", kT0 + 200},
      {"PAUSED", "RUNNING", "RESUME", kT0 + 300},
      {"RUNNING", "FAILED", "EXIT_NONZERO", kT0 + 400}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*t)[i].from_state, std::get<0>(want[i])) << i;
    EXPECT_EQ((*t)[i].to_state, std::get<1>(want[i])) << i;
    EXPECT_EQ((*t)[i].reason, std::get<2>(want[i])) << i;
    EXPECT_EQ((*t)[i].timestamp, std::get<3>(want[i])) << i;
  }
}

TEST_P(StoreConformanceTest, WorkerCasFailureReportsCurrentState) {
  Worker w = MakeWorker("ws1", "j_1", WorkerState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}}));
  WorkerUpdate stale = Move(w, WorkerState::kPaused, "PAUSE", kT0 + 1);
  stale.expected_status = WorkerState::kIdle;  // the caller's view is out of date
  Status st = store_->Apply(ChangeSet{{}, {}, {stale}, {}, {}, {}, {}, {}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(DetailString(st.error(), "current_state"), "RUNNING");

  WorkerUpdate missing = Move(MakeWorker("ws1", "j_1"), WorkerState::kRunning, "SPAWNED", kT0);
  st = store_->Apply(ChangeSet{{}, {}, {missing}, {}, {}, {}, {}, {}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformanceTest, ApplyAllCommitsEachChangeSetOnItsOwn) {
  // Group commit: three ChangeSets in one transaction; the middle one fails its CAS after
  // writing a row of its own, and only that one leaves no trace.
  Worker a = MakeWorker("ws1", "j_1", WorkerState::kRunning);
  Worker b = MakeWorker("ws1", "j_1", WorkerState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{}, {a, b}, {}, {}, {}, {}, {}, {}}));
  const Worker fresh = MakeWorker("ws1", "j_2");
  WorkerUpdate stale = Move(b, WorkerState::kPaused, "PAUSE", kT0 + 1);
  stale.expected_status = WorkerState::kIdle;  // out of date: fails
  const ChangeSet first{{}, {}, {Move(a, WorkerState::kPaused, "PAUSE", kT0 + 1)}, {}, {}, {},
                        {}, {}};
  const ChangeSet second{{}, {fresh}, {stale}, {}, {}, {}, {}, {}};
  const Job job = MakeJob("ws1");
  const ChangeSet third{{job}, {}, {}, {}, {}, {}, {}, {}};
  const std::vector<const ChangeSet*> all = {&first, &second, &third};
  std::vector<Status> results = store_->ApplyAll(all);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, ErrorCode::kConflict);
  EXPECT_EQ(DetailString(results[1].error(), "current_state"), "RUNNING");
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(store_->GetWorker("ws1", a.id)->status, WorkerState::kPaused);
  EXPECT_EQ(store_->GetWorker("ws1", b.id)->status, WorkerState::kRunning);
  EXPECT_EQ(store_->GetWorker("ws1", fresh.id).error().code, ErrorCode::kNotFound);  // rolled back
  EXPECT_TRUE(store_->GetJob("ws1", job.id).ok());
  EXPECT_EQ(store_->ListTransitions("ws1", a.id)->size(), 2u);  // creation + pause
  EXPECT_EQ(store_->ListTransitions("ws1", fresh.id)->size(), 0u);
  EXPECT_TRUE(store_->ApplyAll({}).empty());
}

TEST_P(StoreConformanceTest, JobUpdateWritesMutableColumnsWithCas) {
  Job job = MakeJob("ws1", JobState::kPending);
  ASSERT_OK(store_->Apply(ChangeSet{{job}, {}, {}, {}, {}, {}, {}, {}}));
  JobUpdate run{job, JobState::kPending};
  run.job.status = JobState::kRunning;
  run.job.status_reason = "SCHEDULED";
  run.job.started_at = kT0 + 5;
  run.job.updated_at = kT0 + 5;
  ASSERT_OK(store_->Apply(ChangeSet{{}, {}, {}, {run}, {}, {}, {}, {}}));
  JobUpdate done{run.job, JobState::kRunning};
  done.job.status = JobState::kCompleted;
  done.job.completed_at = kT0 + 9;
  done.job.updated_at = kT0 + 9;
  done.job.result_json = R"({"answer":42})";
  ASSERT_OK(store_->Apply(ChangeSet{{}, {}, {}, {done}, {}, {}, {}, {}}));
  Result<Job> got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  ExpectSameJob(*got, done.job);

  // Same update again: the stored status is COMPLETED now, not RUNNING.
  Status st = store_->Apply(ChangeSet{{}, {}, {}, {done}, {}, {}, {}, {}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(DetailString(st.error(), "current_state"), "COMPLETED");
}

// ---- halts (SPEC §11) -----------------------------------------------------------------

TEST_P(StoreConformanceTest, JobHaltIsSetAndLiftedWithItsEventAndKeptByStatusUpdates) {
  Job job = MakeJob("ws1", JobState::kRunning);
  Job child = MakeJob("ws1", JobState::kRunning, job.id, 1);
  ASSERT_OK(store_->Apply(ChangeSet{{job, child}, {}, {}, {}, {}, {}, {}, {}}));
  const int64_t events_before = Rows("events");
  const core::Halt halt{core::HaltMode::kFreeze, "odd \"why\"\\\n", "alice", kT0 + 3, false};
  ChangeSet set;
  set.job_halts.push_back(JobHaltChange{"ws1", job.id, halt});
  set.events.push_back(core::JobHaltedEvent("ws1", job.id, halt, kT0 + 3));
  ASSERT_OK(store_->Apply(set));
  EXPECT_EQ(Rows("events"), events_before + 1);
  Job expected = job;
  expected.halted = halt;
  Result<Job> got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  ExpectSameJob(*got, expected);
  // Every reader carries it; only the job it was thrown on has it.
  Result<std::vector<Job>> sub = store_->ListJobSubtree("ws1", job.id, 10);
  ASSERT_OK(sub);
  ASSERT_EQ(sub->size(), 2u);
  ASSERT_TRUE((*sub)[0].halted.has_value());
  EXPECT_EQ((*sub)[0].halted->reason, halt.reason);
  EXPECT_FALSE((*sub)[1].halted.has_value());
  Result<std::vector<Job>> active = store_->ListJobsInStates({JobState::kRunning});
  ASSERT_OK(active);
  for (const Job& j : *active) EXPECT_EQ(j.halted.has_value(), j.id == job.id) << j.id;
  // A status update leaves the halt alone (it is not one of its columns).
  JobUpdate cancel{job, JobState::kRunning};
  cancel.job.status = JobState::kCanceled;
  cancel.job.status_reason = "HALTED";
  cancel.job.updated_at = kT0 + 4;
  ASSERT_OK(store_->Apply(ChangeSet{{}, {}, {}, {cancel}, {}, {}, {}, {}}));
  got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->status, JobState::kCanceled);
  ASSERT_TRUE(got->halted.has_value());
  EXPECT_EQ(got->halted->mode, core::HaltMode::kFreeze);
  // Escalated, then lifted.
  core::Halt terminate = halt;
  terminate.mode = core::HaltMode::kTerminate;
  terminate.workspace_wide = true;
  ChangeSet escalate;
  escalate.job_halts.push_back(JobHaltChange{"ws1", job.id, terminate});
  ASSERT_OK(store_->Apply(escalate));
  got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  ASSERT_TRUE(got->halted.has_value());
  EXPECT_EQ(got->halted->mode, core::HaltMode::kTerminate);
  EXPECT_TRUE(got->halted->workspace_wide);
  ChangeSet lift;
  lift.job_halts.push_back(JobHaltChange{"ws1", job.id, std::nullopt});
  lift.events.push_back(core::JobUnhaltedEvent("ws1", job.id, terminate, "bob", kT0 + 5));
  ASSERT_OK(store_->Apply(lift));
  got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  EXPECT_FALSE(got->halted.has_value());
  Result<std::vector<core::Event>> ev = store_->ListEvents("ws1", 0, 100);
  ASSERT_OK(ev);
  ASSERT_GE(ev->size(), 2u);
  EXPECT_EQ(ev->at(ev->size() - 2).type, core::EventType::kJobHalted);
  EXPECT_EQ(ev->back().type, core::EventType::kJobUnhalted);
  EXPECT_EQ(ev->back().job_id, job.id);
}

// ---- budgets (SPEC §11) ---------------------------------------------------------------

TEST_P(StoreConformanceTest, JobBudgetAndUsageAreWrittenWithTheRowAndChangedAlone) {
  Job job = MakeJob("ws1", JobState::kRunning);
  job.budget = core::Budget{5.25, 1'000'000, 3, std::nullopt, core::BudgetExhaustion::kTerminate};
  job.usage = core::JobUsage{0.5, 1200, 2, 1};
  Job plain = MakeJob("ws1", JobState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{job, plain}, {}, {}, {}, {}, {}, {}, {}}));
  Result<Job> got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  ExpectSameJob(*got, job);
  got = store_->GetJob("ws1", plain.id);
  ASSERT_OK(got);
  EXPECT_FALSE(got->budget.has_value());
  EXPECT_EQ(got->usage, core::JobUsage{});

  // Usage and budget change alone; a status update leaves both as they are.
  ChangeSet usage;
  usage.job_usages.push_back(JobUsageChange{"ws1", job.id, core::JobUsage{4.75, 9000, 3, 2}});
  usage.job_usages.push_back(JobUsageChange{"ws1", "j_missing", core::JobUsage{1, 1, 1, 1}});
  ASSERT_OK(store_->Apply(usage));
  ChangeSet budget;
  budget.job_budgets.push_back(JobBudgetChange{"ws1", job.id, core::Budget{}});
  ASSERT_OK(store_->Apply(budget));
  JobUpdate done{job, JobState::kRunning};
  done.job.status = JobState::kCompleted;
  done.job.usage = core::JobUsage{};  // not a column of a status update
  ASSERT_OK(store_->Apply(ChangeSet{{}, {}, {}, {done}, {}, {}, {}, {}}));
  got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->status, JobState::kCompleted);
  EXPECT_EQ(got->usage, (core::JobUsage{4.75, 9000, 3, 2}));
  ASSERT_TRUE(got->budget.has_value());
  EXPECT_EQ(*got->budget, core::Budget{});  // no limits, pause
  ChangeSet remove;
  remove.job_budgets.push_back(JobBudgetChange{"ws1", job.id, std::nullopt});
  ASSERT_OK(store_->Apply(remove));
  got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  EXPECT_FALSE(got->budget.has_value());
  // Another workspace's job: not found, nothing written.
  ChangeSet other;
  other.job_budgets.push_back(JobBudgetChange{"ws2", job.id, core::Budget{}});
  Status st = store_->Apply(other);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  // A budget halt is told apart from a caller's.
  core::Halt halt{core::HaltMode::kFreeze, "budget spent", "budget", kT0, false, true};
  ChangeSet set;
  set.job_halts.push_back(JobHaltChange{"ws1", plain.id, halt});
  ASSERT_OK(store_->Apply(set));
  got = store_->GetJob("ws1", plain.id);
  ASSERT_OK(got);
  ASSERT_TRUE(got->halted.has_value());
  EXPECT_TRUE(got->halted->budget);
}

TEST_P(StoreConformanceTest, JobHaltOfAnotherWorkspacesJobIsNotFoundAndWritesNothing) {
  Job job = MakeJob("ws1", JobState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{job}, {}, {}, {}, {}, {}, {}, {}}));
  const int64_t events_before = Rows("events");
  const core::Halt halt{core::HaltMode::kFreeze, "x", "mallory", kT0, false};
  ChangeSet set;
  set.events.push_back(core::JobHaltedEvent("ws2", job.id, halt, kT0));
  set.job_halts.push_back(JobHaltChange{"ws2", job.id, halt});
  Status st = store_->Apply(set);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(DetailString(st.error(), "job_id"), job.id);
  EXPECT_EQ(Rows("events"), events_before);
  Result<Job> got = store_->GetJob("ws1", job.id);
  ASSERT_OK(got);
  EXPECT_FALSE(got->halted.has_value());
}

TEST_P(StoreConformanceTest, WorkspaceHaltsAreSetReplacedListedAndLifted) {
  Result<std::vector<WorkspaceHalt>> none = store_->ListWorkspaceHalts();
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  const core::Halt a{core::HaltMode::kFreeze, "incident", "oncall", kT0, true};
  const core::Halt b{core::HaltMode::kTerminate, "worse", "lead", kT0 + 1, true};
  ChangeSet set;
  set.workspace_halts = {WorkspaceHaltChange{"ws2", a}, WorkspaceHaltChange{"ws1", a}};
  set.events.push_back(core::JobHaltedEvent("ws1", "", a, kT0));
  ASSERT_OK(store_->Apply(set));
  ChangeSet replace;
  replace.workspace_halts = {WorkspaceHaltChange{"ws1", b}};
  ASSERT_OK(store_->Apply(replace));
  Result<std::vector<WorkspaceHalt>> got = store_->ListWorkspaceHalts();
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].workspace_id, "ws1");
  EXPECT_EQ((*got)[0].halt.mode, core::HaltMode::kTerminate);
  EXPECT_EQ((*got)[0].halt.reason, "worse");
  EXPECT_EQ((*got)[0].halt.by, "lead");
  EXPECT_EQ((*got)[0].halt.at, kT0 + 1);
  EXPECT_TRUE((*got)[0].halt.workspace_wide);
  EXPECT_EQ((*got)[1].workspace_id, "ws2");
  EXPECT_EQ((*got)[1].halt.mode, core::HaltMode::kFreeze);
  ChangeSet lift;
  lift.workspace_halts = {WorkspaceHaltChange{"ws1", std::nullopt},
                          WorkspaceHaltChange{"ws3", std::nullopt}};  // not halted: no-op
  ASSERT_OK(store_->Apply(lift));
  got = store_->ListWorkspaceHalts();
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].workspace_id, "ws2");
}

TEST_P(StoreConformanceTest, CasFailureInTheMiddleLeavesNothingWritten) {
  Worker a = MakeWorker("ws1", "j_1", WorkerState::kRunning);
  Worker b = MakeWorker("ws1", "j_1", WorkerState::kRunning);
  Job existing = MakeJob("ws1", JobState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{existing}, {a, b}, {}, {}, {}, {}, {}, {}}));
  const int64_t transitions_before = Rows("state_transitions");
  const int64_t events_before = Rows("events");
  ASSERT_EQ(transitions_before, 2);

  ChangeSet cs;
  Job new_job = MakeJob("ws1");
  cs.new_jobs = {new_job};
  Worker new_worker = MakeWorker("ws1", new_job.id);
  cs.new_workers = {new_worker};
  WorkerUpdate good = Move(a, WorkerState::kPaused, "PAUSE", kT0 + 1);
  WorkerUpdate bad = Move(b, WorkerState::kPaused, "PAUSE", kT0 + 1);
  bad.expected_status = WorkerState::kPaused;  // stored is RUNNING
  WorkerUpdate after = Move(good.worker, WorkerState::kRunning, "RESUME", kT0 + 2);
  cs.worker_updates = {good, bad, after};
  JobUpdate job_done{existing, JobState::kRunning};
  job_done.job.status = JobState::kCompleted;
  cs.job_updates = {job_done};
  core::Event ev;
  ev.workspace_id = "ws1";
  ev.type = core::EventType::kWorkerTransition;
  ev.worker_id = a.id;
  ev.created_at = kT0 + 1;
  cs.events = {ev};

  Status st = store_->Apply(cs);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(DetailString(st.error(), "current_state"), "RUNNING");

  EXPECT_EQ(CodeOf(store_->GetJob("ws1", new_job.id)), "NOT_FOUND");
  EXPECT_EQ(CodeOf(store_->GetWorker("ws1", new_worker.id)), "NOT_FOUND");
  Result<Worker> got_a = store_->GetWorker("ws1", a.id);
  ASSERT_OK(got_a);
  ExpectSameWorker(*got_a, a);
  Result<Job> got_job = store_->GetJob("ws1", existing.id);
  ASSERT_OK(got_job);
  EXPECT_EQ(got_job->status, JobState::kRunning);
  EXPECT_EQ(Rows("state_transitions"), transitions_before);
  EXPECT_EQ(Rows("events"), events_before);
  EXPECT_EQ(Rows("workers"), 2);
  EXPECT_EQ(Rows("jobs"), 1);

  // A failing job CAS at the end rolls back the worker changes before it.
  ChangeSet cs2;
  cs2.worker_updates = {good};
  JobUpdate stale_job{existing, JobState::kPending};
  stale_job.job.status = JobState::kRunning;
  cs2.job_updates = {stale_job};
  cs2.events = cs.events;
  st = store_->Apply(cs2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  got_a = store_->GetWorker("ws1", a.id);
  ASSERT_OK(got_a);
  EXPECT_EQ(got_a->status, WorkerState::kRunning);
  EXPECT_EQ(Rows("state_transitions"), transitions_before);
  EXPECT_EQ(Rows("events"), events_before);

  // The store is still usable and the same good change now commits.
  cs2.job_updates.clear();
  ASSERT_OK(store_->Apply(cs2));
  EXPECT_EQ(Rows("state_transitions"), transitions_before + 1);
  EXPECT_EQ(Rows("events"), events_before + 1);
}

TEST_P(StoreConformanceTest, RowsInsertedAndUpdatedInOneChangeSetEndAsIfAppliedInOrder) {
  // A job that starts at once: inserted PENDING/IDLE and moved on in the same ChangeSet.
  ChangeSet cs;
  Job job = MakeJob("ws1", JobState::kPending);
  cs.new_jobs = {job};
  JobUpdate run{job, JobState::kPending};
  run.job.status = JobState::kRunning;
  run.job.status_reason = "WORKERS_STARTED";
  run.job.started_at = kT0 + 5;
  run.job.updated_at = kT0 + 5;
  cs.job_updates = {run};
  Worker w = MakeWorker("ws1", job.id);
  Worker other = MakeWorker("ws1", job.id);
  cs.new_workers = {w, other};
  WorkerUpdate spawn = Move(w, WorkerState::kRunning, "SPAWNED", kT0 + 5);
  spawn.worker.attempt = 1;
  spawn.worker.started_at = kT0 + 5;
  WorkerUpdate pause = Move(spawn.worker, WorkerState::kPaused, "PAUSE", kT0 + 6);
  pause.transition.from_state.clear();  // filled from expected_status, as for an update
  cs.worker_updates = {spawn, Move(other, WorkerState::kRunning, "SPAWNED", kT0 + 5), pause};
  ASSERT_OK(store_->Apply(cs));

  Result<Job> got_job = store_->GetJob("ws1", job.id);
  ASSERT_OK(got_job);
  ExpectSameJob(*got_job, run.job);
  Result<Worker> got = store_->GetWorker("ws1", w.id);
  ASSERT_OK(got);
  ExpectSameWorker(*got, pause.worker);
  EXPECT_EQ(store_->GetWorker("ws1", other.id)->status, WorkerState::kRunning);
  Result<std::vector<Transition>> t = store_->ListTransitions("ws1", w.id);
  ASSERT_OK(t);
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0].to_state, "IDLE");
  EXPECT_EQ((*t)[1].from_state, "IDLE");
  EXPECT_EQ((*t)[1].to_state, "RUNNING");
  EXPECT_EQ((*t)[2].from_state, "RUNNING");
  EXPECT_EQ((*t)[2].to_state, "PAUSED");
  EXPECT_EQ((*t)[2].timestamp, kT0 + 6);
  Result<Page<Worker>> running =
      store_->ListWorkers("ws1", WorkerQuery{WorkerState::kRunning, "", "", 100});
  ASSERT_OK(running);
  EXPECT_THAT(Ids(running->items), ElementsAre(other.id));  // status lookups see final values

  // An update whose expected status the new row does not have fails, as it would alone.
  ChangeSet bad;
  Worker fresh = MakeWorker("ws1", job.id);
  bad.new_workers = {fresh};
  WorkerUpdate wrong = Move(fresh, WorkerState::kPaused, "PAUSE", kT0 + 7);
  wrong.expected_status = WorkerState::kRunning;
  bad.worker_updates = {wrong};
  Status st = store_->Apply(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(DetailString(st.error(), "current_state"), "IDLE");
  EXPECT_EQ(CodeOf(store_->GetWorker("ws1", fresh.id)), "NOT_FOUND");
}

// ---- preconditions -------------------------------------------------------------------

TEST_P(StoreConformanceTest, PreconditionThatHoldsLetsTheChangeSetCommit) {
  const Job parent = MakeJob("ws1", JobState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{parent}, {}, {}, {}, {}, {}, {}, {}}));
  ChangeSet cs;
  const Job child = MakeJob("ws1", JobState::kPending, parent.id, 1);
  cs.new_jobs = {child};
  cs.require_jobs = {JobStillActive("ws1", parent.id)};
  ASSERT_OK(store_->Apply(cs));
  EXPECT_TRUE(store_->GetJob("ws1", child.id).ok());

  // Checked before the ChangeSet's own writes: it may end the job it requires.
  JobUpdate done{parent, JobState::kRunning};
  done.job.status = JobState::kCompleted;
  ChangeSet finish;
  finish.job_updates = {done};
  finish.require_jobs = {JobStillActive("ws1", parent.id)};
  ASSERT_OK(store_->Apply(finish));
  EXPECT_EQ(store_->GetJob("ws1", parent.id)->status, JobState::kCompleted);
}

TEST_P(StoreConformanceTest, FailedPreconditionIsAConflictAndWritesNothing) {
  const Job parent = MakeJob("ws1", JobState::kCompleted);
  const Job other = MakeJob("ws1", JobState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{parent, other}, {}, {}, {}, {}, {}, {}, {}}));
  ChangeSet cs;
  const Job child = MakeJob("ws1", JobState::kPending, parent.id, 1);
  cs.new_jobs = {child};
  cs.new_workers = {MakeWorker("ws1", child.id)};
  JobUpdate touch{other, JobState::kRunning};
  touch.job.status_reason = "TOUCHED";
  cs.job_updates = {touch};
  cs.events = {MakeEvent("ws1", core::EventType::kJobTransition, kT0)};
  cs.require_jobs = {JobStillActive("ws1", other.id), JobStillActive("ws1", parent.id)};
  Status st = store_->Apply(cs);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(DetailString(st.error(), "job_id"), parent.id);
  EXPECT_EQ(DetailString(st.error(), "current_state"), "COMPLETED");
  EXPECT_EQ(CodeOf(store_->GetJob("ws1", child.id)), "NOT_FOUND");
  EXPECT_EQ(store_->GetJob("ws1", other.id)->status_reason, other.status_reason);
  EXPECT_THAT(*store_->ListEvents("ws1", 0, 10), IsEmpty());
  Result<Page<Worker>> workers = store_->ListWorkers("ws1", WorkerQuery{});
  ASSERT_OK(workers);
  EXPECT_THAT(workers->items, IsEmpty());

  // Any allowed status will do.
  cs.require_jobs = {JobPrecondition{"ws1", parent.id, {JobState::kRunning, JobState::kCompleted}}};
  ASSERT_OK(store_->Apply(cs));
  EXPECT_TRUE(store_->GetJob("ws1", child.id).ok());
}

TEST_P(StoreConformanceTest, PreconditionOnAMissingJobIsNotFoundAndEmptyAllowedIsInvalid) {
  const Job job = MakeJob("ws1", JobState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{job}, {}, {}, {}, {}, {}, {}, {}}));
  for (const JobPrecondition& p :
       {JobStillActive("ws1", "j_missing"), JobStillActive("ws2", job.id)}) {
    ChangeSet cs;
    cs.new_jobs = {MakeJob("ws1")};
    cs.require_jobs = {p};
    Status st = store_->Apply(cs);
    ASSERT_FALSE(st.ok()) << p.job_id;
    EXPECT_EQ(st.error().code, ErrorCode::kNotFound) << p.job_id;
    EXPECT_EQ(DetailString(st.error(), "job_id"), p.job_id);
  }
  ChangeSet none_allowed;
  none_allowed.require_jobs = {JobPrecondition{"ws1", job.id, {}}};
  Status st = store_->Apply(none_allowed);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Rows("jobs"), 1);
}

TEST_P(StoreConformanceTest, PreconditionInAGroupCommitSeesTheChangeSetsBeforeIt) {
  const Job parent = MakeJob("ws1", JobState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{parent}, {}, {}, {}, {}, {}, {}, {}}));
  // The parent is canceled by the first ChangeSet; a sub-job planned while it was RUNNING
  // comes second in the same group and must not be written.
  JobUpdate cancel{parent, JobState::kRunning};
  cancel.job.status = JobState::kCanceled;
  ChangeSet first;
  first.job_updates = {cancel};
  ChangeSet second;
  const Job child = MakeJob("ws1", JobState::kPending, parent.id, 1);
  second.new_jobs = {child};
  second.require_jobs = {JobStillActive("ws1", parent.id)};
  ChangeSet third;
  const Job unrelated = MakeJob("ws1");
  third.new_jobs = {unrelated};
  const std::vector<const ChangeSet*> all = {&first, &second, &third};
  std::vector<Status> results = store_->ApplyAll(all);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().code, ErrorCode::kConflict);
  EXPECT_EQ(DetailString(results[1].error(), "current_state"), "CANCELED");
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(store_->GetJob("ws1", parent.id)->status, JobState::kCanceled);
  EXPECT_EQ(CodeOf(store_->GetJob("ws1", child.id)), "NOT_FOUND");
  EXPECT_TRUE(store_->GetJob("ws1", unrelated.id).ok());
}

TEST_P(StoreConformanceTest, WorkerProcessIsRecordedForItsAttemptOnly) {
  Worker w = MakeWorker("ws1", "j_1", WorkerState::kRunning);
  w.attempt = 2;
  ASSERT_OK(store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}}));
  const int64_t transitions = Rows("state_transitions");
  ChangeSet stale;
  stale.worker_processes = {WorkerProcess{w.id, "ws1", 1, 111, 111, "/cg/old"}};
  ASSERT_OK(store_->Apply(stale));  // an earlier attempt's: nothing, and no error
  EXPECT_EQ(store_->GetWorker("ws1", w.id)->pid, 0);
  ChangeSet other_ws;
  other_ws.worker_processes = {WorkerProcess{w.id, "ws2", 2, 333, 333, "/cg/x"}};
  ASSERT_OK(store_->Apply(other_ws));
  EXPECT_EQ(store_->GetWorker("ws1", w.id)->pid, 0);

  ChangeSet current;
  current.worker_processes = {WorkerProcess{w.id, "ws1", 2, 222, 221, "/cg/new"}};
  ASSERT_OK(store_->Apply(current));
  Result<Worker> got = store_->GetWorker("ws1", w.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->pid, 222);
  EXPECT_EQ(got->pgid, 221);
  EXPECT_EQ(got->cgroup_path, "/cg/new");
  EXPECT_EQ(got->status, WorkerState::kRunning);
  EXPECT_EQ(Rows("state_transitions"), transitions);  // not a status change
}

}  // namespace
}  // namespace overseer::store::testing_support
