-- 0007 down (PostgreSQL): undoes 0007_job_hierarchy.up.sql (the jobs keep parent_job_id and
-- depends_on).
DROP TABLE IF EXISTS job_dependencies;
DROP TABLE IF EXISTS job_hierarchy;
