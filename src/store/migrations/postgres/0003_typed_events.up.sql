-- 0003 (PostgreSQL): the event log gets the typed columns of SPEC §10 (type, job_id, worker_id,
-- from_state, to_state, reason), read back by workspace in seq order (index
-- events_workspace_seq, kept). The PostgreSQL form of sqlite/0003_typed_events.up.sql, with
-- jsonb operators where SQLite uses json_*. The table is altered in place (not rebuilt) so that
-- its identity sequence, and with it every event id a client may hold, survives.
-- Rows written before: kind 'worker.state' -> 'worker.transition' (subject_id -> worker_id,
-- data.job_id -> job_id), 'job.state' -> 'job.transition' (subject_id -> job_id); data.from,
-- data.to and data.reason move to their columns and leave data_json. Any other kind keeps its
-- name, and its subject_id moves into data_json. (jsonb is always valid JSON: where SQLite
-- tests json_valid, this tests for an object; data that is not one is left as it is, and a
-- subject_id to move replaces it by an object.)

ALTER TABLE events RENAME COLUMN kind TO type;
ALTER TABLE events
  ADD COLUMN job_id text NOT NULL DEFAULT '',
  ADD COLUMN worker_id text NOT NULL DEFAULT '',
  ADD COLUMN from_state text NOT NULL DEFAULT '',
  ADD COLUMN to_state text NOT NULL DEFAULT '',
  ADD COLUMN reason text NOT NULL DEFAULT '';

UPDATE events SET
  worker_id  = CASE type WHEN 'worker.state' THEN subject_id ELSE '' END,
  job_id     = CASE type
                 WHEN 'job.state' THEN subject_id
                 ELSE coalesce(data_json ->> 'job_id', '')
               END,
  from_state = coalesce(data_json ->> 'from', ''),
  to_state   = coalesce(data_json ->> 'to', ''),
  reason     = coalesce(data_json ->> 'reason', ''),
  data_json  = CASE WHEN jsonb_typeof(data_json) = 'object'
                    THEN data_json - ARRAY['job_id', 'from', 'to', 'reason']
                    ELSE data_json END,
  type       = CASE type WHEN 'worker.state' THEN 'worker.transition'
                         ELSE 'job.transition' END
WHERE type IN ('worker.state', 'job.state');

UPDATE events SET
  data_json = CASE WHEN jsonb_typeof(data_json) = 'object' THEN data_json ELSE '{}'::jsonb END
              || jsonb_build_object('subject_id', subject_id)
WHERE type NOT IN ('worker.transition', 'job.transition', 'allocation.created',
                   'allocation.released', 'quota.changed') AND subject_id <> '';

ALTER TABLE events DROP COLUMN subject_id;
