#include "api/resource_codec.h"

#include <algorithm>
#include <optional>

#include "api/codec_util.h"
#include "common/ids.h"
#include "common/utf8.h"

namespace overseer::api {
namespace json = boost::json;
using codec::GetInt;
using codec::Invalid;
using codec::ParseObject;
using codec::TimeOrNull;

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

}  // namespace overseer::api
