#include "api/job_codec.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "api/codec_util.h"
#include "api/resource_codec.h"
#include "api/worker_codec.h"
#include "common/ids.h"
#include "common/utf8.h"
#include "core/budget.h"

namespace overseer::api {
namespace json = boost::json;
using codec::GetInt;
using codec::GetNumber;
using codec::Invalid;
using codec::IsPrintable;
using codec::ParseObject;
using codec::ParseStoredJson;
using codec::TimeOrNull;

namespace {

Result<core::RetryPolicy> ParseRetry(const json::value& v) {
  if (!v.is_object()) return Invalid("retry", "must be an object");
  core::RetryPolicy p;
  for (const auto& kv : v.as_object()) {
    const std::string key(kv.key());
    const std::string field = "retry." + key;
    if (key == "max_attempts") {
      auto n = GetInt(kv.value(), field, 1, 100);
      if (!n) return n.error();
      p.max_attempts = static_cast<int>(*n);
    } else if (key == "initial_backoff_ms") {
      auto n = GetInt(kv.value(), field, 0, 3600000);
      if (!n) return n.error();
      p.initial_backoff_ms = *n;
    } else if (key == "max_backoff_ms") {
      auto n = GetInt(kv.value(), field, 0, 3600000);
      if (!n) return n.error();
      p.max_backoff_ms = *n;
    } else if (key == "multiplier") {
      auto d = GetNumber(kv.value(), field, 1.0, 10.0);
      if (!d) return d.error();
      p.multiplier = *d;
    } else if (key == "jitter") {
      auto d = GetNumber(kv.value(), field, 0.0, 1.0);
      if (!d) return d.error();
      p.jitter = *d;
    } else {
      return Invalid("retry." + EchoText(key), "unknown field");
    }
  }
  if (p.max_backoff_ms < p.initial_backoff_ms) {
    return Invalid("retry.max_backoff_ms", "must be at least initial_backoff_ms");
  }
  return p;
}

constexpr std::string_view kReadOnlyJobFields[] = {
    "id",         "workspace_id", "status",       "status_reason", "created_at",
    "updated_at", "started_at",   "completed_at", "result",        "workers",
    "children",   "usage",        "budget_left",  "halted"};

}  // namespace

json::value HaltToJson(const std::optional<core::Halt>& h) {
  if (!h) return nullptr;
  return json::object{{"mode", core::HaltModeName(h->mode)},
                      {"reason", h->reason},
                      {"by", h->by},
                      {"at", TimeOrNull(h->at)},
                      {"scope", h->workspace_wide ? "workspace" : "job"}};
}

Result<core::Budget> ParseBudget(const json::value& v) {
  if (!v.is_object()) return Invalid("budget", "must be an object");
  core::Budget b;
  for (const auto& kv : v.as_object()) {
    const std::string key(kv.key());
    const std::string field = "budget." + key;
    const json::value& x = kv.value();
    if (x.is_null() && key != "on_exhausted") continue;  // no limit of that kind
    if (key == "usd") {
      auto d = GetNumber(x, field, 0.0, Limits::kBudgetUsdMax);
      if (!d) return d.error();
      b.usd = *d;
    } else if (key == "tokens") {
      auto n = GetInt(x, field, 0, Limits::kBudgetTokensMax);
      if (!n) return n.error();
      b.tokens = *n;
    } else if (key == "max_children") {
      auto n = GetInt(x, field, 0, Limits::kBudgetJobsMax);
      if (!n) return n.error();
      b.max_children = *n;
    } else if (key == "max_descendants") {
      auto n = GetInt(x, field, 0, Limits::kBudgetJobsMax);
      if (!n) return n.error();
      b.max_descendants = *n;
    } else if (key == "on_exhausted") {
      std::optional<core::BudgetExhaustion> m;
      if (x.is_string()) m = core::ParseBudgetExhaustion(std::string_view(x.as_string()));
      if (!m) return Invalid(field, "must be \"pause\" or \"terminate\"");
      b.on_exhausted = *m;
    } else {
      return Invalid("budget." + EchoText(key), "unknown field");
    }
  }
  return b;
}

Result<std::optional<core::Budget>> ParseBudgetPatch(std::string_view body) {
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  std::optional<core::Budget> out;
  bool have = false;
  for (const auto& kv : *obj) {
    const std::string key(kv.key());
    if (key != "budget") {
      if (std::find(std::begin(kReadOnlyJobFields), std::end(kReadOnlyJobFields), key) !=
          std::end(kReadOnlyJobFields)) {
        return Invalid(key, "is read-only");
      }
      return Invalid(EchoText(key), "unknown field: only \"budget\" can change");
    }
    have = true;
    if (kv.value().is_null()) continue;  // removes the budget
    Result<core::Budget> b = ParseBudget(kv.value());
    if (!b) return b.error();
    out = *b;
  }
  if (!have) return Invalid("budget", "is required");
  return out;
}

json::value BudgetToJson(const std::optional<core::Budget>& b) {
  if (!b) return nullptr;
  json::object o;
  o["usd"] = b->usd ? json::value(*b->usd) : json::value(nullptr);
  o["tokens"] = b->tokens ? json::value(*b->tokens) : json::value(nullptr);
  o["max_children"] = b->max_children ? json::value(*b->max_children) : json::value(nullptr);
  o["max_descendants"] =
      b->max_descendants ? json::value(*b->max_descendants) : json::value(nullptr);
  o["on_exhausted"] = core::BudgetExhaustionName(b->on_exhausted);
  return o;
}

json::object UsageToJson(const core::JobUsage& u) {
  return json::object{{"usd", core::MicroUsd(u.usd)},
                      {"tokens", u.tokens},
                      {"descendants", u.descendants},
                      {"children", u.children}};
}

json::value BudgetLeftToJson(const std::optional<core::BudgetLeft>& l) {
  if (!l) return nullptr;
  json::object o;
  o["usd"] = l->usd ? json::value(core::MicroUsd(*l->usd)) : json::value(nullptr);
  o["tokens"] = l->tokens ? json::value(*l->tokens) : json::value(nullptr);
  return o;
}

json::object JobToJson(const core::Job& j) {
  json::object o;
  o.reserve(20);
  o["id"] = j.id;
  o["workspace_id"] = j.workspace_id;
  o["name"] = j.name;
  o["status"] = core::JobStateName(j.status);
  o["status_reason"] = j.status_reason;
  o["depth"] = j.depth;
  o["parent_job_id"] =
      j.parent_job_id.empty() ? json::value(nullptr) : json::value(j.parent_job_id);
  json::array deps;
  for (const std::string& d : j.depends_on) deps.push_back(json::value(d));
  o["depends_on"] = std::move(deps);
  o["worker_count"] = j.worker_count;
  o["timeout_seconds"] =
      j.timeout_seconds == 0 ? json::value(nullptr) : json::value(j.timeout_seconds);
  o["stall_seconds"] = j.stall_seconds == 0 ? json::value(nullptr) : json::value(j.stall_seconds);
  o["retry"] = json::object{{"max_attempts", j.retry.max_attempts},
                            {"initial_backoff_ms", j.retry.initial_backoff_ms},
                            {"max_backoff_ms", j.retry.max_backoff_ms},
                            {"multiplier", j.retry.multiplier},
                            {"jitter", j.retry.jitter}};
  o["task"] = ParseStoredJson(j.task_json);
  o["created_at"] = TimeOrNull(j.created_at);
  o["started_at"] = TimeOrNull(j.started_at);
  o["completed_at"] = TimeOrNull(j.completed_at);
  o["metadata"] = ParseStoredJson(j.metadata_json.empty() ? "{}" : j.metadata_json);
  o["result"] = ParseStoredJson(j.result_json);
  o["halted"] = HaltToJson(j.halted);
  o["budget"] = BudgetToJson(j.budget);
  o["usage"] = UsageToJson(j.usage);
  return o;
}

json::object JobViewToJson(const service::JobView& v) {
  json::object o = JobToJson(v.job);
  json::array workers;
  for (const core::Worker& w : v.workers) workers.push_back(WorkerToJson(w));
  o["workers"] = std::move(workers);
  json::array kids;
  for (const std::string& c : v.children) kids.push_back(json::value(c));
  o["children"] = std::move(kids);
  json::array allocations;
  for (const core::Allocation& a : v.allocations) allocations.push_back(AllocationToJson(a));
  o["allocations"] = std::move(allocations);
  o["budget_left"] = BudgetLeftToJson(v.budget_left);
  return o;
}

json::object JobTreeToJson(const service::JobTreeView& v) {
  if (v.jobs.empty()) return json::object{};
  // Rows come root first, then by depth: build the deepest nodes first, then move each into
  // its parent's `children`.
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < v.jobs.size(); ++i) index.emplace(v.jobs[i].id, i);
  std::vector<json::array> children(v.jobs.size());
  json::object root;
  for (size_t i = v.jobs.size(); i-- > 0;) {
    json::object node = JobToJson(v.jobs[i]);
    // Ids sort within a depth, so siblings were pushed in descending order.
    std::reverse(children[i].begin(), children[i].end());
    node["children"] = std::move(children[i]);
    if (i == 0) {
      root = std::move(node);
      continue;
    }
    auto parent = index.find(v.jobs[i].parent_job_id);
    if (parent != index.end()) children[parent->second].push_back(std::move(node));
  }
  root["truncated"] = v.truncated;
  return root;
}

