/**
 * The runtime's event log: every event of every task it drives, numbered, fanned out to any number of
 * subscribers, with a bounded history so a subscriber can resume after the last sequence number it saw.
 * A slow subscriber never slows a task: each subscription buffers up to a bound and then drops its oldest
 * events (the history still has them for a resume, as far as it reaches).
 */
import { Clock, Context, Effect, PubSub, type Scope, Stream } from "effect"
import type { TaskEvent, TaskEventInput } from "./TaskEvent.ts"

/** Where to start a subscription. */
export interface SubscribeOptions {
  /** Replay kept events with a larger `seq` first (a resume from `Last-Event-ID`). */
  readonly after?: number | undefined
  /** Only this task's events. */
  readonly taskId?: string | undefined
}

export class TaskEvents extends Context.Service<
  TaskEvents,
  {
    /** Numbers, timestamps and publishes an event; returns it as published. */
    readonly publish: (event: TaskEventInput) => Effect.Effect<TaskEvent>
    /**
     * `publish`, done at once, outside any fiber: the runtime publishes several events per task on its hot path.
     * Safe to call anywhere, since publishing never waits (a full subscriber drops its oldest event).
     */
    readonly publishUnsafe: (event: TaskEventInput) => TaskEvent
    readonly subscribe: (options?: SubscribeOptions) => Stream.Stream<TaskEvent>
    /** The kept events after `options.after` (all kept ones without it), oldest first; does not wait for more. */
    readonly history: (options?: SubscribeOptions) => Effect.Effect<ReadonlyArray<TaskEvent>>
    /** The sequence number of the last event published (0 before the first). */
    readonly lastSeq: Effect.Effect<number>
  }
>()("waypoint/runtime/TaskEvents") {
  /** Builds an event log in the current Scope; `bufferSize` bounds each subscriber, `history` the replay. */
  static make(options: {
    readonly bufferSize: number
    readonly history: number
  }): Effect.Effect<TaskEvents["Service"], never, Scope.Scope> {
    return Effect.gen(function* () {
      const pubsub = yield* PubSub.sliding<TaskEvent>(options.bufferSize)
      yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
      // A ring of the last `options.history` events: event `seq` sits at index `seq % size`.
      const size = Math.max(1, options.history)
      const ring: Array<TaskEvent | undefined> = new Array(size)
      let seq = 0
      // Publishing runs several times per task: it reads the clock it was built with, and skips the PubSub while
      // nobody subscribes (the ring keeps the event for a later resume either way).
      const clock = yield* Clock.Clock
      let subscribers = 0

      const publishUnsafe = (input: TaskEventInput) => {
        const event = { ...input, seq: ++seq, at: clock.currentTimeMillisUnsafe() } as TaskEvent
        ring[seq % size] = event
        // A sliding PubSub refuses a synchronous publish only when a subscriber's buffer is full: then it slides.
        if (subscribers > 0 && !PubSub.publishUnsafe(pubsub, event)) Effect.runSync(PubSub.publish(pubsub, event))
        return event
      }
      const publish = (input: TaskEventInput) => Effect.sync(() => publishUnsafe(input))

      const kept = (after: number, matches: (event: TaskEvent) => boolean) => {
        const found: Array<TaskEvent> = []
        for (let n = Math.max(after + 1, seq - size + 1); n <= seq; n++) {
          const event = ring[n % size]
          if (event !== undefined && event.seq === n && matches(event)) found.push(event)
        }
        return found
      }

      const history = (opts?: SubscribeOptions) =>
        Effect.sync(() => kept(opts?.after ?? 0, (event) => opts?.taskId === undefined || event.taskId === opts.taskId))

      const subscribe = (opts?: SubscribeOptions) =>
        Stream.unwrap(
          Effect.gen(function* () {
            // Counted before subscribing, and subscribed before reading the history, so no event falls between.
            yield* Effect.acquireRelease(
              Effect.sync(() => subscribers++),
              () => Effect.sync(() => subscribers--)
            )
            const subscription = yield* PubSub.subscribe(pubsub)
            const matches = (event: TaskEvent) => opts?.taskId === undefined || event.taskId === opts.taskId
            // A sequence number past the last one comes from before a restart of the runtime: start from now.
            const after = opts?.after !== undefined && opts.after > seq ? undefined : opts?.after
            const replay = after === undefined ? [] : kept(after, matches)
            const replayedUpTo = replay.at(-1)?.seq ?? after ?? 0
            const live = Stream.fromSubscription(subscription).pipe(
              Stream.filter((event) => event.seq > replayedUpTo && matches(event))
            )
            return Stream.concat(Stream.fromIterable(replay), live)
          })
        )

      return TaskEvents.of({ publish, publishUnsafe, subscribe, history, lastSeq: Effect.sync(() => seq) })
    })
  }
}
