-- One index of a parent's children instead of two (its children by creation, and its key naming one child): each index
-- a child's row is in costs each of its writes, and a fan-out writes thousands of children. A list of a parent's
-- children in creation order sorts them; the runtime reads them in no order. Created before the others go, so a key
-- names one child throughout.
CREATE UNIQUE INDEX "tasks_children_idx" ON "waypoint"."tasks" USING btree ("parent_id","child_key") WHERE "waypoint"."tasks"."parent_id" is not null;--> statement-breakpoint
DROP INDEX "waypoint"."tasks_parent_id_idx";--> statement-breakpoint
DROP INDEX "waypoint"."tasks_child_key_idx";
