#include "core/types.h"

#include <array>
#include <utility>

namespace overseer::core {
namespace {

constexpr std::array<std::pair<WorkerState, std::string_view>, 7> kWorkerNames{{
    {WorkerState::kIdle, "IDLE"},
    {WorkerState::kRunning, "RUNNING"},
    {WorkerState::kPaused, "PAUSED"},
    {WorkerState::kCompleted, "COMPLETED"},
    {WorkerState::kFailed, "FAILED"},
    {WorkerState::kRetrying, "RETRYING"},
    {WorkerState::kTerminated, "TERMINATED"},
}};

constexpr std::array<std::pair<JobState, std::string_view>, 6> kJobNames{{
    {JobState::kSubmitted, "SUBMITTED"},
    {JobState::kPending, "PENDING"},
    {JobState::kRunning, "RUNNING"},
    {JobState::kCompleted, "COMPLETED"},
    {JobState::kFailed, "FAILED"},
    {JobState::kCanceled, "CANCELED"},
}};

constexpr std::array<std::pair<EventType, std::string_view>, 8> kEventTypeNames{{
    {EventType::kWorkerTransition, "worker.transition"},
    {EventType::kJobTransition, "job.transition"},
    {EventType::kAllocationCreated, "allocation.created"},
    {EventType::kAllocationReleased, "allocation.released"},
    {EventType::kQuotaChanged, "quota.changed"},
    {EventType::kJobHalted, "job.halted"},
    {EventType::kJobUnhalted, "job.unhalted"},
    {EventType::kBudgetExhausted, "budget.exhausted"},
}};

}  // namespace

std::string_view HaltModeName(HaltMode m) {
  return m == HaltMode::kFreeze ? "freeze" : "terminate";
}

std::optional<HaltMode> ParseHaltMode(std::string_view s) {
  if (s == "freeze") return HaltMode::kFreeze;
  if (s == "terminate") return HaltMode::kTerminate;
  return std::nullopt;
}

std::string_view BudgetExhaustionName(BudgetExhaustion b) {
  return b == BudgetExhaustion::kPause ? "pause" : "terminate";
}

std::optional<BudgetExhaustion> ParseBudgetExhaustion(std::string_view s) {
  if (s == "pause") return BudgetExhaustion::kPause;
  if (s == "terminate") return BudgetExhaustion::kTerminate;
  return std::nullopt;
}

std::string_view EventTypeName(EventType t) {
  for (const auto& [type, name] : kEventTypeNames) {
    if (type == t) return name;
  }
  return "unknown";
}

std::optional<EventType> ParseEventType(std::string_view s) {
  for (const auto& [type, name] : kEventTypeNames) {
    if (name == s) return type;
  }
  return std::nullopt;
}

std::string_view WorkerStateName(WorkerState s) {
  for (const auto& [state, name] : kWorkerNames) {
    if (state == s) return name;
  }
  return "UNKNOWN";
}

std::optional<WorkerState> ParseWorkerState(std::string_view s) {
  for (const auto& [state, name] : kWorkerNames) {
    if (name == s) return state;
  }
  return std::nullopt;
}

std::string_view JobStateName(JobState s) {
  for (const auto& [state, name] : kJobNames) {
    if (state == s) return name;
  }
  return "UNKNOWN";
}

std::optional<JobState> ParseJobState(std::string_view s) {
  for (const auto& [state, name] : kJobNames) {
    if (name == s) return state;
  }
  return std::nullopt;
}

}  // namespace overseer::core
