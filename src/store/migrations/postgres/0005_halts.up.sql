-- 0005 (PostgreSQL): the kill switch (SPEC §11). A job's halt is kept on its row (halt_mode
-- '' = not halted, halt_at NULL = not set; set and cleared only by ChangeSet::job_halts, never
-- by a status update); a workspace-wide halt (POST /api/halt) is a row of workspace_halts until
-- POST /api/unhalt deletes it. The PostgreSQL form of sqlite/0005_halts.up.sql (where halt_at
-- is 0 when not set and halt_workspace_wide an integer 0/1).

ALTER TABLE jobs
  ADD COLUMN halt_mode text NOT NULL DEFAULT '',
  ADD COLUMN halt_reason text NOT NULL DEFAULT '',
  ADD COLUMN halt_by text NOT NULL DEFAULT '',
  ADD COLUMN halt_at timestamptz,
  ADD COLUMN halt_workspace_wide boolean NOT NULL DEFAULT false;

CREATE TABLE workspace_halts (
  workspace_id text PRIMARY KEY,
  mode         text NOT NULL,
  reason       text NOT NULL,
  halted_by    text NOT NULL,
  halted_at    timestamptz NOT NULL
);
