CREATE TABLE "waypoint"."rate_limits" (
	"key" text PRIMARY KEY NOT NULL,
	"state" jsonb NOT NULL,
	"version" bigint NOT NULL
);
