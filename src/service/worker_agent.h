// The agent side of a live worker (runtimes claude and codex): each attempt gets its own
// stream parser; the worker's `agent` record (AgentRecord, stored as workers.agent_json) is
// what earlier attempts told plus what the current attempt's stream has told so far. Loop
// thread only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "service/context.h"

namespace overseer::service {

// How an attempt of an agent starts.
struct AgentAttempt {
  std::string resume_session;  // the conversation it resumes, "" for a new one
  std::string new_session_id;  // a new claude session's id, chosen here
};

// Before the spawn of attempt `attempt` of `w`: reads the record the row holds, decides
// whether the attempt resumes its conversation (a retry, the task allows it, the stream of an
// earlier attempt named the session), and makes the attempt's parser. Nothing for a worker
// whose runtime makes no parser.
AgentAttempt BeginAgentAttempt(LiveWorker& w, const Runtime& runtime, int attempt);

// One output line of attempt `attempt` of `w`. Answers what the usage moved by.
UsageDelta FeedAgentOutput(LiveWorker& w, int attempt, std::string_view line);

// The stream's verdict on attempt `attempt` (nullopt: none, the exit code decides).
std::optional<bool> AgentSucceeded(const LiveWorker& w, int attempt);

// `row` (a row of `w` about to be written or answered) gets the record as of now.
void SyncAgentRow(const LiveWorker& w, core::Worker& row);

// A random UUID (version 4), the form claude --session-id takes.
std::string NewUuid();

}  // namespace overseer::service
