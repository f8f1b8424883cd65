// The Store conformance suite (see store_conformance.h); backends instantiate it elsewhere.
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

namespace overseer::store::testing_support {

using core::Job;
using core::JobState;
using core::Transition;
using core::Worker;
using core::WorkerState;
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

namespace {

// Every field set to a distinctive non-default value.
Job FullJob(const std::string& ws) {
  Job j = MakeJob(ws, JobState::kRunning, NewId("j_"), 3);
  j.depends_on = {NewId("j_"), NewId("j_"), "odd \"id\"\\\n\x01"};
  j.worker_count = 7;
  j.timeout_seconds = 3600;
  j.retry = core::RetryPolicy{5, 250, 90'000, 1.7, 0.33};
  j.metadata_json = R"({"owner":"ada","tags":["x"]})";
  j.result_json = R"({"ok":true})";
  j.status_reason = "SPAWNED";
  j.updated_at = kT0 + 5;
  j.started_at = kT0 + 2;
  j.completed_at = kT0 + 9;
  return j;
}

}  // namespace

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

Worker FullWorker(const std::string& ws) {
  Worker w = MakeWorker(ws, NewId("j_"), WorkerState::kFailed);
  w.status_reason = "EXIT_NONZERO";
  w.pid = 4242;
  w.pgid = 4242;
  w.exit_code = 3;
  w.exit_signal = 9;
  w.attempt = 2;
  w.metadata_json = R"({"k":"v"})";
  w.cgroup_path = "/sys/fs/cgroup/overseer/" + w.id;
  w.updated_at = kT0 + 10;
  w.started_at = kT0 + 1;
  w.ended_at = kT0 + 9;
  return w;
}

// JSON columns keep their value, not their text: a backend may store JSON parsed (PostgreSQL's
// jsonb spaces it and orders an object's keys its own way). "" (none) stays "".
void ExpectSameJson(const std::string& got, const std::string& want) {
  if (got.empty() || want.empty()) {
    EXPECT_EQ(got, want);
    return;
  }
  boost::system::error_code ec_got;
  boost::system::error_code ec_want;
  const boost::json::value g = boost::json::parse(got, ec_got);
  const boost::json::value w = boost::json::parse(want, ec_want);
  ASSERT_FALSE(ec_got) << got;
  ASSERT_FALSE(ec_want) << want;
  EXPECT_EQ(g, w) << "got " << got << ", want " << want;
}

void ExpectSameJob(const Job& a, const Job& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.workspace_id, b.workspace_id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.depth, b.depth);
  EXPECT_EQ(a.parent_job_id, b.parent_job_id);
  EXPECT_EQ(a.depends_on, b.depends_on);
  EXPECT_EQ(a.worker_count, b.worker_count);
  EXPECT_EQ(a.timeout_seconds, b.timeout_seconds);
  EXPECT_EQ(a.retry.max_attempts, b.retry.max_attempts);
  EXPECT_EQ(a.retry.initial_backoff_ms, b.retry.initial_backoff_ms);
  EXPECT_EQ(a.retry.max_backoff_ms, b.retry.max_backoff_ms);
  EXPECT_EQ(a.retry.multiplier, b.retry.multiplier);
  EXPECT_EQ(a.retry.jitter, b.retry.jitter);
  ExpectSameJson(a.task_json, b.task_json);
  ExpectSameJson(a.metadata_json, b.metadata_json);
  ExpectSameJson(a.result_json, b.result_json);
  EXPECT_EQ(a.status_reason, b.status_reason);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.completed_at, b.completed_at);
  ASSERT_EQ(a.halted.has_value(), b.halted.has_value());
  if (a.halted) {
    EXPECT_EQ(a.halted->mode, b.halted->mode);
    EXPECT_EQ(a.halted->reason, b.halted->reason);
    EXPECT_EQ(a.halted->by, b.halted->by);
    EXPECT_EQ(a.halted->at, b.halted->at);
    EXPECT_EQ(a.halted->workspace_wide, b.halted->workspace_wide);
    EXPECT_EQ(a.halted->budget, b.halted->budget);
  }
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.usage, b.usage);
}

void ExpectSameWorker(const Worker& a, const Worker& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.workspace_id, b.workspace_id);
  EXPECT_EQ(a.job_id, b.job_id);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.status_reason, b.status_reason);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.pgid, b.pgid);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.exit_signal, b.exit_signal);
  EXPECT_EQ(a.attempt, b.attempt);
  ExpectSameJson(a.metadata_json, b.metadata_json);
  EXPECT_EQ(a.cgroup_path, b.cgroup_path);
  EXPECT_EQ(a.log_path, b.log_path);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.ended_at, b.ended_at);
}

