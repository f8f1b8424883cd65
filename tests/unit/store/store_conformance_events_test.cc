// The Store conformance suite (store_conformance.h), continued: the event log, idempotency keys,
// calls from several threads, and durability across a reopen. Runs on every backend (unit_store,
// unit_store_pg).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "unit/store/store_conformance.h"
#include "unit/store/store_conformance_helpers.h"

namespace overseer::store::testing_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

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
