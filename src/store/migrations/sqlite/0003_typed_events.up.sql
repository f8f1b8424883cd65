-- 0003: the event log gets the typed columns of SPEC §10 (type, job_id, worker_id, from_state,
-- to_state, reason), read back by workspace in seq order (index events_workspace_seq, kept).
-- The table is altered in place (not rebuilt) so that its AUTOINCREMENT counter, and with it
-- every event id a client may hold, survives.
-- Rows written before: kind 'worker.state' -> 'worker.transition' (subject_id -> worker_id,
-- data.job_id -> job_id), 'job.state' -> 'job.transition' (subject_id -> job_id); data.from,
-- data.to and data.reason move to their columns and leave data_json. Any other kind keeps its
-- name, and its subject_id moves into data_json.

ALTER TABLE events RENAME COLUMN kind TO type;
ALTER TABLE events ADD COLUMN job_id TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN worker_id TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN from_state TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN to_state TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN reason TEXT NOT NULL DEFAULT '';

UPDATE events SET
  worker_id  = CASE type WHEN 'worker.state' THEN subject_id ELSE '' END,
  job_id     = CASE type
                 WHEN 'job.state' THEN subject_id
                 ELSE coalesce(CASE WHEN json_valid(data_json)
                                    THEN json_extract(data_json, '$.job_id') END, '')
               END,
  from_state = coalesce(CASE WHEN json_valid(data_json)
                             THEN json_extract(data_json, '$.from') END, ''),
  to_state   = coalesce(CASE WHEN json_valid(data_json)
                             THEN json_extract(data_json, '$.to') END, ''),
  reason     = coalesce(CASE WHEN json_valid(data_json)
                             THEN json_extract(data_json, '$.reason') END, ''),
  data_json  = CASE WHEN json_valid(data_json)
                    THEN json_remove(data_json, '$.job_id', '$.from', '$.to', '$.reason')
                    ELSE '{}' END,
  type       = CASE type WHEN 'worker.state' THEN 'worker.transition'
                         ELSE 'job.transition' END
WHERE type IN ('worker.state', 'job.state');

UPDATE events SET
  data_json = json_set(CASE WHEN json_valid(data_json) THEN data_json ELSE '{}' END,
                       '$.subject_id', subject_id)
WHERE type NOT IN ('worker.transition', 'job.transition', 'allocation.created',
                   'allocation.released', 'quota.changed') AND subject_id <> '';

ALTER TABLE events DROP COLUMN subject_id;