std::vector<std::string> Ids(const auto& items) {
  std::vector<std::string> out;
  for (const auto& it : items) out.push_back(it.id);
  return out;
}

// "OK" or the error's SPEC name, for one-line expectations.
template <typename T>
std::string CodeOf(const Result<T>& r) {
  return r.ok() ? "OK" : std::string(ErrorCodeName(r.error().code));
}

std::string DetailString(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.details) {
    if (k == key && std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  }
  return "<missing>";
}

int64_t DetailInt(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.details) {
    if (k == key && std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
  }
  return -1;
}

// An internal error's message may reach a log line a client's request id points to, never
// SQL or database text (store.h); the exact wording is the backend's.
void ExpectNoDatabaseText(const Error& e) {
  EXPECT_FALSE(e.message.empty());
  for (const char* leak : {"SELECT", "INSERT", "UPDATE", "UNIQUE", "constraint", "table", "workers",
                           "no such", "syntax"}) {
    EXPECT_EQ(e.message.find(leak), std::string::npos) << leak << " in: " << e.message;
  }
}

WorkerUpdate Move(const Worker& before, WorkerState to, const std::string& reason, TimeMs ts) {
  WorkerUpdate u;
  u.worker = before;
  u.worker.status = to;
  u.worker.status_reason = reason;
  u.worker.updated_at = ts;
  u.expected_status = before.status;
  u.transition = Transition{std::string(core::WorkerStateName(before.status)),
                            std::string(core::WorkerStateName(to)), reason, ts};
  return u;
}

core::Event MakeEvent(const std::string& ws, core::EventType type, TimeMs at) {
  core::Event e;
  e.workspace_id = ws;
  e.type = type;
  e.job_id = NewId("j_");
  e.created_at = at;
  return e;
}

std::vector<int64_t> Seqs(const std::vector<core::Event>& events) {
  std::vector<int64_t> out;
  for (const core::Event& e : events) out.push_back(e.seq);
  return out;
}

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& ok_status_ = (expr);                            \
    ASSERT_TRUE(ok_status_.ok()) << ok_status_.error().message; \
  } while (false)

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

// ---- the event log -------------------------------------------------------------------

TEST_P(StoreConformanceTest, EventsRoundTripEveryFieldInOrder) {
  core::Event worker = MakeEvent("ws1", core::EventType::kWorkerTransition, kT0 + 1);
  worker.worker_id = NewId("w_");
  worker.from_state = "RUNNING";
  worker.to_state = "RETRYING";
  worker.reason = "RETRY_SCHEDULED";
  worker.data_json = R"({"attempt":2,"retry_in_ms":500})";
  core::Event job = MakeEvent("ws1", core::EventType::kJobTransition, kT0 + 2);
  job.from_state = "PENDING";
  job.to_state = "RUNNING";
  job.reason = "WORKERS_STARTED";
  job.data_json = R"({"depth":1})";
  core::Event quota = MakeEvent("ws1", core::EventType::kQuotaChanged, kT0 + 3);
  quota.job_id.clear();
  quota.data_json = R"({"depth":0,"max_workers":4})";
  ChangeSet cs;
  cs.events = {worker, job, quota};
  ASSERT_OK(store_->Apply(cs));

  Result<std::vector<core::Event>> got = store_->ListEvents("ws1", 0, 100);
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 3u);
  const std::vector<core::Event> want = {worker, job, quota};
  for (size_t i = 0; i < want.size(); ++i) {
    const core::Event& g = (*got)[i];
    EXPECT_GT(g.seq, i == 0 ? 0 : (*got)[i - 1].seq) << i;
    EXPECT_EQ(g.workspace_id, want[i].workspace_id) << i;
    EXPECT_EQ(g.type, want[i].type) << i;
    EXPECT_EQ(g.job_id, want[i].job_id) << i;
    EXPECT_EQ(g.worker_id, want[i].worker_id) << i;
    EXPECT_EQ(g.from_state, want[i].from_state) << i;
    EXPECT_EQ(g.to_state, want[i].to_state) << i;
    EXPECT_EQ(g.reason, want[i].reason) << i;
    ExpectSameJson(g.data_json, want[i].data_json);
    EXPECT_EQ(g.created_at, want[i].created_at) << i;
  }
  EXPECT_EQ(Rows("events"), 3);
}

