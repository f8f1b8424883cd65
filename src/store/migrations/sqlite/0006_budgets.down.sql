-- Undoes 0006_budgets.up.sql: budgets, usage and the budget flag of halts are dropped.
ALTER TABLE jobs DROP COLUMN halt_budget;
ALTER TABLE jobs DROP COLUMN usage_children;
ALTER TABLE jobs DROP COLUMN usage_descendants;
ALTER TABLE jobs DROP COLUMN usage_tokens;
ALTER TABLE jobs DROP COLUMN usage_usd;
ALTER TABLE jobs DROP COLUMN budget_on_exhausted;
ALTER TABLE jobs DROP COLUMN budget_max_descendants;
ALTER TABLE jobs DROP COLUMN budget_max_children;
ALTER TABLE jobs DROP COLUMN budget_tokens;
ALTER TABLE jobs DROP COLUMN budget_usd;
