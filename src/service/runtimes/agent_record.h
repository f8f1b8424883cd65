// AgentRecord: the `agent` object of a worker of an agent runtime (SPEC §11) — what the
// streams of its attempts told: the conversation (session id, model), turns, tokens and cost
// summed over every attempt, and how the latest attempt ended. Kept on the worker's row as
// JSON (workers.agent_json; the API answers the same object), rebuilt from the row when a
// worker starts another attempt (also after a restart). Plain values; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "service/runtimes/agent_usage.h"

namespace overseer::service {

struct AgentRecord {
  std::string runtime;     // "claude" | "codex"
  std::string session_id;  // claude session / codex thread; "" until the stream named it
  std::string model;
  int64_t turns = 0;      // every attempt
  UsageDelta usage;       // every attempt
  UsageDelta session;     // the attempts of the current conversation (a resume adds to it)
  int attempts = 0;       // attempts that produced a stream
  bool cost_estimated = false;
  bool cost_default_price = false;
  // The latest attempt.
  std::string result;
  bool result_truncated = false;
  bool is_error = false;
  std::string subtype;
  int api_error_status = 0;
  std::string error_message;
  int64_t permission_denials = 0;
  std::vector<std::string> denied_tools;
  int64_t malformed_lines = 0;
};

// `prior` (the record when the attempt started) with what the attempt's stream told so far.
// `resumed`: the attempt continues prior's conversation.
AgentRecord CombineAttempt(const AgentRecord& prior, const AgentUsage& attempt, bool resumed);

// The stored and answered form; ParseAgentRecord reads it back (leniently: a missing or
// malformed field keeps its default).
std::string AgentRecordJson(const AgentRecord& r);
AgentRecord ParseAgentRecord(std::string_view json);

UsageDelta Add(const UsageDelta& a, const UsageDelta& b);

}  // namespace overseer::service
