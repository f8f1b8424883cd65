#include "core/budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace overseer::core {

BudgetLeft Left(const BudgetPool& pool) {
  BudgetLeft l;
  if (pool.budget.usd) l.usd = *pool.budget.usd - pool.usage.usd - pool.held.usd;
  if (pool.budget.tokens) l.tokens = *pool.budget.tokens - pool.usage.tokens - pool.held.tokens;
  return l;
}

Reservation Unspent(const Budget& budget, const JobUsage& usage) {
  Reservation r;
  if (budget.usd) r.usd = std::max(0.0, *budget.usd - usage.usd);
  if (budget.tokens) r.tokens = std::max<int64_t>(0, *budget.tokens - usage.tokens);
  return r;
}

std::optional<BudgetRefusal> CheckReservation(const BudgetPool& pool, const Budget& child,
                                              const Reservation& current) {
  const BudgetLeft left = Left(pool);
  // What the child's limits would hold back, beyond what it holds already.
  if (child.usd && left.usd) {
    const double more = *child.usd - current.usd;
    // A cent's thousandth of slack: amounts arrive as decimal text.
    if (more > 0 && more > *left.usd + 1e-9) {
      return BudgetRefusal{"usd", *child.usd, std::max(0.0, *left.usd + current.usd), pool.job_id,
                           true};
    }
  }
  if (child.tokens && left.tokens) {
    const int64_t more = *child.tokens - current.tokens;
    if (more > 0 && more > *left.tokens) {
      return BudgetRefusal{"tokens", static_cast<double>(*child.tokens),
                           static_cast<double>(std::max<int64_t>(0, *left.tokens + current.tokens)),
                           pool.job_id, false};
    }
  }
  return std::nullopt;
}

std::optional<BudgetRefusal> CheckFanOut(const std::vector<FanOutLink>& above) {
  for (size_t i = 0; i < above.size(); ++i) {
    const FanOutLink& a = above[i];
    if (!a.budget) continue;
    if (i == 0 && a.budget->max_children && a.usage.children + 1 > *a.budget->max_children) {
      return BudgetRefusal{
          "max_children", static_cast<double>(a.usage.children + 1),
          static_cast<double>(std::max<int64_t>(0, *a.budget->max_children - a.usage.children)),
          a.job_id, false};
    }
    if (a.budget->max_descendants && a.usage.descendants + 1 > *a.budget->max_descendants) {
      return BudgetRefusal{"max_descendants", static_cast<double>(a.usage.descendants + 1),
                           static_cast<double>(std::max<int64_t>(
                               0, *a.budget->max_descendants - a.usage.descendants)),
                           a.job_id, false};
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> SpentLimit(const Budget& budget, const JobUsage& usage) {
  if (budget.usd && usage.usd >= *budget.usd) return "usd";
  if (budget.tokens && usage.tokens >= *budget.tokens) return "tokens";
  return std::nullopt;
}

double MicroUsd(double usd) { return static_cast<double>(std::llround(usd * 1e6)) / 1e6; }

Charge ChargeOf(double usd, int64_t tokens) {
  Charge c;
  c.usd = usd > 0 ? usd : 0;
  c.tokens = tokens > 0 ? tokens : 0;
  return c;
}

std::string DescribeSpent(std::string_view limit, const Budget& budget, const JobUsage& usage) {
  char buf[160];
  if (limit == "usd" && budget.usd) {
    std::snprintf(buf, sizeof buf, "budget spent: usd %.4f of %.4f", usage.usd, *budget.usd);
  } else if (limit == "tokens" && budget.tokens) {
    std::snprintf(buf, sizeof buf, "budget spent: tokens %lld of %lld",
                  static_cast<long long>(usage.tokens), static_cast<long long>(*budget.tokens));
  } else {
    std::snprintf(buf, sizeof buf, "budget spent");
  }
  return buf;
}

}  // namespace overseer::core
