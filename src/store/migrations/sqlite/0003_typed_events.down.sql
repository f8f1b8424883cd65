-- Undoes 0003_typed_events.up.sql: the event log back to (seq, workspace_id, kind, subject_id,
-- data_json, created_at). Transitions go back to 'worker.state' / 'job.state' with from, to,
-- reason (and a worker's job_id) inside data_json; other types keep their name, with the
-- worker, else the job, else data.subject_id as the subject. The seq of every row is kept.

ALTER TABLE events ADD COLUMN subject_id TEXT NOT NULL DEFAULT '';

UPDATE events SET
  subject_id = CASE WHEN worker_id <> '' THEN worker_id
                    WHEN job_id <> '' THEN job_id
                    WHEN json_valid(data_json)
                      THEN coalesce(json_extract(data_json, '$.subject_id'), '')
                    ELSE '' END,
  data_json  = CASE type
                 WHEN 'worker.transition' THEN
                   json_set(CASE WHEN json_valid(data_json) THEN data_json ELSE '{}' END,
                            '$.job_id', job_id, '$.from', from_state, '$.to', to_state,
                            '$.reason', reason)
                 WHEN 'job.transition' THEN
                   json_set(CASE WHEN json_valid(data_json) THEN data_json ELSE '{}' END,
                            '$.from', from_state, '$.to', to_state, '$.reason', reason)
                 ELSE CASE WHEN worker_id = '' AND job_id = '' AND json_valid(data_json)
                           THEN json_remove(data_json, '$.subject_id') ELSE data_json END
               END,
  type       = CASE type WHEN 'worker.transition' THEN 'worker.state'
                         WHEN 'job.transition' THEN 'job.state'
                         ELSE type END;

ALTER TABLE events DROP COLUMN reason;
ALTER TABLE events DROP COLUMN to_state;
ALTER TABLE events DROP COLUMN from_state;
ALTER TABLE events DROP COLUMN worker_id;
ALTER TABLE events DROP COLUMN job_id;
ALTER TABLE events RENAME COLUMN type TO kind;
