// The Store conformance suite (see store_conformance.h; continued in store_conformance_*_test.cc):
// migrations, round trips, workspace isolation, lists. Backends instantiate it elsewhere.
#include "unit/store/store_conformance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "core/events.h"
#include "core/types.h"
#include "unit/store/store_conformance_helpers.h"

namespace overseer::store::testing_support {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Job MakeJob(const std::string& ws, JobState status, const std::string& parent, int depth) {
  Job j;
  j.id = NewId("j_");
  j.workspace_id = ws;
  j.name = "job " + j.id;
  j.status = status;
  j.depth = depth;
  j.parent_job_id = parent;
  j.task_json = R"({"runtime":"command","command":["true"]})";
  j.metadata_json = "{}";
  j.created_at = kT0;
  j.updated_at = kT0;
  return j;
}

Worker MakeWorker(const std::string& ws, const std::string& job_id, WorkerState status) {
  Worker w;
  w.id = NewId("w_");
  w.workspace_id = ws;
  w.job_id = job_id;
  w.status = status;
  w.metadata_json = "{}";
  w.log_path = "/tmp/logs/" + w.id + ".log";
  w.created_at = kT0;
  w.updated_at = kT0;
  return w;
}

namespace {

// ---- migrations ----------------------------------------------------------------------

TEST_P(StoreConformanceTest, MigrationsReportAppliedAfterUp) {
  Result<std::vector<MigrationInfo>> infos = store_->Migrations();
  ASSERT_OK(infos);
  ASSERT_FALSE(infos->empty());
  EXPECT_EQ(infos->front().version, 1);
  EXPECT_EQ(infos->front().name, "init");
  for (const MigrationInfo& m : *infos) {
    EXPECT_TRUE(m.applied) << m.version;
    EXPECT_GT(m.applied_at, 0) << m.version;
  }
  // Up again is a no-op.
  ASSERT_OK(store_->MigrateUp());
  Result<std::vector<MigrationInfo>> again = store_->Migrations();
  ASSERT_OK(again);
  EXPECT_EQ(again->size(), infos->size());
}

TEST_P(StoreConformanceTest, MigrateUpDownUpRoundTrip) {
  Worker w = MakeWorker("ws1", "j_1");
  ASSERT_OK(store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}}));

  Result<std::vector<MigrationInfo>> infos = store_->Migrations();
  ASSERT_OK(infos);
  const int all = static_cast<int>(infos->size());
  ASSERT_OK(store_->MigrateDown(all));
  Result<std::vector<MigrationInfo>> down = store_->Migrations();
  ASSERT_OK(down);
  ASSERT_EQ(down->size(), infos->size());
  for (const MigrationInfo& m : *down) EXPECT_FALSE(m.applied) << m.version;
  // The tables are gone: reads fail (not "not found").
  Result<Worker> gone = store_->GetWorker("ws1", w.id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kInternal);
  ExpectNoDatabaseText(gone.error());

  ASSERT_OK(store_->MigrateUp());
  Result<std::vector<MigrationInfo>> up = store_->Migrations();
  ASSERT_OK(up);
  for (const MigrationInfo& m : *up) EXPECT_TRUE(m.applied) << m.version;
  // Empty again and usable.
  Result<Worker> missing = store_->GetWorker("ws1", w.id);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  ASSERT_OK(store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}}));
  ASSERT_OK(store_->GetWorker("ws1", w.id));
}

TEST_P(StoreConformanceTest, MigrateDownOneStepRollsBackOnlyTheNewest) {
  Result<std::vector<MigrationInfo>> infos = store_->Migrations();
  ASSERT_OK(infos);
  ASSERT_OK(store_->MigrateDown(1));
  Result<std::vector<MigrationInfo>> after = store_->Migrations();
  ASSERT_OK(after);
  ASSERT_EQ(after->size(), infos->size());
  for (size_t i = 0; i < after->size(); ++i) {
    EXPECT_EQ((*after)[i].applied, i + 1 < after->size()) << (*after)[i].version;
  }
  ASSERT_OK(store_->MigrateDown(0));    // nothing
  ASSERT_OK(store_->MigrateDown(100));  // more than applied: all
  ASSERT_OK(store_->MigrateUp());
}

