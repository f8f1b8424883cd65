#include "api/json_codec.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "common/base64url.h"
#include "common/ids.h"
#include "common/utf8.h"

namespace overseer::api {
namespace json = boost::json;

namespace {

json::value TimeOrNull(TimeMs t) {
  if (t == 0) return nullptr;
  return json::value(FormatRfc3339(t));
}

json::value ParseStoredJson(const std::string& text) {
  if (text.empty()) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return nullptr;
  return v;
}

Error Invalid(std::string field, std::string message) {
  Error e = MakeError(ErrorCode::kInvalidRequest, field.empty() ? message : field + ": " + message);
  if (!field.empty()) e.With("field", std::move(field));
  return e;
}

bool IsPrintable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

Result<json::object> ParseObject(std::string_view body) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 32;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) return Invalid("", "body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Invalid("", "body must be a JSON object");
  return std::move(v.as_object());
}

Result<int64_t> GetInt(const json::value& v, const std::string& field, int64_t min, int64_t max) {
  int64_t n = 0;
  if (v.is_int64()) {
    n = v.as_int64();
  } else if (v.is_uint64()) {
    n = v.as_uint64() > static_cast<uint64_t>(max) ? max + 1 : static_cast<int64_t>(v.as_uint64());
  } else if (v.is_double() &&
             v.as_double() == static_cast<double>(static_cast<int64_t>(v.as_double()))) {
    n = static_cast<int64_t>(v.as_double());
  } else {
    return Invalid(field, "must be an integer");
  }
  if (n < min || n > max) {
    Error e =
        Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    e.With("min", min).With("max", max);
    return e;
  }
  return n;
}

Result<double> GetNumber(const json::value& v, const std::string& field, double min, double max) {
  if (!v.is_number()) return Invalid(field, "must be a number");
  const double d = v.to_number<double>();
  if (!(d >= min && d <= max)) {
    return Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return d;
}

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

bool IsEnvKey(std::string_view k) {
  if (k.empty() || k.size() > Limits::kEnvKeyMax) return false;
  if (!(std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

Status ParseTask(const json::value& v, service::JobSpec& spec) {
  if (!v.is_object()) return Invalid("task", "must be an object");
  const json::object& t = v.as_object();
  const json::value* runtime = t.if_contains("runtime");
  if (runtime == nullptr || !runtime->is_string()) {
    return Invalid("task.runtime", "is required: \"command\"");
  }
  if (runtime->as_string() == "claude") {
    return Invalid("task.runtime",
                   "\"claude\" is not supported by this version yet; use \"command\"");
  }
  if (runtime->as_string() != "command") return Invalid("task.runtime", "must be \"command\"");
  json::object canonical{{"runtime", "command"}};
  for (const auto& kv : t) {
    const std::string key(kv.key());
    const std::string field = "task." + key;
    if (key == "runtime") continue;
    if (key == "command") {
      if (!kv.value().is_array()) return Invalid(field, "must be an array of strings");
      const json::array& a = kv.value().as_array();
      if (a.empty()) return Invalid(field, "must hold at least the program name");
      if (a.size() > Limits::kArgvMax) {
        Error e =
            Invalid(field, "has more than " + std::to_string(Limits::kArgvMax) + " arguments");
        e.With("limit", static_cast<int64_t>(Limits::kArgvMax));
        return e;
      }
      size_t total = 0;
      for (const json::value& arg : a) {
        if (!arg.is_string()) return Invalid(field, "must be an array of strings");
        const json::string& s = arg.as_string();
        if (s.size() > Limits::kArgMax || HasNul(s)) {
          Error e = Invalid(field, "an argument is longer than 32 KiB or holds a NUL byte");
          e.With("limit", static_cast<int64_t>(Limits::kArgMax));
          return e;
        }
        total += s.size();
        spec.command.emplace_back(s);
      }
      if (spec.command[0].empty()) return Invalid(field, "the program name is empty");
      if (total > Limits::kArgvTotalMax) {
        Error e = Invalid(field, "arguments exceed 256 KiB in total");
        e.With("limit", static_cast<int64_t>(Limits::kArgvTotalMax));
        return e;
      }
      canonical["command"] = a;
    } else if (key == "cwd") {
      if (!kv.value().is_string()) return Invalid(field, "must be a string");
      const json::string& s = kv.value().as_string();
      if (s.empty() || s[0] != '/' || s.size() > Limits::kCwdMax || HasNul(s)) {
        return Invalid(field, "must be an absolute path of at most 4096 bytes");
      }
      spec.cwd = std::string(s);
      canonical["cwd"] = s;
    } else if (key == "env") {
      if (!kv.value().is_object()) return Invalid(field, "must be an object of strings");
      const json::object& env = kv.value().as_object();
      if (env.size() > Limits::kEnvMax) {
        Error e = Invalid(field, "has more than 128 variables");
        e.With("limit", static_cast<int64_t>(Limits::kEnvMax));
        return e;
      }
      for (const auto& e : env) {
        const std::string name(e.key());
        if (!IsEnvKey(name))
          return Invalid(field, "invalid variable name '" + EchoText(name) + "'");
        if (name.rfind("OVERSEER_", 0) == 0) {
          return Invalid(field, "variables named OVERSEER_* are set by overseer");
        }
        if (!e.value().is_string()) return Invalid(field + "." + name, "must be a string");
        const json::string& val = e.value().as_string();
        if (val.size() > Limits::kEnvValueMax || HasNul(val)) {
          return Invalid(field + "." + name, "must be at most 32 KiB without NUL bytes");
        }
        spec.env.emplace_back(name, std::string(val));
      }
      canonical["env"] = env;
    } else {
      return Invalid("task." + EchoText(key), "unknown field");
    }
  }
  if (spec.command.empty()) return Invalid("task.command", "is required");
  spec.task_json = json::serialize(canonical);
  return OkStatus();
}

constexpr std::string_view kReadOnlyJobFields[] = {
    "id",         "workspace_id", "status", "status_reason", "created_at", "updated_at",
    "started_at", "completed_at", "result", "workers",       "children"};

}  // namespace

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

json::object AllocationToJson(const core::Allocation& a) {
  return json::object{
      {"id", a.id},
      {"workspace_id", a.workspace_id},
      {"job_id", a.job_id},
      {"worker_id", a.worker_id.empty() ? json::value(nullptr) : json::value(a.worker_id)},
      {"depth", a.depth},
      {"worker_count", a.worker_count},
      {"allocated_at", TimeOrNull(a.allocated_at)},
      {"released_at", TimeOrNull(a.released_at)}};
}

Result<AllocateRequest> ParseAllocateRequest(std::string_view body) {
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  AllocateRequest r;
  bool have_job = false;
  bool have_depth = false;
  for (const auto& kv : *obj) {
    const std::string key(kv.key());
    if (key == "job_id") {
      if (!kv.value().is_string() || !IsWellFormedId(kv.value().as_string(), "j_")) {
        return Invalid(key, "must be a job id (j_...)");
      }
      r.job_id = std::string(kv.value().as_string());
      have_job = true;
    } else if (key == "depth") {
      auto n = GetInt(kv.value(), key, 0, 1000);
      if (!n) return n.error();
      r.depth = static_cast<int>(*n);
      have_depth = true;
    } else if (key == "worker_count") {
      auto n = GetInt(kv.value(), key, 1, Limits::kQuotaMax);
      if (!n) return n.error();
      r.worker_count = static_cast<int>(*n);
    } else {
      return Invalid(EchoText(key), "unknown field");
    }
  }
  if (!have_job) return Invalid("job_id", "is required");
  if (!have_depth) return Invalid("depth", "is required");
  return r;
}

Result<ReleaseRequest> ParseReleaseRequest(std::string_view body) {
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  ReleaseRequest r;
  for (const auto& kv : *obj) {
    const std::string key(kv.key());
    if (key == "allocation_id") {
      if (!kv.value().is_string() || !IsWellFormedId(kv.value().as_string(), "a_")) {
        return Invalid(key, "must be an allocation id (a_...)");
      }
      r.allocation_id = std::string(kv.value().as_string());
    } else if (key == "job_id") {
      if (!kv.value().is_string() || !IsWellFormedId(kv.value().as_string(), "j_")) {
        return Invalid(key, "must be a job id (j_...)");
      }
      r.job_id = std::string(kv.value().as_string());
    } else {
      return Invalid(EchoText(key), "unknown field");
    }
  }
  if (r.allocation_id.empty() == r.job_id.empty()) {
    return Invalid("allocation_id", "give exactly one of allocation_id or job_id");
  }
  return r;
}

json::object QuotasToJson(const service::QuotasView& v) {
  json::array rows;
  for (const service::QuotaView& q : v.quotas) {
    rows.push_back(json::object{{"depth", q.depth},
                                {"max_workers", q.max_workers},
                                {"used", q.used},
                                {"available", std::max(0, q.max_workers - q.used)}});
  }
  return json::object{{"max_depth", v.max_depth}, {"quotas", std::move(rows)}};
}

json::object UsageToJson(const service::QuotasView& v) {
  json::array rows;
  int64_t total = 0;
  for (const service::QuotaView& q : v.quotas) {
    total += q.used;
    // Thresholds of the quota: 80 % and 90 % of it in use (a zero quota warns once used).
    const bool warn_80 = q.used > 0 && q.used * 10 >= q.max_workers * 8;
    const bool warn_90 = q.used > 0 && q.used * 10 >= q.max_workers * 9;
    rows.push_back(json::object{{"depth", q.depth},
                                {"quota", q.max_workers},
                                {"used", q.used},
                                {"available", std::max(0, q.max_workers - q.used)},
                                {"warn_80", warn_80},
                                {"warn_90", warn_90}});
  }
  return json::object{{"usage", std::move(rows)}, {"total_used", total}};
}

Result<std::vector<std::pair<int, int>>> ParseQuotasUpdate(std::string_view body) {
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  const json::value* list = nullptr;
  for (const auto& kv : *obj) {
    if (kv.key() != "quotas") return Invalid(EchoText(kv.key()), "unknown field");
    list = &kv.value();
  }
  if (list == nullptr) return Invalid("quotas", "is required");
  if (!list->is_array() || list->as_array().empty() || list->as_array().size() > 64) {
    return Invalid("quotas", "must be an array of 1 to 64 {depth, max_workers} objects");
  }
  std::vector<std::pair<int, int>> out;
  for (const json::value& item : list->as_array()) {
    if (!item.is_object()) return Invalid("quotas", "each item must be an object");
    std::optional<int> depth;
    std::optional<int> max_workers;
    for (const auto& kv : item.as_object()) {
      const std::string key(kv.key());
      if (key == "depth") {
        auto n = GetInt(kv.value(), "quotas[].depth", 0, 1000);
        if (!n) return n.error();
        depth = static_cast<int>(*n);
      } else if (key == "max_workers") {
        auto n = GetInt(kv.value(), "quotas[].max_workers", 0, Limits::kQuotaMax);
        if (!n) return n.error();
        max_workers = static_cast<int>(*n);
      } else {
        return Invalid("quotas[]." + EchoText(key), "unknown field");
      }
    }
    if (!depth || !max_workers) {
      return Invalid("quotas", "each item needs depth and max_workers");
    }
    for (const auto& [d, m] : out) {
      if (d == *depth) return Invalid("quotas", "depth " + std::to_string(d) + " appears twice");
    }
    out.emplace_back(*depth, *max_workers);
  }
  return out;
}

Result<service::JobSpec> ParseJobSpec(std::string_view body) {
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
      Status st = ParseTask(v, spec);
      if (!st) return st.error();
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
  if (spec.name.empty()) {
    const std::string& prog = spec.command[0];
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

Result<TerminateOptions> ParseTerminateOptions(std::string_view body) {
  TerminateOptions opts;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return opts;
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  for (const auto& kv : *obj) {
    const std::string key(kv.key());
    if (key == "grace_seconds") {
      auto n = GetInt(kv.value(), key, 0, Limits::kGraceMax);
      if (!n) return n.error();
      opts.grace_seconds = static_cast<int>(*n);
    } else if (key == "wait") {
      if (!kv.value().is_bool()) return Invalid(key, "must be a boolean");
      opts.wait = kv.value().as_bool();
    } else {
      return Invalid(EchoText(key), "unknown field");
    }
  }
  return opts;
}

Status ParseEmptyBody(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return OkStatus();
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  if (!obj->empty()) return Invalid(EchoText(obj->begin()->key()), "unknown field");
  return OkStatus();
}

Status CheckQueryNames(const http::Request& req, std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : req.query) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Invalid(EchoText(name), "unknown query parameter");
    }
  }
  return OkStatus();
}

Result<int> QueryInt(const http::Request& req, std::string_view name, int def, int min, int max) {
  std::optional<std::string_view> v = req.Query(name);
  if (!v) return def;
  const std::string field(name);
  if (v->empty() || v->size() > 10 ||
      !std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Invalid(field, "must be an integer");
  }
  const long long n = std::stoll(std::string(*v));
  if (n < min || n > max) {
    Error e =
        Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    e.With("min", min).With("max", max);
    return e;
  }
  return static_cast<int>(n);
}

std::string EncodeCursor(const std::string& last_id) { return Base64UrlEncode(last_id); }

Result<std::string> DecodeCursor(std::string_view cursor, std::string_view id_prefix) {
  if (cursor.size() > 64) return Invalid("cursor", "is not a cursor this API returned");
  std::optional<std::string> id = Base64UrlDecodeToString(cursor);
  if (!id || !IsWellFormedId(*id, id_prefix)) {
    return Invalid("cursor", "is not a cursor this API returned");
  }
  return *std::move(id);
}

}  // namespace overseer::api
