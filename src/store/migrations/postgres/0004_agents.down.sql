-- 0004 down (PostgreSQL): undoes 0004_agents.up.sql: the agent columns go (with what they held).

ALTER TABLE workers DROP COLUMN agent_json;
ALTER TABLE jobs DROP COLUMN stall_seconds;