TEST_P(StoreConformanceTest, ListEventsIsPerWorkspaceAscendingAfterSeqAndLimited) {
  // Two workspaces' events interleaved over several commits, a group commit among them.
  std::vector<std::string> ws1_jobs;
  for (int round = 0; round < 4; ++round) {
    ChangeSet a, b;
    for (int i = 0; i < 3; ++i) {
      a.events.push_back(MakeEvent("ws1", core::EventType::kJobTransition, kT0 + round));
      ws1_jobs.push_back(a.events.back().job_id);
      b.events.push_back(MakeEvent("ws2", core::EventType::kAllocationCreated, kT0 + round));
    }
    if (round % 2 == 0) {
      ASSERT_OK(store_->Apply(b));
      ASSERT_OK(store_->Apply(a));
    } else {
      const std::vector<const ChangeSet*> both = {&a, &b};
      for (const Status& st : store_->ApplyAll(both)) ASSERT_OK(st);
    }
  }
  Result<std::vector<core::Event>> all = store_->ListEvents("ws1", 0, 1000);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 12u);
  std::vector<std::string> jobs;
  for (const core::Event& e : *all) {
    EXPECT_EQ(e.workspace_id, "ws1");
    jobs.push_back(e.job_id);
  }
  EXPECT_EQ(jobs, ws1_jobs);  // commit order
  const std::vector<int64_t> seqs = Seqs(*all);
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  EXPECT_EQ(std::set<int64_t>(seqs.begin(), seqs.end()).size(), seqs.size());

  // Pages of 5 after the last seq seen: the same events, none lost or repeated.
  std::vector<int64_t> paged;
  int64_t after = 0;
  for (int guard = 0; guard < 10; ++guard) {
    Result<std::vector<core::Event>> page = store_->ListEvents("ws1", after, 5);
    ASSERT_OK(page);
    ASSERT_LE(page->size(), 5u);
    if (page->empty()) break;
    for (int64_t seq : Seqs(*page)) paged.push_back(seq);
    after = page->back().seq;
  }
  EXPECT_EQ(paged, seqs);

  // after_seq in the middle, even one of another workspace's events.
  Result<std::vector<core::Event>> rest = store_->ListEvents("ws1", seqs[6], 1000);
  ASSERT_OK(rest);
  EXPECT_EQ(Seqs(*rest), std::vector<int64_t>(seqs.begin() + 7, seqs.end()));
  Result<std::vector<core::Event>> ws2 = store_->ListEvents("ws2", 0, 1000);
  ASSERT_OK(ws2);
  ASSERT_EQ(ws2->size(), 12u);
  std::vector<int64_t> ws2_after_seq6;
  for (const core::Event& e : *ws2) {
    EXPECT_EQ(e.workspace_id, "ws2");
    EXPECT_EQ(e.type, core::EventType::kAllocationCreated);
    if (e.seq > seqs[6]) ws2_after_seq6.push_back(e.seq);
  }
  Result<std::vector<core::Event>> ws2_rest = store_->ListEvents("ws2", seqs[6], 1000);
  ASSERT_OK(ws2_rest);
  EXPECT_EQ(Seqs(*ws2_rest), ws2_after_seq6);

  Result<std::vector<core::Event>> past_end = store_->ListEvents("ws1", seqs.back(), 1000);
  ASSERT_OK(past_end);
  EXPECT_THAT(*past_end, IsEmpty());
  Result<std::vector<core::Event>> other = store_->ListEvents("ws3", 0, 1000);
  ASSERT_OK(other);
  EXPECT_THAT(*other, IsEmpty());
}

TEST_P(StoreConformanceTest, ListEventsClampsLimitToOneThroughThousand) {
  ChangeSet cs;
  for (int i = 0; i < 1001; ++i) {
    cs.events.push_back(MakeEvent("ws1", core::EventType::kJobTransition, kT0 + i));
  }
  ASSERT_OK(store_->Apply(cs));
  for (int limit : {0, -5, 1}) {
    Result<std::vector<core::Event>> one = store_->ListEvents("ws1", 0, limit);
    ASSERT_OK(one);
    EXPECT_EQ(one->size(), 1u) << limit;
  }
  Result<std::vector<core::Event>> many = store_->ListEvents("ws1", 0, 5000);
  ASSERT_OK(many);
  ASSERT_EQ(many->size(), 1000u);
  EXPECT_EQ(many->back().created_at, kT0 + 999);
  Result<std::vector<core::Event>> last = store_->ListEvents("ws1", many->back().seq, 5000);
  ASSERT_OK(last);
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(last->front().created_at, kT0 + 1000);
}

