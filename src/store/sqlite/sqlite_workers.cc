// SqliteStore: worker rows and their state_transitions (insert, compare-and-set update, get,
// list, count).
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

using core::Worker;
using core::WorkerState;

constexpr std::string_view kSelectWorkers =
    "SELECT " OVERSEER_SQLITE_WORKER_COLUMNS " FROM workers";
constexpr std::string_view kInsertWorker = "INSERT INTO workers (" OVERSEER_SQLITE_WORKER_COLUMNS
                                           ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
constexpr std::string_view kUpdateWorker =
    "UPDATE workers SET (" OVERSEER_SQLITE_WORKER_MUTABLE_COLUMNS
    ") = (?,?,?,?,?,?,?,?,?,?,?,?,?,?) WHERE id = ? AND workspace_id = ? AND status = ?";
constexpr std::string_view kSetWorkerProcess =
    "UPDATE workers SET pid = ?, pgid = ?, cgroup_path = ? "
    "WHERE id = ? AND workspace_id = ? AND attempt = ?";
constexpr std::string_view kWorkerStatus =
    "SELECT status FROM workers WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kGetWorker =
    "SELECT " OVERSEER_SQLITE_WORKER_COLUMNS " FROM workers WHERE id = ? AND workspace_id = ?";
constexpr std::string_view kInsertTransition =
    "INSERT INTO state_transitions (worker_id, workspace_id, from_state, to_state, reason, ts) "
    "VALUES (?,?,?,?,?,?)";
constexpr std::string_view kListTransitions =
    "SELECT from_state, to_state, reason, ts FROM state_transitions "
    "WHERE worker_id = ? AND workspace_id = ? ORDER BY id";
constexpr std::string_view kCountByStatus =
    "SELECT status, COUNT(*) FROM workers WHERE workspace_id = ? GROUP BY status";

Result<core::Transition> ReadTransition(sqlite3_stmt* s) {
  return core::Transition{ColText(s, 0), ColText(s, 1), ColText(s, 2), ColInt(s, 3)};
}

}  // namespace

Status SqliteStore::InsertWorker(const Worker& row, std::span<const core::Transition> transitions) {
  if (Status st = Exec(
          kInsertWorker, [&](Binder& b) { BindWorker(b, row); }, "insert worker");
      !st) {
    return st;
  }
  for (const core::Transition& t : transitions) {
    if (Status st = InsertTransition(row.id, row.workspace_id, t); !st) return st;
  }
  return OkStatus();
}

Status SqliteStore::UpdateWorker(const WorkerUpdate& u) {
  const Worker& w = u.worker;
  const std::string_view to = core::WorkerStateName(w.status);
  const std::string_view expected = core::WorkerStateName(u.expected_status);
  auto bind = [&](Binder& b) {
    BindWorkerMutable(b, w);
    b.Text(w.id).Text(w.workspace_id).Text(expected);
  };
  if (Status st = Exec(kUpdateWorker, bind, "update worker"); !st) return st;
  if (sqlite3_changes(db_) == 0) {
    return CasFailure(kWorkerStatus, w.workspace_id, w.id, "worker", to);
  }
  return InsertTransition(w.id, w.workspace_id, TransitionOf(u));
}

Status SqliteStore::SetWorkerProcess(const WorkerProcess& p) {
  return Exec(
      kSetWorkerProcess,
      [&](Binder& b) {
        b.IntOrNull(p.pid)
            .IntOrNull(p.pgid)
            .Text(p.cgroup_path)
            .Text(p.worker_id)
            .Text(p.workspace_id)
            .Int(p.attempt);
      },
      "set worker process");
}

Status SqliteStore::InsertTransition(const std::string& worker_id, const std::string& workspace_id,
                                     const core::Transition& t) {
  auto bind = [&](Binder& b) {
    b.Text(worker_id)
        .Text(workspace_id)
        .Text(t.from_state)
        .Text(t.to_state)
        .Text(t.reason)
        .Int(t.timestamp);
  };
  return Exec(kInsertTransition, bind, "insert transition");
}

Result<Worker> SqliteStore::GetWorker(const std::string& workspace_id, const std::string& id) {
  std::lock_guard lock(mu_);
  return FindRow<Worker>(kGetWorker, ReadWorker, workspace_id, id, "worker", "get worker");
}

Result<Page<Worker>> SqliteStore::ListWorkers(const std::string& workspace_id,
                                              const WorkerQuery& query) {
  if (query.limit < 1) return MakeError(ErrorCode::kInvalidRequest, "limit must be >= 1");
  std::string sql = std::string(kSelectWorkers) + " WHERE workspace_id = ?";
  if (query.status) sql += " AND status = ?";
  if (!query.job_id.empty()) sql += " AND job_id = ?";
  std::lock_guard lock(mu_);
  return ListPage<Worker>(
      std::move(sql),
      [&](Binder& b) {
        b.Text(workspace_id);
        if (query.status) b.Text(core::WorkerStateName(*query.status));
        if (!query.job_id.empty()) b.Text(query.job_id);
      },
      query.after_id, query.limit, ReadWorker, "list workers");
}

Result<std::vector<core::Transition>> SqliteStore::ListTransitions(const std::string& workspace_id,
                                                                   const std::string& worker_id) {
  std::lock_guard lock(mu_);
  return Query(
      kListTransitions, [&](Binder& b) { b.Text(worker_id).Text(workspace_id); },
      [&](sqlite3_stmt* s) {
        return Collect<core::Transition>(s, ReadTransition, "list transitions");
      });
}

Result<std::vector<Worker>> SqliteStore::ListWorkersInStates(
    const std::vector<WorkerState>& states) {
  std::vector<std::string_view> names;
  names.reserve(states.size());
  for (WorkerState st : states) names.push_back(core::WorkerStateName(st));
  std::lock_guard lock(mu_);
  return ListInStates<Worker>(kSelectWorkers, names, ReadWorker, "list workers in states");
}

Result<std::vector<std::pair<WorkerState, int64_t>>> SqliteStore::CountWorkersByStatus(
    const std::string& workspace_id) {
  constexpr std::array<WorkerState, 7> kAll = {WorkerState::kIdle,      WorkerState::kRunning,
                                               WorkerState::kPaused,    WorkerState::kCompleted,
                                               WorkerState::kFailed,    WorkerState::kRetrying,
                                               WorkerState::kTerminated};
  using Counts = std::vector<std::pair<WorkerState, int64_t>>;
  Counts out;
  out.reserve(kAll.size());
  for (WorkerState st : kAll) out.emplace_back(st, 0);
  std::lock_guard lock(mu_);
  return Query(
      kCountByStatus, [&](Binder& b) { b.Text(workspace_id); },
      [&](sqlite3_stmt* s) -> Result<Counts> {
        int rc = SQLITE_OK;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
          const std::string name = ColText(s, 0);
          const std::optional<WorkerState> st = core::ParseWorkerState(name);
          if (!st) return CorruptRow("worker status " + name);
          for (auto& [state, count] : out) {
            if (state == *st) count = ColInt(s, 1);
          }
        }
        if (rc != SQLITE_DONE) return DatabaseError(db_, rc, "count workers");
        return std::move(out);
      });
}

}  // namespace overseer::store::internal
