CREATE TABLE "waypoint"."signals" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"name" text NOT NULL,
	"payload" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "waypoint"."state_entries" (
	"scope" text NOT NULL,
	"key" text NOT NULL,
	"value" jsonb NOT NULL,
	"expires_at" bigint,
	"version" integer NOT NULL,
	CONSTRAINT "state_entries_scope_key_pk" PRIMARY KEY("scope","key")
);
--> statement-breakpoint
CREATE TABLE "waypoint"."steps" (
	"task_id" text NOT NULL,
	"key" text NOT NULL,
	"value" jsonb NOT NULL,
	CONSTRAINT "steps_task_id_key_pk" PRIMARY KEY("task_id","key")
);
--> statement-breakpoint
CREATE INDEX "signals_task_id_name_idx" ON "waypoint"."signals" USING btree ("task_id","name","id");