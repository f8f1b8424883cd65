// PgStore: worker rows and their state_transitions (insert, compare-and-set update, get, list,
// count).
#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store_internal.h"

namespace overseer::store::pg {
namespace {

using core::Worker;
using core::WorkerState;

constexpr std::string_view kSelectWorkers =
    "SELECT " OVERSEER_PG_WORKER_READ_COLUMNS " FROM workers";
constexpr Stmt kInsertWorker{
    "insert_worker",
    "INSERT INTO workers (id, workspace_id, job_id, created_at, status, status_reason, pid, "
    "pgid, exit_code, exit_signal, attempt, metadata_json, cgroup_path, log_path, updated_at, "
    "started_at, ended_at, agent_json) VALUES ($1, $2, $3, " OVERSEER_PG_TS(
        4) ", $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, " OVERSEER_PG_TS(15) ", "
        OVERSEER_PG_TS(16) ", " OVERSEER_PG_TS(17) ", $18::jsonb)"};
constexpr Stmt kUpdateWorker{
    "update_worker",
    "UPDATE workers SET (status, status_reason, pid, pgid, exit_code, exit_signal, attempt, "
    "metadata_json, cgroup_path, log_path, updated_at, started_at, ended_at, agent_json) = "
    "($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, " OVERSEER_PG_TS(11) ", " OVERSEER_PG_TS(
        12) ", " OVERSEER_PG_TS(13) ", $14::jsonb) WHERE id = $15 AND workspace_id = $16 AND "
                                    "status = $17"};
constexpr Stmt kSetWorkerProcess{"set_worker_process",
                                 "UPDATE workers SET pid = $1, pgid = $2, cgroup_path = $3 "
                                 "WHERE id = $4 AND workspace_id = $5 AND attempt = $6"};
constexpr Stmt kWorkerStatus{"worker_status",
                             "SELECT status FROM workers WHERE id = $1 AND workspace_id = $2"};
constexpr Stmt kGetWorker{"get_worker", "SELECT " OVERSEER_PG_WORKER_READ_COLUMNS
                                        " FROM workers WHERE id = $1 AND workspace_id = $2"};
constexpr Stmt kInsertTransition{
    "insert_transition",
    "INSERT INTO state_transitions (worker_id, workspace_id, from_state, to_state, reason, ts) "
    "VALUES ($1, $2, $3, $4, $5, " OVERSEER_PG_TS(6) ")"};
constexpr Stmt kListTransitions{
    "list_transitions",
    "SELECT from_state, to_state, reason, " OVERSEER_PG_MS(
        "ts") " FROM state_transitions WHERE worker_id = $1 AND workspace_id = $2 ORDER BY id"};
constexpr Stmt kCountByStatus{
    "count_workers_by_status",
    "SELECT status, COUNT(*) FROM workers WHERE workspace_id = $1 GROUP BY status"};

Result<core::Transition> ReadTransition(const PgResult& r, int i) {
  return core::Transition{ColText(r, i, 0), ColText(r, i, 1), ColText(r, i, 2), ColInt(r, i, 3)};
}

}  // namespace

Status PgRowWriter::InsertWorker(const Worker& row, std::span<const core::Transition> transitions) {
  if (Status st = Send(conn_, kInsertWorker, WorkerInsertParams(row)); !st) return st;
  for (const core::Transition& t : transitions) {
    if (Status st = InsertTransition(row.id, row.workspace_id, t); !st) return st;
  }
  return OkStatus();
}

Status PgRowWriter::UpdateWorker(const WorkerUpdate& u) {
  const Worker& w = u.worker;
  std::vector<PgParam> params = WorkerMutableParams(w);
  params.push_back(ToPgParam(w.id));
  params.push_back(ToPgParam(w.workspace_id));
  params.push_back(ToPgParam(core::WorkerStateName(u.expected_status)));
  // The compare-and-set, then the status its conflict names (read whether or not it is needed:
  // at this point of the pipeline it is what a read after the miss would see), then the
  // transition (which a miss rolls back with the rest).
  auto changed = std::make_shared<int64_t>(0);
  if (Status st = Send(conn_, kUpdateWorker, params,
                       [changed](const PgResult& r) {
                         *changed = r.affected_rows();
                         return OkStatus();
                       });
      !st) {
    return st;
  }
  if (Status st =
          Send(conn_, kWorkerStatus, {ToPgParam(w.id), ToPgParam(w.workspace_id)},
               [changed, id = w.id,
                requested = std::string(core::WorkerStateName(w.status))](const PgResult& cur) {
                 if (*changed > 0) return OkStatus();
                 if (cur.rows() == 0)
                   return Status(MakeError(ErrorCode::kNotFound, "worker not found"));
                 const std::string current = ColText(cur, 0, 0);
                 Error err = MakeError(ErrorCode::kConflict, "worker " + id + " is " + current);
                 err.With("current_state", current).With("requested_state", requested);
                 return Status(std::move(err));
               });
      !st) {
    return st;
  }
  return InsertTransition(w.id, w.workspace_id, TransitionOf(u));
}

Status PgRowWriter::SetWorkerProcess(const WorkerProcess& p) {
  return Send(conn_, kSetWorkerProcess,
              {IntOrNull(p.pid), IntOrNull(p.pgid), ToPgParam(p.cgroup_path),
               ToPgParam(p.worker_id), ToPgParam(p.workspace_id), ToPgParam(p.attempt)});
}

Status PgRowWriter::InsertTransition(const std::string& worker_id, const std::string& workspace_id,
                                     const core::Transition& t) {
  return Send(conn_, kInsertTransition,
              {ToPgParam(worker_id), ToPgParam(workspace_id), ToPgParam(t.from_state),
               ToPgParam(t.to_state), ToPgParam(t.reason), ToPgParam(t.timestamp)});
}

Result<Worker> PgStore::GetWorker(const std::string& workspace_id, const std::string& id) {
  Result<PgResult> r = Query(kGetWorker, id, workspace_id);
  if (!r) return std::move(r).error();
  if (r->rows() == 0) return MakeError(ErrorCode::kNotFound, "worker not found");
  return ReadWorker(*r, 0);
}

Result<Page<Worker>> PgStore::ListWorkers(const std::string& workspace_id,
                                          const WorkerQuery& query) {
  if (query.limit < 1) return MakeError(ErrorCode::kInvalidRequest, "limit must be >= 1");
  SqlParams p;
  std::string sql = std::string(kSelectWorkers) + " WHERE workspace_id = " + p.Add(workspace_id);
  if (query.status) {
    sql += " AND status = " + p.Add(ToPgParam(core::WorkerStateName(*query.status)));
  }
  if (!query.job_id.empty()) sql += " AND job_id = " + p.Add(query.job_id);
  sql += KeysetPage(p, query.after_id, query.limit);
  Result<std::vector<Worker>> rows = ReadAll<Worker>(QuerySql(sql, p), ReadWorker);
  if (!rows) return std::move(rows).error();
  return ToPage(std::move(*rows), query.limit);
}

Result<std::vector<core::Transition>> PgStore::ListTransitions(const std::string& workspace_id,
                                                               const std::string& worker_id) {
  return ReadAll<core::Transition>(Query(kListTransitions, worker_id, workspace_id),
                                   ReadTransition);
}

Result<std::vector<Worker>> PgStore::ListWorkersInStates(const std::vector<WorkerState>& states) {
  if (states.empty()) return std::vector<Worker>{};
  std::vector<std::string_view> names;
  for (WorkerState st : states) names.push_back(core::WorkerStateName(st));
  SqlParams p;
  const std::string sql =
      std::string(kSelectWorkers) + " WHERE " + StatusIn(p, names) + " ORDER BY id";
  return ReadAll<Worker>(QuerySql(sql, p), ReadWorker);
}

Result<std::vector<std::pair<WorkerState, int64_t>>> PgStore::CountWorkersByStatus(
    const std::string& workspace_id) {
  constexpr std::array<WorkerState, 7> kAll = {WorkerState::kIdle,      WorkerState::kRunning,
                                               WorkerState::kPaused,    WorkerState::kCompleted,
                                               WorkerState::kFailed,    WorkerState::kRetrying,
                                               WorkerState::kTerminated};
  std::vector<std::pair<WorkerState, int64_t>> out;
  out.reserve(kAll.size());
  for (WorkerState st : kAll) out.emplace_back(st, 0);
  Result<PgResult> r = Query(kCountByStatus, workspace_id);
  if (!r) return std::move(r).error();
  for (int i = 0; i < r->rows(); ++i) {
    const std::string name = ColText(*r, i, 0);
    const std::optional<WorkerState> st = core::ParseWorkerState(name);
    if (!st) return CorruptRow("worker status " + name);
    for (auto& [state, count] : out) {
      if (state == *st) count = ColInt(*r, i, 1);
    }
  }
  return out;
}

}  // namespace overseer::store::pg
