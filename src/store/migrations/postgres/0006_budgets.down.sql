-- 0006 down (PostgreSQL): undoes 0006_budgets.up.sql: budgets, usage and the budget flag of
-- halts are dropped.
ALTER TABLE jobs
  DROP COLUMN halt_budget,
  DROP COLUMN usage_children,
  DROP COLUMN usage_descendants,
  DROP COLUMN usage_tokens,
  DROP COLUMN usage_usd,
  DROP COLUMN budget_on_exhausted,
  DROP COLUMN budget_max_descendants,
  DROP COLUMN budget_max_children,
  DROP COLUMN budget_tokens,
  DROP COLUMN budget_usd;
