-- 0005 down (PostgreSQL): undoes 0005_halts.up.sql: the workspace halts and the halt columns of
-- jobs are dropped (every halt is forgotten).
DROP TABLE IF EXISTS workspace_halts;
ALTER TABLE jobs
  DROP COLUMN halt_workspace_wide,
  DROP COLUMN halt_at,
  DROP COLUMN halt_by,
  DROP COLUMN halt_reason,
  DROP COLUMN halt_mode;
