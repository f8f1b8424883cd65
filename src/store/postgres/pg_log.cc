// PgStore: the event log (SPEC §10) and idempotency keys (SPEC §6).
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store_internal.h"

namespace overseer::store::pg {
namespace {

constexpr int kMaxEventsPerRead = 1000;

constexpr Stmt kInsertEvent{
    "insert_event",
    "INSERT INTO events (workspace_id, type, job_id, worker_id, from_state, to_state, reason, "
    "data_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, " OVERSEER_PG_TS(9) ")"};
constexpr Stmt kListEvents{
    "list_events",
    "SELECT seq, workspace_id, type, job_id, worker_id, from_state, to_state, reason, "
    "data_json::text, " OVERSEER_PG_MS(
        "created_at") " FROM events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"};
constexpr Stmt kOldestEvent{"oldest_event", "SELECT MIN(seq) FROM events WHERE workspace_id = $1"};

// Inserts the key unless it is there; the row that decides either way (a concurrent insert of
// the same key waits for the first one's commit and then does nothing).
constexpr Stmt kIdemInsert{
    "idem_insert",
    "INSERT INTO idempotency_keys (workspace_id, key, fingerprint, status, body, created_at) "
    "VALUES ($1, $2, $3, 0, '', " OVERSEER_PG_TS(4) ") ON CONFLICT (workspace_id, key) DO "
                                                    "NOTHING"};
constexpr Stmt kIdemSelect{
    "idem_select",
    "SELECT fingerprint, status, body FROM idempotency_keys WHERE workspace_id = $1 AND key = $2"};
constexpr Stmt kIdemFinish{
    "idem_finish",
    "UPDATE idempotency_keys SET status = $1, body = $2, finished_at = " OVERSEER_PG_TS(
        3) " WHERE workspace_id = $4 AND key = $5"};
constexpr Stmt kIdemDrop{
    "idem_drop",
    "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND key = $2 AND status = 0"};
constexpr Stmt kIdemPurgeOld{"idem_purge_old",
                             "DELETE FROM idempotency_keys WHERE created_at < "
                             "" OVERSEER_PG_TS(1)};
constexpr Stmt kIdemPurgeInFlight{"idem_purge_in_flight",
                                  "DELETE FROM idempotency_keys WHERE status = 0"};

// A stored row: its seq, and the event if its type is one this binary knows.
struct StoredEvent {
  int64_t seq = 0;
  std::optional<core::Event> event;
};

Result<StoredEvent> ReadEvent(const PgResult& r, int i) {
  StoredEvent row;
  row.seq = ColInt(r, i, 0);
  const std::optional<core::EventType> type = core::ParseEventType(r.Text(i, 2));
  if (!type) return row;
  core::Event& e = row.event.emplace();
  e.seq = row.seq;
  e.workspace_id = ColText(r, i, 1);
  e.type = *type;
  e.job_id = ColText(r, i, 3);
  e.worker_id = ColText(r, i, 4);
  e.from_state = ColText(r, i, 5);
  e.to_state = ColText(r, i, 6);
  e.reason = ColText(r, i, 7);
  e.data_json = ColText(r, i, 8);
  e.created_at = ColInt(r, i, 9);
  return row;
}

}  // namespace

Status PgRowWriter::InsertEvent(const core::Event& e) {
  return Send(
      conn_, kInsertEvent,
      {ToPgParam(e.workspace_id), ToPgParam(core::EventTypeName(e.type)), ToPgParam(e.job_id),
       ToPgParam(e.worker_id), ToPgParam(e.from_state), ToPgParam(e.to_state), ToPgParam(e.reason),
       Json(e.data_json), ToPgParam(e.created_at)});
}

Result<std::vector<core::Event>> PgStore::ListEvents(const std::string& workspace_id,
                                                     int64_t after_seq, int limit) {
  const size_t want = static_cast<size_t>(std::clamp(limit, 1, kMaxEventsPerRead));
  std::vector<core::Event> out;
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  // Rows of an unknown type are skipped; read on past them until `want` events or the end.
  while (out.size() < want) {
    const auto batch = static_cast<int64_t>(want - out.size());
    Result<PgResult> r = RunWith(**lease, kListEvents, workspace_id, after_seq, batch);
    if (!r) return std::move(r).error();
    Result<std::vector<StoredEvent>> rows = ReadAll<StoredEvent>(*r, ReadEvent);
    if (!rows) return std::move(rows).error();
    for (StoredEvent& row : *rows) {
      after_seq = row.seq;
      if (row.event) out.push_back(std::move(*row.event));
    }
    if (std::ssize(*rows) < batch) break;  // the end of the log
  }
  return out;
}

Result<int64_t> PgStore::OldestEventSeq(const std::string& workspace_id) {
  Result<PgResult> r = Query(kOldestEvent, workspace_id);
  if (!r) return std::move(r).error();
  return ColInt(*r, 0, 0);  // NULL (no events) reads as 0
}

Result<IdempotencyRecord> PgStore::BeginIdempotent(const std::string& workspace_id,
                                                   const std::string& key,
                                                   const std::string& fingerprint, TimeMs now) {
  Result<PgPool::Lease> lease = Lease();
  if (!lease) return std::move(lease).error();
  PgConnection& c = **lease;
  // Twice at most: a key dropped between our insert and our read is inserted again.
  for (int round = 0; round < 2; ++round) {
    Result<PgResult> ins = RunWith(c, kIdemInsert, workspace_id, key, fingerprint, now);
    if (!ins) return std::move(ins).error();
    if (ins->affected_rows() == 1) return IdempotencyRecord{};
    Result<PgResult> r = RunWith(c, kIdemSelect, workspace_id, key);
    if (!r) return std::move(r).error();
    if (r->rows() == 0) continue;
    IdempotencyRecord rec;
    const int64_t status = ColInt(*r, 0, 1);
    if (r->Text(0, 0) != fingerprint) {
      rec.outcome = IdempotencyOutcome::kMismatch;
    } else if (status == 0) {
      rec.outcome = IdempotencyOutcome::kInProgress;
    } else {
      rec.outcome = IdempotencyOutcome::kReplay;
      rec.status = static_cast<int>(status);
      rec.body = ColText(*r, 0, 2);
    }
    return rec;
  }
  return MakeError(ErrorCode::kUnavailable, "database busy: retry");
}

Status PgStore::FinishIdempotent(const std::string& workspace_id, const std::string& key,
                                 int status, const std::string& body, TimeMs now) {
  if (status <= 0) return MakeError(ErrorCode::kInvalidRequest, "status must be > 0");
  Result<PgResult> r = Query(kIdemFinish, status, body, now, workspace_id, key);
  if (!r) return std::move(r).error();
  if (r->affected_rows() == 0) return MakeError(ErrorCode::kNotFound, "idempotency key not found");
  return OkStatus();
}

Status PgStore::DropIdempotent(const std::string& workspace_id, const std::string& key) {
  Result<PgResult> r = Query(kIdemDrop, workspace_id, key);
  if (!r) return std::move(r).error();
  return OkStatus();
}

Status PgStore::PurgeIdempotent(TimeMs cutoff, bool include_in_flight) {
  return InTransaction([&](PgConnection& c) -> Status {
    if (Result<PgResult> r = RunWith(c, kIdemPurgeOld, cutoff); !r) return std::move(r).error();
    if (include_in_flight) {
      if (Result<PgResult> r = RunWith(c, kIdemPurgeInFlight); !r) return std::move(r).error();
    }
    return OkStatus();
  });
}

}  // namespace overseer::store::pg
