// SqliteStore: the event log (SPEC §10): appending events inside a ChangeSet's transaction.
#include <string>
#include <string_view>

#include "store/sqlite/sqlite_internal.h"

namespace overseer::store::internal {
namespace {

constexpr std::string_view kInsertEvent =
    "INSERT INTO events (workspace_id, type, job_id, worker_id, from_state, to_state, reason, "
    "data_json, created_at) VALUES (?,?,?,?,?,?,?,?,?)";

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

}  // namespace overseer::store::internal
