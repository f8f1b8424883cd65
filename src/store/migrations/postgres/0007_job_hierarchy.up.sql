-- 0007 (PostgreSQL): SPEC §8's job_hierarchy (a closure table: every ancestor of a job, itself
-- included at distance 0) and job_dependencies (one row per depends_on entry), written with the
-- job's row. A subtree is one indexed lookup (ancestor_id) instead of a walk of parent_job_id.
-- Rows of existing jobs are filled in here. The PostgreSQL form of
-- sqlite/0007_job_hierarchy.up.sql (jsonb_array_elements_text where SQLite uses json_each;
-- entries that are JSON null are skipped, as SQLite's INSERT OR IGNORE skips them).

CREATE TABLE job_hierarchy (
  workspace_id  text NOT NULL,
  ancestor_id   text NOT NULL,
  descendant_id text NOT NULL,
  distance      bigint NOT NULL,
  PRIMARY KEY (ancestor_id, descendant_id)
);
CREATE INDEX job_hierarchy_descendant ON job_hierarchy (descendant_id, distance);

CREATE TABLE job_dependencies (
  workspace_id  text NOT NULL,
  job_id        text NOT NULL,
  depends_on_id text NOT NULL,
  PRIMARY KEY (job_id, depends_on_id)
);
CREATE INDEX job_dependencies_depends_on ON job_dependencies (depends_on_id);

INSERT INTO job_hierarchy (workspace_id, ancestor_id, descendant_id, distance)
WITH RECURSIVE up (workspace_id, descendant_id, ancestor_id, distance) AS (
  SELECT workspace_id, id, id, 0::bigint FROM jobs
  UNION ALL
  SELECT up.workspace_id, up.descendant_id, j.parent_job_id, up.distance + 1
  FROM up JOIN jobs j ON j.id = up.ancestor_id AND j.workspace_id = up.workspace_id
  WHERE j.parent_job_id IS NOT NULL
)
SELECT workspace_id, ancestor_id, descendant_id, distance FROM up;

INSERT INTO job_dependencies (workspace_id, job_id, depends_on_id)
SELECT j.workspace_id, j.id, d.value
FROM jobs j
CROSS JOIN LATERAL jsonb_array_elements_text(
  CASE WHEN jsonb_typeof(j.depends_on) = 'array' THEN j.depends_on ELSE '[]'::jsonb END)
  AS d (value)
WHERE d.value IS NOT NULL
ON CONFLICT DO NOTHING;
