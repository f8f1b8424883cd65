-- 0004 (PostgreSQL): agent runtimes (SPEC §11). A job's stall clock (stall_seconds, 0 = none)
-- and a worker's `agent` object (session, turns, tokens, cost, result) as jsonb, NULL for a
-- plain command (SQLite stores '' there). Existing rows get 0 and NULL. The PostgreSQL form of
-- sqlite/0004_agents.up.sql.

ALTER TABLE jobs ADD COLUMN stall_seconds bigint NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN agent_json jsonb;
