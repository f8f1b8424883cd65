-- 0005: the kill switch (SPEC §11). A job's halt is kept on its row (halt_mode '' = not halted;
-- set and cleared only by ChangeSet::job_halts, never by a status update); a workspace-wide halt
-- (POST /api/halt) is a row of workspace_halts until POST /api/unhalt deletes it.
-- (0004 is another change, written at the same time: the numbers need not be contiguous.)

ALTER TABLE jobs ADD COLUMN halt_mode TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN halt_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN halt_by TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN halt_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN halt_workspace_wide INTEGER NOT NULL DEFAULT 0;

CREATE TABLE workspace_halts (
  workspace_id TEXT PRIMARY KEY NOT NULL,
  mode         TEXT NOT NULL,
  reason       TEXT NOT NULL,
  halted_by    TEXT NOT NULL,
  halted_at    INTEGER NOT NULL
);
