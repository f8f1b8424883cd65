-- 0006 (PostgreSQL): subtree budgets (SPEC §11). A job's own budget (NULL limits: none;
-- on_exhausted 'pause' | 'terminate'), written with the job and by PATCH /api/jobs/{id}; its
-- subtree's usage (USD, tokens of every kind, jobs created below it and directly under it),
-- written as the agents report it; and whether its halt was thrown by its budget
-- (halt_budget). The PostgreSQL form of sqlite/0006_budgets.up.sql (halt_budget a boolean
-- where SQLite has 0/1).

ALTER TABLE jobs
  ADD COLUMN budget_usd double precision,
  ADD COLUMN budget_tokens bigint,
  ADD COLUMN budget_max_children bigint,
  ADD COLUMN budget_max_descendants bigint,
  ADD COLUMN budget_on_exhausted text NOT NULL DEFAULT '',
  ADD COLUMN usage_usd double precision NOT NULL DEFAULT 0,
  ADD COLUMN usage_tokens bigint NOT NULL DEFAULT 0,
  ADD COLUMN usage_descendants bigint NOT NULL DEFAULT 0,
  ADD COLUMN usage_children bigint NOT NULL DEFAULT 0,
  ADD COLUMN halt_budget boolean NOT NULL DEFAULT false;
