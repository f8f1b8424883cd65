-- 0001: jobs, workers, their state transitions, idempotency keys and the event log.
-- Timestamps are integer milliseconds since the Unix epoch; NULL where the core type holds 0
-- ("not set"). Statuses are stored by name ("RUNNING").

CREATE TABLE jobs (
  id                       TEXT PRIMARY KEY NOT NULL,
  workspace_id             TEXT NOT NULL,
  name                     TEXT NOT NULL,
  status                   TEXT NOT NULL,
  depth                    INTEGER NOT NULL,
  parent_job_id            TEXT,                -- NULL: a root job
  depends_on               TEXT NOT NULL DEFAULT '[]',  -- JSON array of job ids
  worker_count             INTEGER NOT NULL,
  timeout_seconds          INTEGER NOT NULL DEFAULT 0,
  retry_max_attempts       INTEGER NOT NULL,
  retry_initial_backoff_ms INTEGER NOT NULL,
  retry_max_backoff_ms     INTEGER NOT NULL,
  retry_multiplier         REAL NOT NULL,
  retry_jitter             REAL NOT NULL,
  task_json                TEXT NOT NULL,
  metadata_json            TEXT NOT NULL,
  result_json              TEXT,                -- NULL: no result yet
  status_reason            TEXT NOT NULL DEFAULT '',
  created_at               INTEGER NOT NULL,
  updated_at               INTEGER NOT NULL,
  started_at               INTEGER,
  completed_at             INTEGER
);
CREATE INDEX jobs_workspace_id ON jobs (workspace_id, id);
CREATE INDEX jobs_workspace_status ON jobs (workspace_id, status, id);
CREATE INDEX jobs_workspace_parent ON jobs (workspace_id, parent_job_id, id);
CREATE INDEX jobs_workspace_depth ON jobs (workspace_id, depth, id);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE workers (
  id            TEXT PRIMARY KEY NOT NULL,
  workspace_id  TEXT NOT NULL,
  job_id        TEXT NOT NULL,
  status        TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  pid           INTEGER,
  pgid          INTEGER,
  exit_code     INTEGER,
  exit_signal   INTEGER,
  attempt       INTEGER NOT NULL DEFAULT 0,
  metadata_json TEXT NOT NULL,
  cgroup_path   TEXT NOT NULL DEFAULT '',
  log_path      TEXT NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  started_at    INTEGER,
  ended_at      INTEGER
);
CREATE INDEX workers_workspace_id ON workers (workspace_id, id);
CREATE INDEX workers_workspace_status ON workers (workspace_id, status, id);
CREATE INDEX workers_workspace_job ON workers (workspace_id, job_id, id);
CREATE INDEX workers_status ON workers (status);

CREATE TABLE state_transitions (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  worker_id    TEXT NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
  workspace_id TEXT NOT NULL,
  from_state   TEXT NOT NULL,  -- '' for the creation row
  to_state     TEXT NOT NULL,
  reason       TEXT NOT NULL,
  ts           INTEGER NOT NULL
);
CREATE INDEX state_transitions_worker ON state_transitions (worker_id, id);

CREATE TABLE idempotency_keys (
  workspace_id TEXT NOT NULL,
  key          TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  status       INTEGER NOT NULL DEFAULT 0,  -- 0: in flight; else the HTTP status stored
  body         TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  finished_at  INTEGER,
  PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE events (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace_id TEXT NOT NULL,
  kind         TEXT NOT NULL,
  subject_id   TEXT NOT NULL,
  data_json    TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX events_workspace_seq ON events (workspace_id, seq);