TEST_P(StoreConformanceTest, MigrateDownRejectsNegativeSteps) {
  Status st = store_->MigrateDown(-1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidRequest);
}

TEST_P(StoreConformanceTest, Ping) { ASSERT_OK(store_->Ping()); }

// ---- create, get, round trip ---------------------------------------------------------

TEST_P(StoreConformanceTest, JobRoundTripsEveryField) {
  const Job full = FullJob("ws1");
  const Job bare = MakeJob("ws1");  // zeros and empties: nulls in the database
  ASSERT_OK(store_->Apply(ChangeSet{{full, bare}, {}, {}, {}, {}, {}, {}, {}}));
  Result<Job> got = store_->GetJob("ws1", full.id);
  ASSERT_OK(got);
  ExpectSameJob(*got, full);
  Result<Job> got_bare = store_->GetJob("ws1", bare.id);
  ASSERT_OK(got_bare);
  ExpectSameJob(*got_bare, bare);
}

TEST_P(StoreConformanceTest, WorkerRoundTripsEveryField) {
  const Worker full = FullWorker("ws1");
  Worker bare = MakeWorker("ws1", "j_x");
  bare.exit_code = 0;  // a real zero exit code is not "null"
  ASSERT_OK(store_->Apply(ChangeSet{{}, {full, bare}, {}, {}, {}, {}, {}, {}}));
  Result<Worker> got = store_->GetWorker("ws1", full.id);
  ASSERT_OK(got);
  ExpectSameWorker(*got, full);
  Result<Worker> got_bare = store_->GetWorker("ws1", bare.id);
  ASSERT_OK(got_bare);
  ExpectSameWorker(*got_bare, bare);
  EXPECT_EQ(got_bare->exit_code, std::optional<int>(0));
  EXPECT_EQ(got_bare->exit_signal, std::nullopt);
}

TEST_P(StoreConformanceTest, MissingIdsAreNotFound) {
  Result<Job> j = store_->GetJob("ws1", "j_nope");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kNotFound);
  Result<Worker> w = store_->GetWorker("ws1", "w_nope");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformanceTest, DuplicateIdFailsAsInternal) {
  const Worker w = MakeWorker("ws1", "j_1");
  ASSERT_OK(store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}}));
  Status st = store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
  ExpectNoDatabaseText(st.error());
}

// ---- workspace isolation -------------------------------------------------------------

