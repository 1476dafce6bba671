-- One index of a parent's children instead of two (its children by creation, and its key naming one child): each
-- index a child is in costs each of its writes, and a fan-out writes thousands of children. Created before the others
-- go, so a key names one child throughout.
CREATE UNIQUE INDEX "tasks_children_idx" ON "waypoint"."tasks" USING btree ("parent_id","child_key") WHERE "waypoint"."tasks"."parent_id" is not null;--> statement-breakpoint
DROP INDEX "waypoint"."tasks_parent_id_idx";--> statement-breakpoint
DROP INDEX "waypoint"."tasks_child_key_idx";--> statement-breakpoint
-- A parent's queued children, as the trigger of 0011 asks for the oldest: its plan, made once per connection, walked
-- the tasks by creation when the statistics made that look cheap, which reads every older task at each release.
CREATE INDEX "tasks_queued_children_idx" ON "waypoint"."tasks" USING btree ("parent_id","created_at","id") WHERE "waypoint"."tasks"."status" = 'suspended' and "waypoint"."tasks"."suspend_reason"->>'_tag' = 'QueuedBehindSiblings';
