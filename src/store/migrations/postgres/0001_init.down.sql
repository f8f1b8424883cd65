-- 0001 down (PostgreSQL): drops everything 0001_init.up.sql created.
DROP TABLE IF EXISTS events;
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS state_transitions;
DROP TABLE IF EXISTS workers;
DROP TABLE IF EXISTS jobs;