TEST_P(StoreConformanceTest, AnotherWorkspaceSeesNothing) {
  const Job job = MakeJob("ws1", JobState::kRunning);
  const Worker w = MakeWorker("ws1", job.id, WorkerState::kRunning);
  ASSERT_OK(store_->Apply(ChangeSet{{job}, {w}, {}, {}, {}, {}, {}, {}}));

  Result<Job> j = store_->GetJob("ws2", job.id);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kNotFound);
  Result<Worker> wk = store_->GetWorker("ws2", w.id);
  ASSERT_FALSE(wk.ok());
  EXPECT_EQ(wk.error().code, ErrorCode::kNotFound);

  Result<Page<Job>> jobs = store_->ListJobs("ws2", JobQuery{});
  ASSERT_OK(jobs);
  EXPECT_THAT(jobs->items, IsEmpty());
  JobQuery by_status;
  by_status.status = JobState::kRunning;
  jobs = store_->ListJobs("ws2", by_status);
  ASSERT_OK(jobs);
  EXPECT_THAT(jobs->items, IsEmpty());

  Result<Page<Worker>> workers = store_->ListWorkers("ws2", WorkerQuery{});
  ASSERT_OK(workers);
  EXPECT_THAT(workers->items, IsEmpty());
  WorkerQuery by_job;
  by_job.job_id = job.id;
  workers = store_->ListWorkers("ws2", by_job);
  ASSERT_OK(workers);
  EXPECT_THAT(workers->items, IsEmpty());

  // The worker's transitions belong to its workspace: another one reads none (not kNotFound,
  // like a worker that does not exist), its own reads the creation row.
  Result<std::vector<Transition>> transitions = store_->ListTransitions("ws2", w.id);
  ASSERT_OK(transitions);
  EXPECT_THAT(*transitions, IsEmpty());
  transitions = store_->ListTransitions("ws1", w.id);
  ASSERT_OK(transitions);
  EXPECT_EQ(transitions->size(), 1u);

  Result<std::vector<std::pair<WorkerState, int64_t>>> counts = store_->CountWorkersByStatus("ws2");
  ASSERT_OK(counts);
  for (const auto& [state, n] : *counts) EXPECT_EQ(n, 0) << core::WorkerStateName(state);

  // Updates addressed to the wrong workspace do not touch the row.
  WorkerUpdate u = Move(w, WorkerState::kPaused, "PAUSE", kT0 + 1);
  u.worker.workspace_id = "ws2";
  Status st = store_->Apply(ChangeSet{{}, {}, {u}, {}, {}, {}, {}, {}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  JobUpdate ju{job, JobState::kRunning};
  ju.job.workspace_id = "ws2";
  ju.job.status = JobState::kCompleted;
  st = store_->Apply(ChangeSet{{}, {}, {}, {ju}, {}, {}, {}, {}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  Result<Worker> still = store_->GetWorker("ws1", w.id);
  ASSERT_OK(still);
  EXPECT_EQ(still->status, WorkerState::kRunning);
}

// ---- lists, filters, pagination ------------------------------------------------------

TEST_P(StoreConformanceTest, ListWorkersFiltersByStatusAndJob) {
  const std::string ja = "j_a", jb = "j_b";
  std::vector<Worker> all = {
      MakeWorker("ws1", ja, WorkerState::kRunning), MakeWorker("ws1", ja, WorkerState::kIdle),
      MakeWorker("ws1", jb, WorkerState::kRunning), MakeWorker("ws1", jb, WorkerState::kFailed),
      MakeWorker("ws2", ja, WorkerState::kRunning)};
  ASSERT_OK(store_->Apply(ChangeSet{{}, all, {}, {}, {}, {}, {}, {}}));

  Result<Page<Worker>> page = store_->ListWorkers("ws1", WorkerQuery{});
  ASSERT_OK(page);
  EXPECT_THAT(Ids(page->items), ElementsAre(all[0].id, all[1].id, all[2].id, all[3].id));
  EXPECT_EQ(page->next_after_id, "");

  WorkerQuery q;
  q.status = WorkerState::kRunning;
  page = store_->ListWorkers("ws1", q);
  ASSERT_OK(page);
  EXPECT_THAT(Ids(page->items), ElementsAre(all[0].id, all[2].id));

  q = WorkerQuery{};
  q.job_id = jb;
  page = store_->ListWorkers("ws1", q);
  ASSERT_OK(page);
  EXPECT_THAT(Ids(page->items), ElementsAre(all[2].id, all[3].id));

  q.status = WorkerState::kFailed;
  page = store_->ListWorkers("ws1", q);
  ASSERT_OK(page);
  EXPECT_THAT(Ids(page->items), ElementsAre(all[3].id));

  q.status = WorkerState::kPaused;
  page = store_->ListWorkers("ws1", q);
  ASSERT_OK(page);
  EXPECT_THAT(page->items, IsEmpty());
  EXPECT_EQ(page->next_after_id, "");
}

TEST_P(StoreConformanceTest, ListWorkersPagesWithoutLossOrRepeat) {
  std::vector<Worker> all;
  for (int i = 0; i < 23; ++i) {
    all.push_back(MakeWorker("ws1", "j_1", i % 2 ? WorkerState::kRunning : WorkerState::kIdle));
  }
  std::vector<Worker> shuffled = all;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  ASSERT_OK(store_->Apply(ChangeSet{{}, shuffled, {}, {}, {}, {}, {}, {}}));
  std::vector<std::string> expected = Ids(all);
  std::sort(expected.begin(), expected.end());

  for (int limit : {1, 4, 5, 22, 23, 24, 100}) {
    std::vector<std::string> seen;
    WorkerQuery q;
    q.limit = limit;
    int pages = 0;
    while (true) {
      Result<Page<Worker>> page = store_->ListWorkers("ws1", q);
      ASSERT_OK(page);
      ASSERT_LE(std::ssize(page->items), limit);
      for (const Worker& w : page->items) seen.push_back(w.id);
      ++pages;
      ASSERT_LE(pages, 30) << "pagination does not end";
      if (page->next_after_id.empty()) break;
      EXPECT_EQ(std::ssize(page->items), limit) << "a page before the last must be full";
      EXPECT_EQ(page->next_after_id, page->items.back().id);
      q.after_id = page->next_after_id;
    }
    EXPECT_EQ(seen, expected) << "limit " << limit;
    EXPECT_EQ(pages, (23 + limit - 1) / limit) << "limit " << limit;
  }

  // With a filter too.
  WorkerQuery q;
  q.status = WorkerState::kRunning;
  q.limit = 3;
  std::vector<std::string> seen;
  while (true) {
    Result<Page<Worker>> page = store_->ListWorkers("ws1", q);
    ASSERT_OK(page);
    for (const Worker& w : page->items) {
      EXPECT_EQ(w.status, WorkerState::kRunning);
      seen.push_back(w.id);
    }
    if (page->next_after_id.empty()) break;
    q.after_id = page->next_after_id;
  }
  EXPECT_EQ(seen.size(), 11u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size());
}

TEST_P(StoreConformanceTest, ListRejectsNonPositiveLimit) {
  WorkerQuery wq;
  wq.limit = 0;
  Result<Page<Worker>> w = store_->ListWorkers("ws1", wq);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kInvalidRequest);
  JobQuery jq;
  jq.limit = -5;
  Result<Page<Job>> j = store_->ListJobs("ws1", jq);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.error().code, ErrorCode::kInvalidRequest);
}

TEST_P(StoreConformanceTest, ListJobsFiltersByStatusParentAndDepth) {
  const Job root1 = MakeJob("ws1", JobState::kRunning);
  const Job root2 = MakeJob("ws1", JobState::kCompleted);
  const Job child1 = MakeJob("ws1", JobState::kRunning, root1.id, 1);
  const Job child2 = MakeJob("ws1", JobState::kPending, root1.id, 1);
  const Job grandchild = MakeJob("ws1", JobState::kRunning, child1.id, 2);
  const Job other = MakeJob("ws2", JobState::kRunning);
  ASSERT_OK(store_->Apply(
      ChangeSet{{root1, root2, child1, child2, grandchild, other}, {}, {}, {}, {}, {}, {}, {}}));

  auto list = [&](JobQuery q) {
    Result<Page<Job>> page = store_->ListJobs("ws1", q);
    EXPECT_TRUE(page.ok());
    return page.ok() ? Ids(page->items) : std::vector<std::string>{};
  };
  EXPECT_THAT(list(JobQuery{}),
              ElementsAre(root1.id, root2.id, child1.id, child2.id, grandchild.id));
  JobQuery q;
  q.status = JobState::kRunning;
  EXPECT_THAT(list(q), ElementsAre(root1.id, child1.id, grandchild.id));
  q = JobQuery{};
  q.parent_job_id = "";
  EXPECT_THAT(list(q), ElementsAre(root1.id, root2.id));
  q.parent_job_id = root1.id;
  EXPECT_THAT(list(q), ElementsAre(child1.id, child2.id));
  q.status = JobState::kPending;
  EXPECT_THAT(list(q), ElementsAre(child2.id));
  q = JobQuery{};
  q.depth = 2;
  EXPECT_THAT(list(q), ElementsAre(grandchild.id));
  q.depth = 0;
  q.status = JobState::kCompleted;
  EXPECT_THAT(list(q), ElementsAre(root2.id));
  q = JobQuery{};
  q.depth = 1;
  q.parent_job_id = root1.id;
  q.status = JobState::kRunning;
  EXPECT_THAT(list(q), ElementsAre(child1.id));
}

TEST_P(StoreConformanceTest, ListJobSubtreeIsBreadthFirstWithinOneWorkspace) {
  const Job root = MakeJob("ws1", JobState::kRunning);
  const Job other_root = MakeJob("ws1", JobState::kRunning);
  const Job child1 = MakeJob("ws1", JobState::kRunning, root.id, 1);
  const Job child2 = MakeJob("ws1", JobState::kCompleted, root.id, 1);
  const Job grandchild = MakeJob("ws1", JobState::kRunning, child1.id, 2);
  const Job unrelated = MakeJob("ws1", JobState::kRunning, other_root.id, 1);
  // A row of another workspace that (wrongly) names root as its parent is not reached.
  const Job foreign = MakeJob("ws2", JobState::kRunning, root.id, 1);
  ASSERT_OK(
      store_->Apply(ChangeSet{{root, other_root, child1, child2, grandchild, unrelated, foreign},
                              {},
                              {},
                              {},
                              {},
                              {},
                              {},
                              {}}));

  Result<std::vector<Job>> all = store_->ListJobSubtree("ws1", root.id, 100);
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_THAT(Ids(*all), ElementsAre(root.id, child1.id, child2.id, grandchild.id));
  Result<std::vector<Job>> mid = store_->ListJobSubtree("ws1", child1.id, 100);
  ASSERT_TRUE(mid.ok());
  EXPECT_THAT(Ids(*mid), ElementsAre(child1.id, grandchild.id));
  // The limit cuts the deepest first.
  Result<std::vector<Job>> cut = store_->ListJobSubtree("ws1", root.id, 3);
  ASSERT_TRUE(cut.ok());
  EXPECT_THAT(Ids(*cut), ElementsAre(root.id, child1.id, child2.id));
  EXPECT_EQ(store_->ListJobSubtree("ws2", root.id, 100).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListJobSubtree("ws1", "j_missing", 100).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->ListJobSubtree("ws1", root.id, 0).error().code, ErrorCode::kInvalidRequest);
}

TEST_P(StoreConformanceTest, JobInSubtreeAnswersFromTheClosureTableAtAnyDepth) {
  const Job root = MakeJob("ws1", JobState::kRunning);
  const Job child = MakeJob("ws1", JobState::kCompleted, root.id, 1);
  const Job grandchild = MakeJob("ws1", JobState::kRunning, child.id, 2);
  const Job sibling = MakeJob("ws1", JobState::kRunning, root.id, 1);
  const Job foreign = MakeJob("ws2", JobState::kRunning, root.id, 1);
  ASSERT_OK(store_->Apply(
      ChangeSet{{root, child, grandchild, sibling, foreign}, {}, {}, {}, {}, {}, {}, {}}));
  auto within = [&](const std::string& ws, const Job& ancestor, const std::string& id) {
    Result<bool> r = store_->JobInSubtree(ws, ancestor.id, id);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() && *r;
  };
  EXPECT_TRUE(within("ws1", root, root.id));
  EXPECT_TRUE(within("ws1", root, grandchild.id));
  EXPECT_TRUE(within("ws1", child, grandchild.id));
  EXPECT_FALSE(within("ws1", sibling, grandchild.id));
  EXPECT_FALSE(within("ws1", grandchild, root.id));  // not upwards
  EXPECT_FALSE(within("ws1", root, "j_missing"));
  EXPECT_FALSE(within("ws2", root, foreign.id));  // another workspace's row is not reached
  EXPECT_FALSE(within("ws1", root, foreign.id));
}

TEST_P(StoreConformanceTest, JobHierarchyAndDependenciesAreWrittenWithTheJobAndBackfilled) {
  const Job root = MakeJob("ws1", JobState::kRunning);
  const Job child = MakeJob("ws1", JobState::kRunning, root.id, 1);
  Job grandchild = MakeJob("ws1", JobState::kPending, child.id, 2);
  grandchild.depends_on = {root.id, child.id};
  ASSERT_OK(store_->Apply(ChangeSet{{root, child, grandchild}, {}, {}, {}, {}, {}, {}, {}}));
  // Closure rows: each job itself, child under root, grandchild under child and root.
  EXPECT_EQ(Rows("job_hierarchy"), 3 + 1 + 2);
  EXPECT_EQ(Rows("job_dependencies"), 2);

  // Rolled back past 0007 and up again: the rows of existing jobs are filled in.
  Result<std::vector<MigrationInfo>> infos = store_->Migrations();
  ASSERT_OK(infos);
  int newer = 0;
  for (const MigrationInfo& m : *infos) newer += m.version >= 7 ? 1 : 0;
  ASSERT_OK(store_->MigrateDown(newer));
  ASSERT_OK(store_->MigrateUp());
  EXPECT_EQ(Rows("job_hierarchy"), 6);
  EXPECT_EQ(Rows("job_dependencies"), 2);
  Result<std::vector<Job>> sub = store_->ListJobSubtree("ws1", root.id, 10);
  ASSERT_OK(sub);
  EXPECT_THAT(Ids(*sub), ElementsAre(root.id, child.id, grandchild.id));
  // A job inserted after the backfill joins the same tree.
  const Job late = MakeJob("ws1", JobState::kRunning, grandchild.id, 3);
  ASSERT_OK(store_->Apply(ChangeSet{{late}, {}, {}, {}, {}, {}, {}, {}}));
  sub = store_->ListJobSubtree("ws1", child.id, 10);
  ASSERT_OK(sub);
  EXPECT_THAT(Ids(*sub), ElementsAre(child.id, grandchild.id, late.id));
}

TEST_P(StoreConformanceTest, QuotasUpsertPerWorkspaceAndDepth) {
  ASSERT_OK(store_->SetQuotas({core::Quota{"ws1", 0, 2, kT0}, core::Quota{"ws2", 1, 4, kT0}}));
  ASSERT_OK(store_->SetQuotas({core::Quota{"ws1", 0, 3, kT0 + 1}}));
  Result<std::vector<core::Quota>> rows = store_->ListQuotas();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].workspace_id, "ws1");
  EXPECT_EQ((*rows)[0].depth, 0);
  EXPECT_EQ((*rows)[0].max_workers, 3);
  EXPECT_EQ((*rows)[0].updated_at, kT0 + 1);
  EXPECT_EQ((*rows)[1].workspace_id, "ws2");
  EXPECT_EQ((*rows)[1].max_workers, 4);
}

