-- A parent's queued children, as the trigger of 0011 asks for the oldest: its plan, made once per connection, walked
-- the tasks by creation when the statistics made that look cheap, which reads every older task at each release.
CREATE INDEX "tasks_queued_children_idx" ON "waypoint"."tasks" USING btree ("parent_id","created_at","id") WHERE "waypoint"."tasks"."status" = 'suspended' and "waypoint"."tasks"."suspend_reason"->>'_tag' = 'QueuedBehindSiblings';
