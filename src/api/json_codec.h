// JSON <-> domain values for the REST API, the parts every resource shares: input limits,
// the strict parsing of small bodies and query strings (unknown or read-only fields are
// 400s naming the field; every size is bounded) and pagination cursors. Per resource:
// worker_codec.h, job_codec.h, resource_codec.h. Any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/server.h"
#include "service/runtime.h"

namespace overseer::api {

// Input limits (also in the OpenAPI document and README).
struct Limits {
  static constexpr size_t kNameMax = 128;
  static constexpr size_t kArgvMax = service::TaskLimits::kArgvMax;
  static constexpr size_t kArgMax = service::TaskLimits::kArgMax;
  static constexpr size_t kArgvTotalMax = service::TaskLimits::kArgvTotalMax;
  static constexpr size_t kCwdMax = service::TaskLimits::kCwdMax;
  static constexpr size_t kEnvMax = service::TaskLimits::kEnvMax;
  static constexpr size_t kEnvKeyMax = service::TaskLimits::kEnvKeyMax;
  static constexpr size_t kEnvValueMax = service::TaskLimits::kEnvValueMax;
  static constexpr size_t kMetadataMax = 16 * 1024;
  static constexpr int kWorkerCountMax = 100;
  static constexpr int64_t kTimeoutMax = 7 * 24 * 3600;
  static constexpr int kTailMax = 10000;
  static constexpr int kTailDefault = 100;
  static constexpr int kLimitMax = 1000;
  static constexpr int kLimitDefault = 100;
  static constexpr int kGraceMax = 300;
  static constexpr int kGraceDefault = 5;
  static constexpr int kWaitMax = 300;  // seconds a GET /api/jobs/{id}/wait may hold
  static constexpr int kWaitDefault = 30;
  static constexpr int kQuotaMax = 10000;  // max_workers of one depth
  static constexpr size_t kDependsOnMax = 32;
  static constexpr size_t kIdempotencyKeyMax = 255;
  // A job's budget (SPEC §11): USD, tokens, and job counts.
  static constexpr double kBudgetUsdMax = 1000000.0;
  static constexpr int64_t kBudgetTokensMax = 1000000000000;  // 10^12
  static constexpr int64_t kBudgetJobsMax = 1000000;
};

// {"grace_seconds":0..300,"wait":bool}; an empty body means the defaults.
struct TerminateOptions {
  int grace_seconds = Limits::kGraceDefault;
  bool wait = true;
};
Result<TerminateOptions> ParseTerminateOptions(std::string_view body);
// A body that must be empty or "{}" (pause, resume).
Status ParseEmptyBody(std::string_view body);

// Query helpers: only `allowed` names may appear; integers in [min, max].
Status CheckQueryNames(const http::Request& req, std::initializer_list<std::string_view> allowed);
Result<int> QueryInt(const http::Request& req, std::string_view name, int def, int min, int max);
// Opaque cursor <-> last id.
std::string EncodeCursor(const std::string& last_id);
Result<std::string> DecodeCursor(std::string_view cursor, std::string_view id_prefix);

}  // namespace overseer::api
