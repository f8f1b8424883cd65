// Subtree budgets (SPEC §11), pure: what a budgeted job has left, whether a new job's budget
// fits in what the budget above it has left (its reservation), whether a new job fits the
// fan-out caps above it, which limit a subtree's usage has spent, and what a usage report
// charges. The service (service/budgets) keeps the usage and carries the decisions out. Any
// thread.
//
// The model: a budget limits its job's whole subtree. A job created with a budget reserves
// it from the nearest budgeted job above it (its "pool"): the pool's `left` is its budget
// less its subtree's usage less the unspent part of the reservations of the active budgeted
// jobs that draw on it. A job without a budget shares its pool's. A subtree whose usage
// reaches its budget (usd or tokens) is spent.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.h"

namespace overseer::core {

// What a budgeted job has left of each limit it sets (nullopt: it sets none of that kind).
// May be negative: a report may overshoot (up to one message per running agent).
struct BudgetLeft {
  std::optional<double> usd;
  std::optional<int64_t> tokens;
};

// The unspent part of a budget: what it still holds back from the pool above it.
struct Reservation {
  double usd = 0;
  int64_t tokens = 0;
};

// A budgeted job as the decisions see it.
struct BudgetPool {
  std::string job_id;
  Budget budget;
  JobUsage usage;    // its subtree's
  Reservation held;  // the unspent reservations of the budgeted jobs drawing on it
};

// Why a job or a budget is refused (422 BUDGET_EXCEEDED): the limit ("usd", "tokens",
// "max_children", "max_descendants"), what was asked for, what is left, and whose budget.
struct BudgetRefusal {
  std::string limit;
  double requested = 0;
  double left = 0;
  std::string job_id;
  bool money = false;  // `requested` / `left` are USD (else counts)
};

// budget - usage - held, for each limit the pool sets.
BudgetLeft Left(const BudgetPool& pool);

// What `budget` still holds back of its pool, given its subtree's usage (never below 0).
Reservation Unspent(const Budget& budget, const JobUsage& usage);

// Whether a budget `child` (a new job's, or the increase of one: `child` the new limits,
// `current` what it reserved before) fits what `pool` has left. nullopt: it fits.
std::optional<BudgetRefusal> CheckReservation(const BudgetPool& pool, const Budget& child,
                                              const Reservation& current = {});

// One job above a new job, nearest first (the parent is [0]).
struct FanOutLink {
  std::string job_id;
  std::optional<Budget> budget;
  JobUsage usage;
};
// Whether one more job fits the parent's max_children and every ancestor's max_descendants.
std::optional<BudgetRefusal> CheckFanOut(const std::vector<FanOutLink>& above);

// The limit `usage` has spent of `budget` ("usd" or "tokens"), or nullopt.
std::optional<std::string_view> SpentLimit(const Budget& budget, const JobUsage& usage);

// What one usage report charges: a correction downwards (a final figure below the streamed
// estimate) charges nothing.
struct Charge {
  double usd = 0;
  int64_t tokens = 0;
  bool empty() const { return usd <= 0 && tokens <= 0; }
};
Charge ChargeOf(double usd, int64_t tokens);

// A USD amount rounded to the micro-dollar (what answers show; sums of streamed estimates
// carry binary noise).
double MicroUsd(double usd);

// The budget's fields as one line for reasons and logs: "usd 5 (spent 5.0123)".
std::string DescribeSpent(std::string_view limit, const Budget& budget, const JobUsage& usage);

}  // namespace overseer::core
