-- Undoes 0008_held_slots.up.sql.
DROP INDEX IF EXISTS resource_allocations_held_depth;
