-- 0007: SPEC §8's job_hierarchy (a closure table: every ancestor of a job, itself included at
-- distance 0) and job_dependencies (one row per depends_on entry), written with the job's row.
-- A subtree is one indexed lookup (ancestor_id) instead of a walk of parent_job_id. Rows of
-- existing jobs are filled in here.

CREATE TABLE job_hierarchy (
  workspace_id  TEXT NOT NULL,
  ancestor_id   TEXT NOT NULL,
  descendant_id TEXT NOT NULL,
  distance      INTEGER NOT NULL,
  PRIMARY KEY (ancestor_id, descendant_id)
) WITHOUT ROWID;
CREATE INDEX job_hierarchy_descendant ON job_hierarchy (descendant_id, distance);

CREATE TABLE job_dependencies (
  workspace_id  TEXT NOT NULL,
  job_id        TEXT NOT NULL,
  depends_on_id TEXT NOT NULL,
  PRIMARY KEY (job_id, depends_on_id)
) WITHOUT ROWID;
CREATE INDEX job_dependencies_depends_on ON job_dependencies (depends_on_id);

INSERT INTO job_hierarchy (workspace_id, ancestor_id, descendant_id, distance)
WITH RECURSIVE up (workspace_id, descendant_id, ancestor_id, distance) AS (
  SELECT workspace_id, id, id, 0 FROM jobs
  UNION ALL
  SELECT up.workspace_id, up.descendant_id, j.parent_job_id, up.distance + 1
  FROM up JOIN jobs j ON j.id = up.ancestor_id AND j.workspace_id = up.workspace_id
  WHERE j.parent_job_id IS NOT NULL
)
SELECT workspace_id, ancestor_id, descendant_id, distance FROM up;

INSERT OR IGNORE INTO job_dependencies (workspace_id, job_id, depends_on_id)
SELECT j.workspace_id, j.id, d.value FROM jobs j, json_each(j.depends_on) d;
