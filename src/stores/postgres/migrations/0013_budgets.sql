CREATE TABLE "waypoint"."budget_holds" (
	"task_id" text NOT NULL,
	"key" text NOT NULL,
	"owner_ids" jsonb NOT NULL,
	"calls" bigint NOT NULL,
	"tokens" bigint NOT NULL,
	"cost_nanos" bigint NOT NULL,
	CONSTRAINT "budget_holds_task_id_key_pk" PRIMARY KEY("task_id","key")
);
--> statement-breakpoint
CREATE TABLE "waypoint"."budgets" (
	"owner_id" text PRIMARY KEY NOT NULL,
	"max_calls" bigint,
	"max_tokens" bigint,
	"max_cost_nanos" bigint,
	"calls" bigint DEFAULT 0 NOT NULL,
	"tokens" bigint DEFAULT 0 NOT NULL,
	"cost_nanos" bigint DEFAULT 0 NOT NULL,
	"reserved_calls" bigint DEFAULT 0 NOT NULL,
	"reserved_tokens" bigint DEFAULT 0 NOT NULL,
	"reserved_cost_nanos" bigint DEFAULT 0 NOT NULL
);
