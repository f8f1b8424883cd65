#include "api/worker_codec.h"

#include "api/codec_util.h"
#include "common/ids.h"
#include "common/utf8.h"

namespace overseer::api {
namespace json = boost::json;
using codec::ParseStoredJson;
using codec::TimeOrNull;

json::object WorkerToJson(const core::Worker& w) {
  json::object o;
  o.reserve(16);
  o["id"] = w.id;
  o["workspace_id"] = w.workspace_id;
  o["job_id"] = w.job_id;
  o["status"] = core::WorkerStateName(w.status);
  o["status_reason"] = w.status_reason;
  o["pid"] = w.pid == 0 ? json::value(nullptr) : json::value(w.pid);
  o["exit_code"] = w.exit_code ? json::value(*w.exit_code) : json::value(nullptr);
  o["exit_signal"] = w.exit_signal ? json::value(*w.exit_signal) : json::value(nullptr);
  o["attempt"] = w.attempt;
  o["created_at"] = TimeOrNull(w.created_at);
  o["updated_at"] = TimeOrNull(w.updated_at);
  o["started_at"] = TimeOrNull(w.started_at);
  o["ended_at"] = TimeOrNull(w.ended_at);
  o["metadata"] = ParseStoredJson(w.metadata_json.empty() ? "{}" : w.metadata_json);
  // Agent runtimes only (SPEC §11): session, turns, tokens, cost, result.
  if (!w.agent_json.empty()) o["agent"] = ParseStoredJson(w.agent_json);
  return o;
}

json::object WorkerViewToJson(const service::WorkerView& v) {
  json::object o = WorkerToJson(v.worker);
  o["usage"] = json::object{{"cpu_seconds", v.usage.cpu_seconds},
                            {"rss_bytes", v.usage.rss_bytes},
                            {"processes", v.usage.processes},
                            {"sampled_at", TimeOrNull(v.usage.sampled_at)}};
  json::array t;
  t.reserve(v.transitions.size());
  for (const core::Transition& tr : v.transitions) {
    t.push_back(json::object{
        {"from_state", tr.from_state.empty() ? json::value(nullptr) : json::value(tr.from_state)},
        {"to_state", tr.to_state},
        {"reason", tr.reason},
        {"timestamp", FormatRfc3339(tr.timestamp)}});
  }
  o["transitions"] = std::move(t);
  return o;
}

}  // namespace overseer::api
