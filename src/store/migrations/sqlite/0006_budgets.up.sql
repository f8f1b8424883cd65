-- 0006: subtree budgets (SPEC §11). A job's own budget (NULL limits: none; on_exhausted
-- 'pause' | 'terminate'), written with the job and by PATCH /api/jobs/{id}; its subtree's usage
-- (USD, tokens of every kind, jobs created below it and directly under it), written as the
-- agents report it; and whether its halt was thrown by its budget (halt_budget = 1).

ALTER TABLE jobs ADD COLUMN budget_usd REAL;
ALTER TABLE jobs ADD COLUMN budget_tokens INTEGER;
ALTER TABLE jobs ADD COLUMN budget_max_children INTEGER;
ALTER TABLE jobs ADD COLUMN budget_max_descendants INTEGER;
ALTER TABLE jobs ADD COLUMN budget_on_exhausted TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN usage_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN usage_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN usage_descendants INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN usage_children INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN halt_budget INTEGER NOT NULL DEFAULT 0;
