// ForwardingStore: a Store that passes every call to another one, for tests that change a few
// of its answers (a database that goes away, another writer acting between two calls) by
// overriding just those.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/store.h"

namespace overseer::service::testing {

// Holds a store call on the blocking pool's thread until the test releases it: the test waits
// for `holding`, acts, then sets `release`.
struct CallGate {
  std::atomic<bool> holding{false};  // a call is waiting now
  std::atomic<bool> release{false};

  void Wait() {
    holding = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    holding = false;
  }
};

class ForwardingStore : public store::Store {
 public:
  explicit ForwardingStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}

  std::vector<Status> ApplyAll(std::span<const store::ChangeSet* const> changes) override {
    return inner_->ApplyAll(changes);
  }
  Status Apply(const store::ChangeSet& c) override {
    const store::ChangeSet* one[] = {&c};
    return ApplyAll(one)[0];
  }
  Status MigrateUp() override { return inner_->MigrateUp(); }
  Status MigrateDown(int steps) override { return inner_->MigrateDown(steps); }
  Result<std::vector<store::MigrationInfo>> Migrations() override { return inner_->Migrations(); }
  Status Ping() override { return inner_->Ping(); }
  Result<core::Job> GetJob(const std::string& ws, const std::string& id) override {
    return inner_->GetJob(ws, id);
  }
  Result<store::Page<core::Job>> ListJobs(const std::string& ws,
                                          const store::JobQuery& q) override {
    return inner_->ListJobs(ws, q);
  }
  Result<std::vector<core::Job>> ListJobSubtree(const std::string& ws, const std::string& root,
                                                int max_jobs) override {
    return inner_->ListJobSubtree(ws, root, max_jobs);
  }
  Result<std::vector<core::Job>> ListActiveDescendants(const std::string& ws, const std::string& a,
                                                       int n) override {
    return inner_->ListActiveDescendants(ws, a, n);
  }
  Result<std::vector<core::Job>> ListActiveDependents(const std::string& ws, const std::string& id,
                                                      int n) override {
    return inner_->ListActiveDependents(ws, id, n);
  }
  Result<bool> JobInSubtree(const std::string& ws, const std::string& a,
                            const std::string& id) override {
    return inner_->JobInSubtree(ws, a, id);
  }
  Result<core::Worker> GetWorker(const std::string& ws, const std::string& id) override {
    return inner_->GetWorker(ws, id);
  }
  Result<store::Page<core::Worker>> ListWorkers(const std::string& ws,
                                                const store::WorkerQuery& q) override {
    return inner_->ListWorkers(ws, q);
  }
  Result<std::vector<core::Transition>> ListTransitions(const std::string& ws,
                                                        const std::string& id) override {
    return inner_->ListTransitions(ws, id);
  }
  Result<std::vector<core::Worker>> ListWorkersInStates(
      const std::vector<core::WorkerState>& states) override {
    return inner_->ListWorkersInStates(states);
  }
  Result<std::vector<core::Job>> ListJobsInStates(
      const std::vector<core::JobState>& states) override {
    return inner_->ListJobsInStates(states);
  }
  Result<std::vector<core::Event>> ListEvents(const std::string& ws, int64_t after,
                                              int limit) override {
    return inner_->ListEvents(ws, after, limit);
  }
  Result<int64_t> OldestEventSeq(const std::string& ws) override {
    return inner_->OldestEventSeq(ws);
  }
  Result<std::vector<std::pair<core::WorkerState, int64_t>>> CountWorkersByStatus(
      const std::string& ws) override {
    return inner_->CountWorkersByStatus(ws);
  }
  Result<std::vector<core::Quota>> ListQuotas() override { return inner_->ListQuotas(); }
  Status SetQuotas(const std::vector<core::Quota>& q) override { return inner_->SetQuotas(q); }
  Result<std::vector<store::WorkspaceHalt>> ListWorkspaceHalts() override {
    return inner_->ListWorkspaceHalts();
  }
  Result<std::vector<core::Allocation>> ListHeldAllocations() override {
    return inner_->ListHeldAllocations();
  }
  Result<std::vector<core::Allocation>> ListJobAllocations(const std::string& ws,
                                                           const std::string& job) override {
    return inner_->ListJobAllocations(ws, job);
  }
  Result<store::IdempotencyRecord> BeginIdempotent(const std::string& ws, const std::string& key,
                                                   const std::string& fp, TimeMs now) override {
    return inner_->BeginIdempotent(ws, key, fp, now);
  }
  Status FinishIdempotent(const std::string& ws, const std::string& key, int status,
                          const std::string& body, TimeMs now) override {
    return inner_->FinishIdempotent(ws, key, status, body, now);
  }
  Status DropIdempotent(const std::string& ws, const std::string& key) override {
    return inner_->DropIdempotent(ws, key);
  }
  Status PurgeIdempotent(TimeMs cutoff, bool in_flight) override {
    return inner_->PurgeIdempotent(cutoff, in_flight);
  }

 protected:
  store::Store& inner() { return *inner_; }

 private:
  std::unique_ptr<store::Store> inner_;
};

}  // namespace overseer::service::testing