Result<service::JobSpec> ParseJobSpec(std::string_view body, const service::Runtimes& runtimes) {
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  service::JobSpec spec;
  bool have_task = false;
  for (const auto& kv : *obj) {
    const std::string key(kv.key());
    const json::value& v = kv.value();
    if (key == "name") {
      if (!v.is_string()) return Invalid(key, "must be a string");
      const json::string& s = v.as_string();
      if (s.empty() || s.size() > Limits::kNameMax || !IsPrintable(s)) {
        Error e = Invalid(key, "must be 1 to 128 printable characters");
        e.With("limit", static_cast<int64_t>(Limits::kNameMax));
        return e;
      }
      spec.name = std::string(s);
    } else if (key == "task") {
      // The task's own rules belong to its runtime (shared by every front end).
      Result<service::Task> task = runtimes.Parse(v);
      if (!task) return task.error();
      spec.task = std::move(*task);
      have_task = true;
    } else if (key == "parent_job_id") {
      if (v.is_null()) continue;
      if (!v.is_string() || !IsWellFormedId(v.as_string(), "j_")) {
        return Invalid(key, "must be a job id (j_...)");
      }
      spec.parent_job_id = std::string(v.as_string());
    } else if (key == "depth") {
      auto n = GetInt(v, key, 0, 1000);
      if (!n) return n.error();
      spec.depth = static_cast<int>(*n);
    } else if (key == "depends_on") {
      if (!v.is_array() || v.as_array().size() > Limits::kDependsOnMax) {
        Error e = Invalid(key, "must be an array of at most 32 job ids");
        e.With("limit", static_cast<int64_t>(Limits::kDependsOnMax));
        return e;
      }
      for (const json::value& d : v.as_array()) {
        if (!d.is_string() || !IsWellFormedId(d.as_string(), "j_")) {
          return Invalid(key, "must be an array of job ids (j_...)");
        }
        const std::string id(d.as_string());
        if (std::find(spec.depends_on.begin(), spec.depends_on.end(), id) !=
            spec.depends_on.end()) {
          return Invalid(key, "names job " + id + " twice");
        }
        spec.depends_on.push_back(id);
      }
    } else if (key == "worker_count") {
      auto n = GetInt(v, key, 1, Limits::kWorkerCountMax);
      if (!n) return n.error();
      spec.worker_count = static_cast<int>(*n);
    } else if (key == "timeout_seconds") {
      if (v.is_null()) continue;
      auto n = GetInt(v, key, 1, Limits::kTimeoutMax);
      if (!n) return n.error();
      spec.timeout_seconds = *n;
    } else if (key == "stall_seconds") {
      if (v.is_null()) continue;  // the runtime's default
      auto n = GetInt(v, key, 0, Limits::kTimeoutMax);
      if (!n) return n.error();
      spec.stall_seconds = *n;
    } else if (key == "budget") {
      if (v.is_null()) continue;  // shares the budget above
      Result<core::Budget> b = ParseBudget(v);
      if (!b) return b.error();
      spec.budget = *b;
    } else if (key == "retry") {
      auto r = ParseRetry(v);
      if (!r) return r.error();
      spec.retry = *r;
    } else if (key == "metadata") {
      if (v.is_null()) continue;
      if (!v.is_object()) return Invalid(key, "must be an object");
      std::string text = json::serialize(v);
      if (text.size() > Limits::kMetadataMax) {
        Error e = Invalid(key, "is larger than 16 KiB");
        e.With("limit", static_cast<int64_t>(Limits::kMetadataMax));
        return e;
      }
      spec.metadata_json = std::move(text);
    } else if (std::find(std::begin(kReadOnlyJobFields), std::end(kReadOnlyJobFields), key) !=
               std::end(kReadOnlyJobFields)) {
      return Invalid(key, "is read-only");
    } else {
      return Invalid(EchoText(key), "unknown field");
    }
  }
  if (!have_task) return Invalid("task", "is required");
  if (spec.name.empty() && spec.task.argv.empty()) {
    spec.name = spec.task.runtime;  // an agent: "claude", "codex"
  } else if (spec.name.empty()) {
    const std::string& prog = spec.task.argv[0];
    const size_t slash = prog.rfind('/');
    // Cut between characters: the name is answered in JSON bodies.
    spec.name = std::string(TruncateUtf8(slash == std::string::npos
                                             ? std::string_view(prog)
                                             : std::string_view(prog).substr(slash + 1),
                                         Limits::kNameMax));
    if (spec.name.empty() || !IsPrintable(spec.name)) spec.name = "job";
  }
  if (spec.metadata_json.empty()) spec.metadata_json = "{}";
  return spec;
}

}  // namespace overseer::api
