// Principal: who a verified token speaks for, and the scope names of SPEC §5.
// Plain values; any thread.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace overseer::auth {

// Scope names (SPEC §5).
inline constexpr std::string_view kSupervisorRead = "supervisor:read";    // GET supervisor
inline constexpr std::string_view kSupervisorWrite = "supervisor:write";  // pause/resume/terminate
inline constexpr std::string_view kJobsRead = "jobs:read";
inline constexpr std::string_view kJobsWrite = "jobs:write";
inline constexpr std::string_view kResourcesRead = "resources:read";
inline constexpr std::string_view kResourcesWrite = "resources:write";  // allocate/release
inline constexpr std::string_view kResourcesAdmin = "resources:admin";  // change quotas
// Operator: daemon-wide figures (the counters of GET /api/supervisor/metrics).
inline constexpr std::string_view kSupervisorAdmin = "supervisor:admin";

inline constexpr std::array<std::string_view, 8> kAllScopes = {
    kSupervisorRead, kSupervisorWrite, kJobsRead,       kJobsWrite,
    kResourcesRead,  kResourcesWrite,  kResourcesAdmin, kSupervisorAdmin};

// True if `scope` is one of the eight names above.
bool IsKnownScope(std::string_view scope);

struct Principal {
  std::string subject;              // "sub"
  std::string workspace_id;         // "workspace_id"
  std::vector<std::string> scopes;  // "scopes" array and/or space-separated "scope" string
  std::string job_id;               // "job_id"; "" if absent. Set: the token is bound to a job
  TimeMs expires_at = 0;            // "exp" in ms

  // Exact match; no scope implies another.
  bool HasScope(std::string_view scope) const;
};

}  // namespace overseer::auth
