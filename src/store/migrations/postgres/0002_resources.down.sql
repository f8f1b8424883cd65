-- 0002 down (PostgreSQL): drops everything 0002_resources.up.sql created.
DROP TABLE IF EXISTS resource_allocations;
DROP TABLE IF EXISTS quotas;