TEST_P(StoreConformanceTest, QuotasChangeInAChangeSetWithTheirEvents) {
  ChangeSet cs;
  cs.quotas = {core::Quota{"ws1", 1, 5, kT0}};
  cs.events = {core::QuotaChangedEvent(cs.quotas[0], kT0)};
  ASSERT_OK(store_->Apply(cs));
  ChangeSet again;
  again.quotas = {core::Quota{"ws1", 1, 2, kT0 + 1}};
  ASSERT_OK(store_->Apply(again));
  Result<std::vector<core::Quota>> rows = store_->ListQuotas();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].max_workers, 2);
  EXPECT_EQ((*rows)[0].updated_at, kT0 + 1);
  Result<std::vector<core::Event>> events = store_->ListEvents("ws1", 0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].type, core::EventType::kQuotaChanged);
  // A ChangeSet that fails leaves no quota behind.
  ChangeSet failing;
  failing.quotas = {core::Quota{"ws1", 2, 7, kT0}};
  failing.require_jobs = {JobStillActive("ws1", "j_missing")};
  EXPECT_FALSE(store_->Apply(failing).ok());
  EXPECT_EQ(store_->ListQuotas()->size(), 1u);
}

TEST_P(StoreConformanceTest, AllocationsAreHeldUntilReleasedInTheirChangeSet) {
  core::Allocation a{NewId("a_"), "ws1", "j_1", "w_1", 0, 1, kT0, 0};
  core::Allocation b{NewId("a_"), "ws1", "j_1", "", 1, 3, kT0, 0};
  ChangeSet take;
  take.new_allocations = {a, b};
  ASSERT_OK(store_->Apply(take));
  Result<std::vector<core::Allocation>> held = store_->ListHeldAllocations();
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].worker_id, "w_1");
  EXPECT_EQ((*held)[1].worker_id, "");
  EXPECT_EQ((*held)[1].worker_count, 3);
  EXPECT_EQ((*held)[1].depth, 1);
  ChangeSet release;
  release.released_allocations = {AllocationRelease{a.id, "ws1", kT0 + 5}};
  ASSERT_OK(store_->Apply(release));
  held = store_->ListHeldAllocations();
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].id, b.id);
  // Released twice, or from another workspace: not found, and nothing of that ChangeSet stays.
  ChangeSet again;
  again.new_allocations = {core::Allocation{NewId("a_"), "ws1", "j_2", "", 0, 1, kT0, 0}};
  again.released_allocations = {AllocationRelease{a.id, "ws1", kT0 + 6}};
  EXPECT_EQ(store_->Apply(again).error().code, ErrorCode::kNotFound);
  ChangeSet foreign;
  foreign.released_allocations = {AllocationRelease{b.id, "ws2", kT0 + 6}};
  EXPECT_EQ(store_->Apply(foreign).error().code, ErrorCode::kNotFound);
  Result<std::vector<core::Allocation>> of_job = store_->ListJobAllocations("ws1", "j_1");
  ASSERT_TRUE(of_job.ok());
  ASSERT_EQ(of_job->size(), 2u);
  EXPECT_EQ((*of_job)[0].released_at + (*of_job)[1].released_at, kT0 + 5);
  EXPECT_TRUE(store_->ListJobAllocations("ws1", "j_2")->empty());
  EXPECT_TRUE(store_->ListJobAllocations("ws2", "j_1")->empty());
}