TEST_P(StoreConformanceTest, OldestEventSeqIsPerWorkspaceAndZeroWhenNone) {
  Result<int64_t> none = store_->OldestEventSeq("ws1");
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0);
  ChangeSet first;
  first.events = {MakeEvent("ws2", core::EventType::kQuotaChanged, kT0)};
  ChangeSet second;
  second.events = {MakeEvent("ws1", core::EventType::kJobTransition, kT0 + 1),
                   MakeEvent("ws2", core::EventType::kJobTransition, kT0 + 1)};
  ASSERT_OK(store_->Apply(first));
  ASSERT_OK(store_->Apply(second));
  Result<std::vector<core::Event>> ws1 = store_->ListEvents("ws1", 0, 10);
  Result<std::vector<core::Event>> ws2 = store_->ListEvents("ws2", 0, 10);
  ASSERT_OK(ws1);
  ASSERT_OK(ws2);
  ASSERT_EQ(ws1->size(), 1u);
  ASSERT_EQ(ws2->size(), 2u);
  Result<int64_t> oldest1 = store_->OldestEventSeq("ws1");
  Result<int64_t> oldest2 = store_->OldestEventSeq("ws2");
  ASSERT_OK(oldest1);
  ASSERT_OK(oldest2);
  EXPECT_EQ(*oldest1, ws1->front().seq);
  EXPECT_EQ(*oldest2, ws2->front().seq);
  EXPECT_LT(*oldest2, *oldest1);
  EXPECT_EQ(*store_->OldestEventSeq("ws3"), 0);
}

TEST_P(StoreConformanceTest, ThousandNewWorkersApplyQuickly) {
  ChangeSet cs;
  Job job = MakeJob("ws1", JobState::kRunning);
  job.worker_count = 1000;
  cs.new_jobs = {job};
  for (int i = 0; i < 1000; ++i) cs.new_workers.push_back(MakeWorker("ws1", job.id));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK(store_->Apply(cs));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_EQ(Rows("workers"), 1000);
  EXPECT_EQ(Rows("state_transitions"), 1000);

  // Reads by id stay cheap (a few microseconds in release; generous under sanitizers).
  const auto read_start = std::chrono::steady_clock::now();
  for (int round = 0; round < 5; ++round) {
    for (const Worker& w : cs.new_workers) ASSERT_OK(store_->GetWorker("ws1", w.id));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - read_start, std::chrono::seconds(2));
}

// store.h: every method may be called concurrently from several threads (SQLite serializes
// them inside; a pooled backend runs them side by side). Writers and readers of several
// workspaces at once: every call succeeds and nothing is lost.
TEST_P(StoreConformanceTest, CallsFromSeveralThreadsAllSucceed) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string ws = "ws" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        const Worker w = MakeWorker(ws, "j_1", WorkerState::kRunning);
        if (!store_->Apply(ChangeSet{{}, {w}, {}, {}, {}, {}, {}, {}}).ok()) ++failures;
        if (!store_->GetWorker(ws, w.id).ok()) ++failures;
        if (!store_->BeginIdempotent(ws, w.id, "fp", kT0).ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Rows("workers"), kThreads * kPerThread);
  EXPECT_EQ(Rows("idempotency_keys"), kThreads * kPerThread);
}

// ---- idempotency ---------------------------------------------------------------------

TEST_P(StoreConformanceTest, IdempotencyOutcomes) {
  Result<IdempotencyRecord> r = store_->BeginIdempotent("ws1", "k1", "fp-a", kT0);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kStarted);

  r = store_->BeginIdempotent("ws1", "k1", "fp-a", kT0 + 1);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kInProgress);
  r = store_->BeginIdempotent("ws1", "k1", "fp-b", kT0 + 1);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kMismatch);

  // The key is scoped to the workspace.
  r = store_->BeginIdempotent("ws2", "k1", "fp-b", kT0 + 1);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kStarted);

  ASSERT_OK(store_->FinishIdempotent("ws1", "k1", 201, R"({"id":"w_1"})", kT0 + 2));
  r = store_->BeginIdempotent("ws1", "k1", "fp-a", kT0 + 3);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kReplay);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"id":"w_1"})");
  r = store_->BeginIdempotent("ws1", "k1", "fp-b", kT0 + 3);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kMismatch);

  // ws2's key is still in flight, unaffected by ws1's finish.
  r = store_->BeginIdempotent("ws2", "k1", "fp-b", kT0 + 3);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kInProgress);
}

