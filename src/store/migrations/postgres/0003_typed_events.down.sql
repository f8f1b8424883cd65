-- 0003 down (PostgreSQL): undoes 0003_typed_events.up.sql, as sqlite/0003_typed_events.down.sql
-- does: the event log back to (seq, workspace_id, kind, subject_id, data_json, created_at).
-- Transitions go back to 'worker.state' / 'job.state' with from, to, reason (and a worker's
-- job_id) inside data_json; other types keep their name, with the worker, else the job, else
-- data.subject_id as the subject. The seq of every row is kept (the identity too).

ALTER TABLE events ADD COLUMN subject_id text NOT NULL DEFAULT '';

UPDATE events SET
  subject_id = CASE WHEN worker_id <> '' THEN worker_id
                    WHEN job_id <> '' THEN job_id
                    ELSE coalesce(data_json ->> 'subject_id', '') END,
  data_json  = CASE type
                 WHEN 'worker.transition' THEN
                   CASE WHEN jsonb_typeof(data_json) = 'object' THEN data_json
                        ELSE '{}'::jsonb END
                   || jsonb_build_object('job_id', job_id, 'from', from_state, 'to', to_state,
                                         'reason', reason)
                 WHEN 'job.transition' THEN
                   CASE WHEN jsonb_typeof(data_json) = 'object' THEN data_json
                        ELSE '{}'::jsonb END
                   || jsonb_build_object('from', from_state, 'to', to_state, 'reason', reason)
                 ELSE CASE WHEN worker_id = '' AND job_id = ''
                                AND jsonb_typeof(data_json) = 'object'
                           THEN data_json - 'subject_id' ELSE data_json END
               END,
  type       = CASE type WHEN 'worker.transition' THEN 'worker.state'
                         WHEN 'job.transition' THEN 'job.state'
                         ELSE type END;

ALTER TABLE events
  DROP COLUMN reason,
  DROP COLUMN to_state,
  DROP COLUMN from_state,
  DROP COLUMN worker_id,
  DROP COLUMN job_id;
ALTER TABLE events RENAME COLUMN type TO kind;
