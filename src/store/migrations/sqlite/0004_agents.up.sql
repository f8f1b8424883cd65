-- 0004: agent runtimes (SPEC §11). A job's stall clock (stall_seconds, 0 = none) and a
-- worker's `agent` object (session, turns, tokens, cost, result: JSON, '' for a plain
-- command). Existing rows get 0 and ''.

ALTER TABLE jobs ADD COLUMN stall_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN agent_json TEXT NOT NULL DEFAULT '';
