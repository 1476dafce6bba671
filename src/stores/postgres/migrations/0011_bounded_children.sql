ALTER TABLE "waypoint"."tasks" ADD COLUMN "bounded" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- The children of a fan-out that still has queued children, left unfinished by a version without the column: they are
-- of a bounded fan-out (the only kind that queues), and their ends must go on starting their queued siblings.
UPDATE "waypoint"."tasks" SET "bounded" = true
  WHERE "status" NOT IN ('completed', 'failed', 'cancelled') AND "parent_id" IN (SELECT "parent_id" FROM "waypoint"."tasks"
    WHERE "status" = 'suspended' AND "suspend_reason"->>'_tag' = 'QueuedBehindSiblings');--> statement-breakpoint
-- As in 0009, but only a child of a bounded fan-out starts a queued sibling: the end of any other child (most of them:
-- a fan-out without a bound, a child started alone) that no wait counts does not call the function at all.
CREATE OR REPLACE FUNCTION "waypoint"."tasks_child_ended"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  remaining integer;
  wait_mode text;
  counted boolean := false;
  woken boolean := false;
  parent_status text;
  released text;
BEGIN
  IF NEW."awaited_gen" IS NOT NULL THEN
    -- The row lock on the parent serializes its children's ends: each one reads the count the previous one left
    -- (PostgreSQL checks the WHERE again on the newest version of a row it waited for).
    UPDATE "waypoint"."tasks" SET "waiting_for" = "waiting_for" - 1
      WHERE "id" = NEW."parent_id" AND "status" = 'suspended'
        AND "suspend_reason"->>'_tag' = 'WaitingForChildren' AND "wait_gen" = NEW."awaited_gen"
      RETURNING "waiting_for", "suspend_reason"->>'mode' INTO remaining, wait_mode;
    counted := FOUND;
    IF counted AND (remaining <= 0 OR (wait_mode = 'all' AND NEW."status" <> 'completed')
        OR (wait_mode = 'first' AND NEW."status" = 'completed')) THEN
      -- the wait is over: runnable at once, at the same attempt; its status leaves 'suspended', so no later end counts
      UPDATE "waypoint"."tasks"
        SET "status" = 'pending', "suspend_reason" = NULL, "waiting_for" = NULL, "run_at" = NULL,
          "updated_at" = NEW."updated_at"
        WHERE "id" = NEW."parent_id";
      woken := true;
    END IF;
  END IF;
  IF NOT NEW."bounded" THEN
    -- not of a bounded fan-out: no queued sibling waits for its end
    parent_status := NULL;
  ELSIF counted THEN
    parent_status := 'suspended';
  ELSE
    SELECT "status" INTO parent_status FROM "waypoint"."tasks" WHERE "id" = NEW."parent_id";
  END IF;
  IF parent_status IS NOT NULL AND parent_status NOT IN ('completed', 'failed', 'cancelled') THEN
    -- A queued child another transaction holds is skipped: a sibling's end releasing it, or its own cancel.
    UPDATE "waypoint"."tasks"
      SET "status" = 'pending', "suspend_reason" = NULL, "run_at" = NULL, "updated_at" = NEW."updated_at"
      WHERE "id" = (SELECT "id" FROM "waypoint"."tasks"
        WHERE "parent_id" = NEW."parent_id" AND "status" = 'suspended'
          AND "suspend_reason"->>'_tag' = 'QueuedBehindSiblings'
        ORDER BY "created_at", "id" LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING "id" INTO released;
    -- Every queued child is held, maybe by the parent's own AwaitingChildren marking them, which leaves them queued:
    -- wait for the oldest (once its holder is done, the next one still queued). Not while this transaction holds the
    -- parent (counted): a queued child's cancel would then wait for the parent, and this for it.
    IF released IS NULL AND NOT counted THEN
      UPDATE "waypoint"."tasks"
        SET "status" = 'pending', "suspend_reason" = NULL, "run_at" = NULL, "updated_at" = NEW."updated_at"
        WHERE "id" = (SELECT "id" FROM "waypoint"."tasks"
          WHERE "parent_id" = NEW."parent_id" AND "status" = 'suspended'
            AND "suspend_reason"->>'_tag' = 'QueuedBehindSiblings'
          ORDER BY "created_at", "id" LIMIT 1 FOR UPDATE)
        RETURNING "id" INTO released;
    END IF;
  END IF;
  IF woken OR released IS NOT NULL THEN
    PERFORM pg_notify('waypoint_work', '');
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
DROP TRIGGER "tasks_child_ended" ON "waypoint"."tasks";--> statement-breakpoint
CREATE TRIGGER "tasks_child_ended" AFTER UPDATE OF "status" ON "waypoint"."tasks"
  FOR EACH ROW
  WHEN (NEW."parent_id" IS NOT NULL AND NEW."status" IN ('completed', 'failed', 'cancelled')
    AND OLD."status" NOT IN ('completed', 'failed', 'cancelled')
    AND (NEW."awaited_gen" IS NOT NULL OR NEW."bounded"))
  EXECUTE FUNCTION "waypoint"."tasks_child_ended"();
