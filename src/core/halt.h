// The kill switch's decisions (SPEC §11), pure: what a halt does to each job and worker of
// the halted subtree, and which workers its unhalt runs again. The service (service/halts)
// carries them out. Any thread.
#pragma once

#include <string_view>

#include "core/types.h"

namespace overseer::core {

// The status_reason of every transition a halt makes (PAUSED, TERMINATED, CANCELED). An
// unhalt resumes exactly the workers PAUSED with it: a worker paused by hand before the halt
// (PAUSE_REQUESTED) stays paused.
inline constexpr std::string_view kHaltReason = "HALTED";
// The same, for a halt a spent budget threw (Halt::budget).
inline constexpr std::string_view kBudgetExhaustedReason = "BUDGET_EXHAUSTED";
// The transition reason of what `h` does: kBudgetExhaustedReason or kHaltReason.
std::string_view HaltReasonOf(const Halt& h);

enum class HaltWorkerAction {
  kNone,       // ended already, IDLE (its job is canceled instead) or PAUSED (stays so)
  kPause,      // freeze: SIGSTOP, PAUSED
  kTerminate,  // ended: TERMINATED
};

// freeze: RUNNING -> pause; RETRYING -> terminate (nothing may respawn while halted).
// terminate: every non-terminal worker but IDLE ones (their job's cancel ends them) -> terminate.
HaltWorkerAction HaltActionFor(HaltMode mode, WorkerState state);

// True if the halt cancels this job itself: freeze cancels the PENDING jobs of the subtree
// (not started: nothing to freeze; they would start later otherwise); terminate cancels
// every active job (the root of the subtree with its descendants, as a cancel cascade).
bool HaltCancelsJob(HaltMode mode, JobState state);

// True if the unhalt of a freeze resumes `w`: PAUSED by a halt (reason kHaltReason or
// kBudgetExhaustedReason).
bool ResumedByUnhalt(const Worker& w);

}  // namespace overseer::core