TEST_P(StoreConformanceTest, SlotLimitsAreDecidedWithTheAllocationsInTheTransaction) {
  auto alloc = [](const std::string& ws, int depth, int n) {
    return core::Allocation{NewId("a_"), ws, "j_1", "", depth, n, kT0, 0};
  };
  // 3 of 4 slots at depth 1 held; another workspace's and another depth's do not count.
  ChangeSet first;
  first.new_allocations = {alloc("ws1", 1, 3), alloc("ws2", 1, 9), alloc("ws1", 0, 9)};
  ASSERT_OK(store_->Apply(first));
  ChangeSet fits;
  fits.new_allocations = {alloc("ws1", 1, 1)};
  fits.slot_limits = {SlotLimit{"ws1", 1, 4}};
  ASSERT_OK(store_->Apply(fits));
  // One more breaks it: the whole ChangeSet fails and leaves nothing.
  ChangeSet over;
  over.new_allocations = {alloc("ws1", 1, 1)};
  over.events = {
      core::AllocationEvent(core::EventType::kAllocationCreated, over.new_allocations[0], kT0)};
  over.slot_limits = {SlotLimit{"ws1", 1, 4}};
  const int64_t events_before = Rows("events");
  Status st = store_->Apply(over);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kQuotaExceeded);
  EXPECT_EQ(DetailInt(st.error(), "used"), 4);
  EXPECT_EQ(DetailInt(st.error(), "requested"), 1);
  EXPECT_EQ(DetailInt(st.error(), "quota"), 4);
  EXPECT_EQ(DetailInt(st.error(), "depth"), 1);
  EXPECT_EQ(Rows("events"), events_before);
  EXPECT_EQ(store_->ListHeldAllocations()->size(), 4u);
  // In a group commit it fails alone; a release in the same ChangeSet frees its slot first.
  Result<std::vector<core::Allocation>> held = store_->ListJobAllocations("ws1", "j_1");
  ASSERT_OK(held);
  ChangeSet swap;
  swap.released_allocations = {AllocationRelease{(*held)[0].id, (*held)[0].workspace_id, kT0 + 1}};
  swap.new_allocations = {alloc("ws1", (*held)[0].depth, (*held)[0].worker_count)};
  swap.slot_limits = {SlotLimit{"ws1", 1, 4}};
  std::vector<const ChangeSet*> batch = {&over, &swap};
  std::vector<Status> results = store_->ApplyAll(batch);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].error().code, ErrorCode::kQuotaExceeded);
  EXPECT_TRUE(results[1].ok()) << results[1].error().message;
}

