-- Undoes 0005_halts.up.sql: the workspace halts and the halt columns of jobs are dropped (every
-- halt is forgotten).
DROP TABLE IF EXISTS workspace_halts;
ALTER TABLE jobs DROP COLUMN halt_workspace_wide;
ALTER TABLE jobs DROP COLUMN halt_at;
ALTER TABLE jobs DROP COLUMN halt_by;
ALTER TABLE jobs DROP COLUMN halt_reason;
ALTER TABLE jobs DROP COLUMN halt_mode;
