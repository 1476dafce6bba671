CREATE SCHEMA "waypoint";
--> statement-breakpoint
CREATE SEQUENCE "waypoint"."fencing_tokens" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "waypoint"."tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"input" jsonb NOT NULL,
	"status" text NOT NULL,
	"attempt" integer NOT NULL,
	"session_id" text,
	"parent_id" text,
	"idempotency_key" text,
	"output" jsonb,
	"error" jsonb,
	"suspend_reason" jsonb,
	"run_at" bigint,
	"lease_owner" text,
	"lease_expires_at" bigint,
	"fencing_token" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	"started_at" bigint,
	"finished_at" bigint
);
--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_idempotency_key_idx" ON "waypoint"."tasks" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "tasks_status_run_at_idx" ON "waypoint"."tasks" USING btree ("status","run_at");--> statement-breakpoint
CREATE INDEX "tasks_created_at_idx" ON "waypoint"."tasks" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "tasks_name_idx" ON "waypoint"."tasks" USING btree ("name","created_at","id");--> statement-breakpoint
CREATE INDEX "tasks_session_id_idx" ON "waypoint"."tasks" USING btree ("session_id","created_at","id") WHERE "waypoint"."tasks"."session_id" is not null;--> statement-breakpoint
CREATE INDEX "tasks_parent_id_idx" ON "waypoint"."tasks" USING btree ("parent_id","created_at","id") WHERE "waypoint"."tasks"."parent_id" is not null;