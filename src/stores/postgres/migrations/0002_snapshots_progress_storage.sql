CREATE TABLE "waypoint"."progress_latest" (
	"task_id" text PRIMARY KEY NOT NULL,
	"percent" double precision,
	"message" text,
	"status" text,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "waypoint"."progress_logs" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"level" text NOT NULL,
	"message" text NOT NULL,
	"data" jsonb,
	"at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "waypoint"."snapshots" (
	"task_id" text NOT NULL,
	"version" integer NOT NULL,
	"id" uuid NOT NULL,
	"data" jsonb NOT NULL,
	"checkpoint" boolean NOT NULL,
	"created_at" bigint NOT NULL,
	"data_version" integer,
	"origin_task_id" text,
	"origin_version" integer,
	CONSTRAINT "snapshots_task_id_version_pk" PRIMARY KEY("task_id","version")
);
--> statement-breakpoint
CREATE TABLE "waypoint"."storage_entries" (
	"key" text collate "C" PRIMARY KEY NOT NULL,
	"value" "bytea" NOT NULL
);
--> statement-breakpoint
CREATE INDEX "progress_logs_task_id_seq_idx" ON "waypoint"."progress_logs" USING btree ("task_id","seq");--> statement-breakpoint
CREATE INDEX "snapshots_checkpoint_idx" ON "waypoint"."snapshots" USING btree ("task_id","version") WHERE "waypoint"."snapshots"."checkpoint";