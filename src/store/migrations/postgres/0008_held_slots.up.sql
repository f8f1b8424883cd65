-- 0008: the slots held at one workspace and depth, summed inside every commit that takes slots
-- (ChangeSet::slot_limits), in one indexed range: only allocations still held are indexed.
CREATE INDEX resource_allocations_held_depth ON resource_allocations (workspace_id, depth)
  WHERE released_at IS NULL;
