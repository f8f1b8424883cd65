// The checks of the invariant test on hand-made records: each fires on a violation and keeps
// quiet at its tie rule (events in the same millisecond ordered in the daemon's favour).
#include "integration/invariant_checks.h"

#include <gtest/gtest.h>

namespace overseer::it::invariant {
namespace {

AllocationRow Alloc(const std::string& id, const std::string& worker, int64_t from,
                    std::optional<int64_t> to, int depth = 0, int count = 1) {
  AllocationRow a;
  a.id = id;
  a.job_id = "j_1";
  a.worker_id = worker;
  a.depth = depth;
  a.count = count;
  a.allocated_at = from;
  a.released_at = to;
  return a;
}

Records OneJob(const std::vector<std::pair<std::string, int64_t>>& states, int64_t completed = 0,
               const std::string& job_status = "COMPLETED") {
  Records r;
  JobRow j;
  j.id = "j_1";
  j.status = job_status;
  j.worker_count = 1;
  j.max_attempts = 3;
  j.created_at = 1;
  j.completed_at = completed;
  r.jobs[j.id] = j;
  WorkerRow w;
  w.id = "w_1";
  w.job_id = "j_1";
  std::string prev;
  int64_t seq = 0;
  for (const auto& [to, ts] : states) {
    r.transitions["w_1"].push_back(TransitionRow{++seq, prev, to, "R", ts});
    prev = to;
  }
  w.status = prev;
  r.workers[w.id] = w;
  return r;
}

TEST(InvariantChecks, QuotaCountsAReleaseAndAGrantInTheSameMillisecondAsSequential) {
  QuotaTimeline q;
  q.initial[0] = 1;
  Records r;
  r.allocations = {Alloc("a_1", "w_1", 100, 200), Alloc("a_2", "w_2", 200, 300)};
  EXPECT_TRUE(CheckQuota(r, q).empty());
  r.allocations.push_back(Alloc("a_3", "", 150, 160, 0, 1));  // an API allocation over the quota
  std::vector<Violation> v = CheckQuota(r, q);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].what.find("a_3"), std::string::npos) << v[0].what;
}

TEST(InvariantChecks, QuotaAcceptsEitherValueWhileAChangeIsInFlight) {
  QuotaTimeline q;
  q.initial[1] = 2;
  q.changes.push_back(QuotaChange{1, 1, 140, 160, QuotaChange::Outcome::kApplied});
  EXPECT_EQ(q.Allowed(1, 139), 2);
  EXPECT_EQ(q.Allowed(1, 140), 2);
  EXPECT_EQ(q.Allowed(1, 160), 2);
  EXPECT_EQ(q.Allowed(1, 161), 1);
  q.changes.push_back(QuotaChange{1, 3, 200, 210, QuotaChange::Outcome::kRejected});
  EXPECT_EQ(q.Allowed(1, 250), 1);
  q.changes.push_back(QuotaChange{1, 3, 300, 310, QuotaChange::Outcome::kUnknown});
  EXPECT_EQ(q.Allowed(1, 350), 3);
  EXPECT_EQ(q.Allowed(0, 350), 0);  // never set: nothing is allowed
}

TEST(InvariantChecks, CoverageTakesTheUnionOfTheWorkersAllocations) {
  Records r = OneJob({{"IDLE", 1}, {"RUNNING", 100}, {"COMPLETED", 300}}, 300);
  r.allocations = {Alloc("a_1", "w_1", 100, 200), Alloc("a_2", "w_1", 200, 300)};
  EXPECT_TRUE(CheckCoverage(r, 1000).empty());
  r.allocations[1].allocated_at = 201;  // a millisecond without a slot
  EXPECT_EQ(CheckCoverage(r, 1000).size(), 1u);
  r.allocations = {Alloc("a_1", "w_2", 100, 300)};  // another worker's slot does not count
  EXPECT_EQ(CheckCoverage(r, 1000).size(), 1u);
}

TEST(InvariantChecks, ARetryWithoutASlotIsUncovered) {
  Records r = OneJob({{"IDLE", 1},
                      {"RUNNING", 100},
                      {"PAUSED", 150},
                      {"FAILED", 200},
                      {"RETRYING", 200},
                      {"RUNNING", 250},
                      {"COMPLETED", 300}},
                     300);
  r.allocations = {Alloc("a_1", "w_1", 100, 150)};
  EXPECT_EQ(CheckCoverage(r, 1000).size(), 2u);  // RETRYING and the RUNNING after it
  std::vector<Violation> h = CheckHistories(r);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_NE(h[0].what.find("illegal PAUSED -> FAILED"), std::string::npos) << h[0].what;
}

TEST(InvariantChecks, HistoriesMustChainFromIdle) {
  Records r = OneJob({{"IDLE", 1}, {"RUNNING", 100}, {"COMPLETED", 300}}, 300);
  EXPECT_TRUE(CheckHistories(r).empty());
  r.transitions["w_1"][2].from = "PAUSED";  // from != previous to, and PAUSED -> COMPLETED
  EXPECT_EQ(CheckHistories(r).size(), 2u);
  r = OneJob({{"RUNNING", 100}}, 0, "RUNNING");
  EXPECT_FALSE(CheckHistories(r).empty());
}

TEST(InvariantChecks, AStartAfterTheJobEndedIsReportedFromTheNextMillisecond) {
  Records r = OneJob({{"IDLE", 1}, {"RUNNING", 300}, {"TERMINATED", 310}}, 300, "CANCELED");
  EXPECT_TRUE(CheckNothingStartsAfterTheEnd(r).empty());
  r.transitions["w_1"][1].ts = 301;
  EXPECT_EQ(CheckNothingStartsAfterTheEnd(r).size(), 1u);
}

TEST(InvariantChecks, AJobCompletedWithAFailedDependencyIsReported) {
  Records r = OneJob({{"IDLE", 1}, {"RUNNING", 100}, {"COMPLETED", 300}}, 300);
  JobRow dep;
  dep.id = "j_0";
  dep.status = "FAILED";
  dep.worker_count = 0;
  dep.completed_at = 50;
  r.jobs[dep.id] = dep;
  r.jobs["j_1"].depends_on = {"j_0"};
  std::vector<Violation> v = CheckJobs(r);
  EXPECT_GE(v.size(), 2u);  // not CANCELED, and it ran though the dependency failed
  r.jobs["j_0"].status = "COMPLETED";
  EXPECT_TRUE(CheckJobs(r).empty());
  r.allocations = {Alloc("a_1", "w_1", 100, std::nullopt)};
  EXPECT_EQ(CheckNoHeldAllocation(r).size(), 1u);
}

}  // namespace
}  // namespace overseer::it::invariant