TEST_P(StoreConformanceTest, ListJobsPagesWithoutLossOrRepeat) {
  std::vector<Job> all;
  for (int i = 0; i < 17; ++i) all.push_back(MakeJob("ws1"));
  std::vector<Job> shuffled = all;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(11));
  ASSERT_OK(store_->Apply(ChangeSet{shuffled, {}, {}, {}, {}, {}, {}, {}}));
  std::vector<std::string> expected = Ids(all);
  std::sort(expected.begin(), expected.end());

  for (int limit : {1, 3, 16, 17, 18}) {
    JobQuery q;
    q.limit = limit;
    q.parent_job_id = "";
    std::vector<std::string> seen;
    for (int pages = 0;; ++pages) {
      ASSERT_LE(pages, 20);
      Result<Page<Job>> page = store_->ListJobs("ws1", q);
      ASSERT_OK(page);
      ASSERT_LE(std::ssize(page->items), limit);
      for (const Job& j : page->items) seen.push_back(j.id);
      if (page->next_after_id.empty()) break;
      q.after_id = page->next_after_id;
    }
    EXPECT_EQ(seen, expected) << "limit " << limit;
  }
}

TEST_P(StoreConformanceTest, ListInStatesSpansWorkspaces) {
  std::vector<Worker> workers = {MakeWorker("ws1", "j_1", WorkerState::kRunning),
                                 MakeWorker("ws2", "j_2", WorkerState::kPaused),
                                 MakeWorker("ws3", "j_3", WorkerState::kCompleted),
                                 MakeWorker("ws1", "j_1", WorkerState::kRetrying)};
  std::vector<Job> jobs = {MakeJob("ws1", JobState::kRunning), MakeJob("ws2", JobState::kPending),
                           MakeJob("ws3", JobState::kCompleted)};
  ASSERT_OK(store_->Apply(ChangeSet{jobs, workers, {}, {}, {}, {}, {}, {}}));

  Result<std::vector<Worker>> live = store_->ListWorkersInStates(
      {WorkerState::kRunning, WorkerState::kPaused, WorkerState::kRetrying});
  ASSERT_OK(live);
  EXPECT_THAT(Ids(*live), ElementsAre(workers[0].id, workers[1].id, workers[3].id));
  Result<std::vector<Worker>> none = store_->ListWorkersInStates({});
  ASSERT_OK(none);
  EXPECT_THAT(*none, IsEmpty());

  Result<std::vector<Job>> open =
      store_->ListJobsInStates({JobState::kRunning, JobState::kPending});
  ASSERT_OK(open);
  EXPECT_THAT(Ids(*open), ElementsAre(jobs[0].id, jobs[1].id));
  Result<std::vector<Job>> canceled = store_->ListJobsInStates({JobState::kCanceled});
  ASSERT_OK(canceled);
  EXPECT_THAT(*canceled, IsEmpty());
}

TEST_P(StoreConformanceTest, CountWorkersByStatusCountsOneWorkspace) {
  std::vector<Worker> workers = {
      MakeWorker("ws1", "j", WorkerState::kRunning), MakeWorker("ws1", "j", WorkerState::kRunning),
      MakeWorker("ws1", "j", WorkerState::kFailed), MakeWorker("ws2", "j", WorkerState::kRunning)};
  ASSERT_OK(store_->Apply(ChangeSet{{}, workers, {}, {}, {}, {}, {}, {}}));
  Result<std::vector<std::pair<WorkerState, int64_t>>> counts = store_->CountWorkersByStatus("ws1");
  ASSERT_OK(counts);
  int64_t total = 0;
  for (const auto& [state, n] : *counts) {
    total += n;
    if (state == WorkerState::kRunning)
      EXPECT_EQ(n, 2);
    else if (state == WorkerState::kFailed)
      EXPECT_EQ(n, 1);
    else
      EXPECT_EQ(n, 0) << core::WorkerStateName(state);
  }
  EXPECT_EQ(total, 3);
}

}  // namespace
}  // namespace overseer::store::testing_support
