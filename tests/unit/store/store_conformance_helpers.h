// Helpers shared by the Store conformance suite's files (store_conformance*_test.cc): rows with
// every field set, comparisons that read JSON columns as values, error details, one-line
// expectations. Test-only; inline so each file takes what it uses.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <variant>
#include <vector>

#include "common/ids.h"
#include "core/events.h"
#include "core/types.h"
#include "unit/store/store_conformance.h"

namespace overseer::store::testing_support {

using core::Job;
using core::JobState;
using core::Transition;
using core::Worker;
using core::WorkerState;

// Every field set to a distinctive non-default value.
inline Job FullJob(const std::string& ws) {
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

inline Worker FullWorker(const std::string& ws) {
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
inline void ExpectSameJson(const std::string& got, const std::string& want) {
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

inline void ExpectSameJob(const Job& a, const Job& b) {
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

inline void ExpectSameWorker(const Worker& a, const Worker& b) {
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

inline std::vector<std::string> Ids(const auto& items) {
  std::vector<std::string> out;
  for (const auto& it : items) out.push_back(it.id);
  return out;
}

// "OK" or the error's SPEC name, for one-line expectations.
template <typename T>
inline std::string CodeOf(const Result<T>& r) {
  return r.ok() ? "OK" : std::string(ErrorCodeName(r.error().code));
}

inline std::string DetailString(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.details) {
    if (k == key && std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  }
  return "<missing>";
}

inline int64_t DetailInt(const Error& e, const std::string& key) {
  for (const auto& [k, v] : e.details) {
    if (k == key && std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
  }
  return -1;
}

// An internal error's message may reach a log line a client's request id points to, never
// SQL or database text (store.h); the exact wording is the backend's.
inline void ExpectNoDatabaseText(const Error& e) {
  EXPECT_FALSE(e.message.empty());
  for (const char* leak : {"SELECT", "INSERT", "UPDATE", "UNIQUE", "constraint", "table", "workers",
                           "no such", "syntax"}) {
    EXPECT_EQ(e.message.find(leak), std::string::npos) << leak << " in: " << e.message;
  }
}

inline WorkerUpdate Move(const Worker& before, WorkerState to, const std::string& reason,
                         TimeMs ts) {
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

inline core::Event MakeEvent(const std::string& ws, core::EventType type, TimeMs at) {
  core::Event e;
  e.workspace_id = ws;
  e.type = type;
  e.job_id = NewId("j_");
  e.created_at = at;
  return e;
}

inline std::vector<int64_t> Seqs(const std::vector<core::Event>& events) {
  std::vector<int64_t> out;
  for (const core::Event& e : events) out.push_back(e.seq);
  return out;
}

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& ok_status_ = (expr);                            \
    ASSERT_TRUE(ok_status_.ok()) << ok_status_.error().message; \
  } while (false)

}  // namespace overseer::store::testing_support
