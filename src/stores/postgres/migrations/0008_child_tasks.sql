ALTER TABLE "waypoint"."tasks" ADD COLUMN "child_key" text;--> statement-breakpoint
ALTER TABLE "waypoint"."tasks" ADD COLUMN "wait_gen" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "waypoint"."tasks" ADD COLUMN "waiting_for" integer;--> statement-breakpoint
ALTER TABLE "waypoint"."tasks" ADD COLUMN "awaited_gen" integer;--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_child_key_idx" ON "waypoint"."tasks" USING btree ("parent_id","child_key") WHERE "waypoint"."tasks"."child_key" is not null;--> statement-breakpoint
CREATE INDEX "tasks_idle_children_idx" ON "waypoint"."tasks" USING btree ("parent_id","status","created_at","id") WHERE "waypoint"."tasks"."parent_id" is not null and "waypoint"."tasks"."status" in ('pending', 'suspended');