// SqliteStore: the event log (SPEC §10): appending events inside a ChangeSet's transaction and
// reading one workspace's events back in seq order.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

constexpr int kMaxEventsPerRead = 1000;

constexpr std::string_view kInsertEvent =
    "INSERT INTO events (workspace_id, type, job_id, worker_id, from_state, to_state, reason, "
    "data_json, created_at) VALUES (?,?,?,?,?,?,?,?,?)";
// Index events_workspace_seq.
constexpr std::string_view kListEvents =
    "SELECT seq, workspace_id, type, job_id, worker_id, from_state, to_state, reason, data_json, "
    "created_at FROM events WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?";
constexpr std::string_view kOldestEvent = "SELECT MIN(seq) FROM events WHERE workspace_id = ?";

// A stored row: its seq, and the event if its type is one this binary knows.
struct StoredEvent {
  int64_t seq = 0;
  std::optional<core::Event> event;
};

Result<StoredEvent> ReadEvent(sqlite3_stmt* s) {
  StoredEvent row;
  row.seq = ColInt(s, 0);
  const std::optional<core::EventType> type = core::ParseEventType(ColText(s, 2));
  if (!type) return row;
  core::Event& e = row.event.emplace();
  e.seq = row.seq;
  e.workspace_id = ColText(s, 1);
  e.type = *type;
  e.job_id = ColText(s, 3);
  e.worker_id = ColText(s, 4);
  e.from_state = ColText(s, 5);
  e.to_state = ColText(s, 6);
  e.reason = ColText(s, 7);
  e.data_json = ColText(s, 8);
  e.created_at = ColInt(s, 9);
  return row;
}

}  // namespace

Status SqliteStore::InsertEvent(const core::Event& e) {
  return Exec(
      kInsertEvent,
      [&](Binder& b) {
        b.Text(e.workspace_id)
            .Text(core::EventTypeName(e.type))
            .Text(e.job_id)
            .Text(e.worker_id)
            .Text(e.from_state)
            .Text(e.to_state)
            .Text(e.reason)
            .Text(e.data_json.empty() ? std::string_view("{}") : std::string_view(e.data_json))
            .Int(e.created_at);
      },
      "insert event");
}

Result<std::vector<core::Event>> SqliteStore::ListEvents(const std::string& workspace_id,
                                                         int64_t after_seq, int limit) {
  const size_t want = static_cast<size_t>(std::clamp(limit, 1, kMaxEventsPerRead));
  std::vector<core::Event> out;
  std::lock_guard lock(mu_);
  // Rows of an unknown type are skipped; read on past them until `want` events or the end.
  while (out.size() < want) {
    const auto batch = static_cast<int64_t>(want - out.size());
    Result<std::vector<StoredEvent>> rows = Query(
        kListEvents, [&](Binder& b) { b.Text(workspace_id).Int(after_seq).Int(batch); },
        [&](sqlite3_stmt* s) { return Collect<StoredEvent>(s, ReadEvent, "list events"); });
    if (!rows) return std::move(rows).error();
    for (StoredEvent& row : *rows) {
      after_seq = row.seq;
      if (row.event) out.push_back(std::move(*row.event));
    }
    if (std::ssize(*rows) < batch) break;  // the end of the log
  }
  return out;
}

Result<int64_t> SqliteStore::OldestEventSeq(const std::string& workspace_id) {
  std::lock_guard lock(mu_);
  return Query(
      kOldestEvent, [&](Binder& b) { b.Text(workspace_id); },
      [&](sqlite3_stmt* s) -> Result<int64_t> {
        const int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) return DatabaseError(db_, rc, "oldest event");
        return ColInt(s, 0);  // NULL (no events) reads as 0
      });
}

}  // namespace overseer::store::internal