TEST_P(StoreConformanceTest, FinishUnknownKeyIsNotFound) {
  Status st = store_->FinishIdempotent("ws1", "nope", 200, "{}", kT0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  ASSERT_OK(store_->BeginIdempotent("ws1", "k", "fp", kT0));
  st = store_->FinishIdempotent("ws2", "k", 200, "{}", kT0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  st = store_->FinishIdempotent("ws1", "k", 0, "{}", kT0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidRequest);
}

TEST_P(StoreConformanceTest, DropForgetsOnlyAnInFlightKey) {
  ASSERT_OK(store_->BeginIdempotent("ws1", "k1", "fp-a", kT0));
  ASSERT_OK(store_->DropIdempotent("ws1", "k1"));
  Result<IdempotencyRecord> r = store_->BeginIdempotent("ws1", "k1", "fp-b", kT0);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kStarted);

  ASSERT_OK(store_->FinishIdempotent("ws1", "k1", 200, "done", kT0));
  ASSERT_OK(store_->DropIdempotent("ws1", "k1"));  // finished: kept for replay
  r = store_->BeginIdempotent("ws1", "k1", "fp-b", kT0);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kReplay);
  ASSERT_OK(store_->DropIdempotent("ws1", "never-seen"));
}

TEST_P(StoreConformanceTest, PurgeRemovesOldKeysAndOptionallyInFlight) {
  ASSERT_OK(store_->BeginIdempotent("ws1", "old-done", "fp", kT0));
  ASSERT_OK(store_->FinishIdempotent("ws1", "old-done", 200, "x", kT0 + 1));
  ASSERT_OK(store_->BeginIdempotent("ws1", "new-done", "fp", kT0 + 1000));
  ASSERT_OK(store_->FinishIdempotent("ws1", "new-done", 200, "y", kT0 + 1001));
  ASSERT_OK(store_->BeginIdempotent("ws1", "new-flight", "fp", kT0 + 1000));

  auto outcome = [&](const std::string& key) {
    Result<IdempotencyRecord> r = store_->BeginIdempotent("ws1", key, "fp", kT0 + 2000);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->outcome : IdempotencyOutcome::kMismatch;
  };

  ASSERT_OK(store_->PurgeIdempotent(kT0 + 500, /*include_in_flight=*/false));
  EXPECT_EQ(Rows("idempotency_keys"), 2);
  EXPECT_EQ(outcome("new-done"), IdempotencyOutcome::kReplay);
  EXPECT_EQ(outcome("new-flight"), IdempotencyOutcome::kInProgress);

  ASSERT_OK(store_->PurgeIdempotent(kT0 + 500, /*include_in_flight=*/true));
  EXPECT_EQ(outcome("new-done"), IdempotencyOutcome::kReplay);
  EXPECT_EQ(outcome("new-flight"), IdempotencyOutcome::kStarted);
  EXPECT_EQ(outcome("old-done"), IdempotencyOutcome::kStarted);
}

// ---- durability ----------------------------------------------------------------------

TEST_P(StoreConformanceTest, ReopenedDatabaseKeepsData) {
  if (!backend_->Persistent()) GTEST_SKIP() << "not persistent";
  const Job job = FullJob("ws1");
  const Worker w = FullWorker("ws1");
  ASSERT_OK(store_->Apply(ChangeSet{{job}, {w}, {}, {}, {}, {}, {}, {}}));
  ASSERT_OK(store_->BeginIdempotent("ws1", "k", "fp", kT0));
  store_.reset();

  Result<std::unique_ptr<Store>> reopened = backend_->Open();
  ASSERT_OK(reopened);
  store_ = std::move(*reopened);
  Result<std::vector<MigrationInfo>> infos = store_->Migrations();
  ASSERT_OK(infos);
  for (const MigrationInfo& m : *infos) EXPECT_TRUE(m.applied);
  ASSERT_OK(store_->MigrateUp());  // nothing pending
  Result<Job> got_job = store_->GetJob("ws1", job.id);
  ASSERT_OK(got_job);
  ExpectSameJob(*got_job, job);
  Result<Worker> got_w = store_->GetWorker("ws1", w.id);
  ASSERT_OK(got_w);
  ExpectSameWorker(*got_w, w);
  Result<std::vector<Transition>> t = store_->ListTransitions("ws1", w.id);
  ASSERT_OK(t);
  EXPECT_EQ(t->size(), 1u);
  Result<IdempotencyRecord> r = store_->BeginIdempotent("ws1", "k", "fp", kT0);
  ASSERT_OK(r);
  EXPECT_EQ(r->outcome, IdempotencyOutcome::kInProgress);
}

}  // namespace
}  // namespace overseer::store::testing_support
