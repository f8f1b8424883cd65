-- 0002 (PostgreSQL): quotas (per workspace and depth; a row overrides the daemon's default) and
-- resource allocations (claims on worker slots; released_at NULL while held). The PostgreSQL
-- form of sqlite/0002_resources.up.sql.

CREATE TABLE quotas (
  workspace_id text NOT NULL,
  depth        bigint NOT NULL,
  max_workers  bigint NOT NULL,
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, depth)
);

CREATE TABLE resource_allocations (
  id           text PRIMARY KEY,
  workspace_id text NOT NULL,
  job_id       text NOT NULL,
  worker_id    text,              -- NULL: made through the API
  depth        bigint NOT NULL,
  worker_count bigint NOT NULL,
  allocated_at timestamptz NOT NULL,
  released_at  timestamptz        -- NULL: still held
);
CREATE INDEX resource_allocations_job ON resource_allocations (workspace_id, job_id, id);
CREATE INDEX resource_allocations_held ON resource_allocations (released_at)
  WHERE released_at IS NULL;
