-- A child's end is its parent's news, in the transaction that writes it, whichever statement does (a finish alone or
-- batched, cancelIdle, a claim that carries out a cancel asked): a parent whose wait counts the child (wait_gen =
-- the child's awaited_gen) has one child less to wait for, and is runnable when its wait is over; a parent that has not
-- ended starts its oldest queued child. Workers hear of either on the work channel ('waypoint_work', Notifications.ts).
CREATE FUNCTION "waypoint"."tasks_child_ended"() RETURNS trigger LANGUAGE plpgsql AS $$
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
  IF counted THEN
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
-- Only an update that sets the status calls it (a heartbeat does not), and only for a child's first end.
CREATE TRIGGER "tasks_child_ended" AFTER UPDATE OF "status" ON "waypoint"."tasks"
  FOR EACH ROW
  WHEN (NEW."parent_id" IS NOT NULL AND NEW."status" IN ('completed', 'failed', 'cancelled')
    AND OLD."status" NOT IN ('completed', 'failed', 'cancelled'))
  EXECUTE FUNCTION "waypoint"."tasks_child_ended"();
