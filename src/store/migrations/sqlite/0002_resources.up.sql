-- 0002: quotas (per workspace and depth; a row overrides the daemon's default) and resource
-- allocations (claims on worker slots; released_at NULL while held).

CREATE TABLE quotas (
  workspace_id TEXT NOT NULL,
  depth        INTEGER NOT NULL,
  max_workers  INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, depth)
);

CREATE TABLE resource_allocations (
  id           TEXT PRIMARY KEY NOT NULL,
  workspace_id TEXT NOT NULL,
  job_id       TEXT NOT NULL,
  worker_id    TEXT,              -- NULL: made through the API
  depth        INTEGER NOT NULL,
  worker_count INTEGER NOT NULL,
  allocated_at INTEGER NOT NULL,
  released_at  INTEGER            -- NULL: still held
);
CREATE INDEX resource_allocations_job ON resource_allocations (workspace_id, job_id, id);
CREATE INDEX resource_allocations_held ON resource_allocations (released_at)
  WHERE released_at IS NULL;
