#include "service/worker_agent.h"

#include "common/ids.h"

namespace overseer::service {

std::string NewUuid() {
  std::string h = RandomHex(16);  // 32 hex digits
  h[12] = '4';                    // version 4
  static constexpr char kVariant[] = "89ab";
  h[16] = kVariant[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

AgentAttempt BeginAgentAttempt(LiveWorker& w, const Runtime& runtime, int attempt) {
  AgentAttempt a;
  w.parser.reset();
  w.parser_attempt = attempt;
  w.agent_resumed = false;
  if (!w.job || !w.job->task || !w.job->task->agent) return a;
  const Task& task = *w.job->task;
  w.agent_prior = w.rec.agent_json.empty() ? AgentRecord{} : ParseAgentRecord(w.rec.agent_json);
  w.agent_prior.runtime = task.runtime;
  if (attempt > 1 && task.agent->resume_on_retry && !w.agent_prior.session_id.empty()) {
    a.resume_session = w.agent_prior.session_id;
    w.agent_resumed = true;
  } else {
    a.new_session_id = NewUuid();
  }
  w.parser = runtime.NewOutputParser(task, w.agent_resumed ? &w.agent_prior.session : nullptr);
  return a;
}

UsageDelta FeedAgentOutput(LiveWorker& w, int attempt, std::string_view line) {
  if (!w.parser || w.parser_attempt != attempt) return {};
  w.parser->Feed(line);
  return w.parser->TakeDelta();
}

std::optional<bool> AgentSucceeded(const LiveWorker& w, int attempt) {
  if (!w.parser || w.parser_attempt != attempt) return std::nullopt;
  return w.parser->Succeeded();
}

void SyncAgentRow(const LiveWorker& w, core::Worker& row) {
  if (!w.job || !w.job->task || !w.job->task->agent) return;
  if (!w.parser) {
    if (row.agent_json.empty()) {
      AgentRecord r;
      r.runtime = w.job->task->runtime;
      row.agent_json = AgentRecordJson(r);
    }
    return;
  }
  row.agent_json = AgentRecordJson(CombineAttempt(w.agent_prior, w.parser->usage(), w.agent_resumed));
}

}  // namespace overseer::service
