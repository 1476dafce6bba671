/**
 * The durable control flow of a task body: remembered steps, pauses, and waits for signals. A pause or a wait
 * ends the current run (the task is `suspended` and its slot is freed); when the task runs again, the body runs
 * from its start, `step` returns recorded results without running their effects again, and a received signal
 * is read back from the store, so done work is skipped and no answer can change.
 *
 * At-least-once: an effect that finished but whose result was not yet recorded (a crash in between) runs again
 * on the next run. Give its side effects an idempotency key that is stable across runs, such as
 * `${taskId}:${stepName}`.
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { isTracing as isTracingIn } from "../../runtime/internal/tracing.ts"
import { suspend } from "../../runtime/Suspension.ts"
import { TaskInfo } from "../../runtime/TaskInfo.ts"
import type { StoreError } from "../../stores/errors.ts"
import type { StateWrite } from "../../stores/StateStore.ts"
import { StepStore } from "../../stores/StepStore.ts"
import { unstorable } from "../../stores/storable.ts"
import { Snapshots } from "../snapshots/Snapshots.ts"
import {
  DuplicateStep,
  SignalPayloadInvalid,
  SignalTimeout,
  StateNotSerializable,
  StepResultInvalid
} from "./errors.ts"
import { asJson, whyNotJson } from "./internal/json.ts"
import { markOwnWrite } from "./internal/ownWrites.ts"
import { TaskState, taskScopeId } from "./TaskState.ts"

/** How a step's result is stored: by default it must be JSON (or `undefined`). */
export interface StepOptions<A> {
  readonly schema?: Schema.Codec<A, unknown> | undefined
  /**
   * State keys of the task to write with the step's result, in the same store operation (one round trip on
   * PostgreSQL): after a crash, either both are stored or neither. Values must be JSON.
   */
  readonly state?: ((result: A) => Readonly<Record<string, unknown>>) | undefined
}

/** The step results' keys among a task's recorded steps (signals, waits and model calls have others). */
const stepKeyPrefix = "step:"

const DefaultResult = Schema.toCodecJson(Schema.Union([Schema.Undefined, Schema.Json]))

/**
 * Tells the task's `Snapshots` (when the snapshot plugin is installed) that a step or a state write happened, so
 * its automatic policy can save the task's state. A snapshot that cannot be saved is logged, never a failure of
 * the step: the step's result is already recorded.
 */
export const snapshotPolicy = (event: "step" | "stateWrite"): Effect.Effect<void> =>
  // Looked up before anything else: without the snapshot plugin, as on most writes, this is one lookup.
  Effect.flatMap(Effect.serviceOption(Snapshots), (snapshots) =>
    Option.isNone(snapshots)
      ? Effect.void
      : Effect.gen(function* () {
          const state = yield* Effect.serviceOption(TaskState)
          const capture = Option.isSome(state) ? state.value.getAll() : Effect.succeed({})
          yield* snapshots.value.observe(event, capture)
        }).pipe(
          Effect.catch((error) => Effect.logWarning(`automatic snapshot after a ${event} not saved`, error)),
          Effect.asVoid
        )
  )

export class Durable extends Context.Service<
  Durable,
  {
    /**
     * Runs `effect` once per task: its result is recorded under `name`, and every later run of the body gets the
     * recorded result without running the effect. Names are unique within a run (`DuplicateStep`).
     */
    readonly step: <A, E, R>(
      name: string,
      effect: Effect.Effect<A, E, R>,
      options?: StepOptions<A>
    ) => Effect.Effect<A, E | DuplicateStep | StepResultInvalid | StateNotSerializable | StoreError, R>
    /**
     * Ends this run: the task is recorded `suspended`, its slot is freed, and it runs again from the start of the
     * body after `delay` (at once by default). Read state to skip done work.
     */
    readonly pause: (options?: { readonly delay?: Duration.Input | undefined }) => Effect.Effect<never>
    /**
     * Returns the payload of the next signal `name` sent to this task, suspending the task until one arrives.
     * A signal sent earlier waits in the task's mailbox. With `timeout`, fails with `SignalTimeout` once it has
     * passed (measured from the first time this wait was reached); which of the two won is recorded.
     */
    readonly waitForSignal: <A, I>(
      name: string,
      schema: Schema.Codec<A, I>,
      options?: { readonly timeout?: Duration.Input | undefined }
    ) => Effect.Effect<A, SignalTimeout | SignalPayloadInvalid | StoreError>
  }
>()("waypoint/plugins/state/Durable") {
  /** Built once per execution: remembers which step names and waits this run has used. */
  static readonly layer: Layer.Layer<Durable, never, TaskInfo | StepStore> = Layer.effect(
    Durable,
    Effect.gen(function* () {
      const task = yield* TaskInfo
      const steps = yield* StepStore
      const usedNames = new Set<string>()
      // A step's span only with a tracer of the program's own (Effect's default one exports nothing): a span changes
      // the fiber's context, which costs about as much as a step in memory does.
      const isTracing = isTracingIn(yield* Effect.context<never>())
      const waits = new Map<string, number>()

      // The steps earlier runs recorded, read once per run at its first step, so that a step then costs its
      // checkpoint alone. Complete once read: only the attempt owning the task records steps (the checkpoint is
      // fenced), and this one owned it before it read. A step's entry is dropped once the step has used it.
      // On the task's first run nothing can be recorded yet: no read at all.
      let recorded: Map<string, Schema.Json> | undefined = task.firstRun ? new Map() : undefined
      let reading: Effect.Effect<Map<string, Schema.Json>, StoreError> | undefined
      const read = steps.listSteps(task.id, stepKeyPrefix).pipe(
        Effect.map((all) => {
          const kept = new Map<string, Schema.Json>()
          for (const [key, value] of all) if (key.startsWith(stepKeyPrefix)) kept.set(key, value)
          recorded = kept
          return kept
        }),
        // A failed read is not kept: the next step reads again.
        Effect.tapError(() => Effect.sync(() => (reading = undefined)))
      )
      // Steps running at once (`Effect.all` of steps) share the one read.
      const recordedSteps: Effect.Effect<Map<string, Schema.Json>, StoreError> = Effect.suspend(() => {
        if (recorded !== undefined) return Effect.succeed(recorded)
        if (reading !== undefined) return reading
        return Effect.flatMap(Effect.cached(read), (once) => (reading ??= once))
      })

      const step = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>, options?: StepOptions<A>) =>
        isTracing
          ? Effect.withSpan(runStep(name, effect, options), "Durable.step", {
              attributes: { "waypoint.step.name": name }
            })
          : runStep(name, effect, options)

      type StepError = DuplicateStep | StepResultInvalid | StateNotSerializable | StoreError

      // Written without generators, as `record` below: in memory a step costs a few microseconds, and each `yield*`
      // of a generator is a noticeable part of that.
      const runStep = <A, E, R>(
        name: string,
        effect: Effect.Effect<A, E, R>,
        options?: StepOptions<A>
      ): Effect.Effect<A, E | StepError, R> =>
        Effect.suspend(() => {
          if (usedNames.has(name)) return Effect.fail(new DuplicateStep({ name }))
          usedNames.add(name)
          const codec = (
            options?.schema === undefined ? DefaultResult : Schema.toCodecJson(options.schema)
          ) as Schema.Codec<A, Schema.Json>
          const invalid = (error: { readonly message: string }) => new StepResultInvalid({ name, issue: error.message })
          const key = `${stepKeyPrefix}${name}`
          return Effect.flatMap(recordedSteps, (earlier): Effect.Effect<A, E | StepError, R> => {
            const found = earlier.get(key)
            if (found === undefined)
              return Effect.flatMap(effect, (result) => record(name, key, result, codec, invalid, options))
            earlier.delete(key) // a name runs once per run (`DuplicateStep`): the value is not needed again
            const decoded = Effect.mapError(Schema.decodeUnknownEffect(codec)(found), invalid)
            return isTracing
              ? Effect.andThen(Effect.annotateCurrentSpan("waypoint.step.recorded", true), decoded)
              : decoded
          })
        })

      // Records a step's result (and the state it writes) in one fenced write. The first write wins: if another
      // attempt recorded this step first, go on with the recorded result, so every run after this one reads the same
      // answer. If another attempt owns the task now, this one stops here (as its heartbeat would stop it).
      const record = <A>(
        name: string,
        key: string,
        result: A,
        codec: Schema.Codec<A, Schema.Json>,
        invalid: (error: { readonly message: string }) => StepResultInvalid,
        options: StepOptions<A> | undefined
      ): Effect.Effect<A, StepError> => {
        // Without a schema the result must be JSON: say where it is not (the Schema's own message does not). A JSON
        // value is then its own encoding.
        const notJson = options?.schema === undefined && result !== undefined ? whyNotJson(result) : undefined
        if (notJson !== undefined) {
          return Effect.fail(new StepResultInvalid({ name, issue: `${notJson}; give the step a schema` }))
        }
        const encode =
          options?.schema === undefined && result !== undefined
            ? Effect.succeed(result as Schema.Json)
            : Effect.mapError(Schema.encodeUnknownEffect(codec)(result), invalid)
        return Effect.flatMap(encode, (encoded): Effect.Effect<A, StepError> => {
          const unkept = unstorable(encoded)
          if (unkept !== undefined) return Effect.fail(new StepResultInvalid({ name, issue: unkept }))
          const entries = new Map<string, StateWrite>()
          for (const [stateKey, value] of Object.entries(options?.state?.(result) ?? {})) {
            const reason = whyNotJson(value)
            if (reason !== undefined) return Effect.fail(new StateNotSerializable({ key: stateKey, reason }))
            entries.set(stateKey, { value: asJson(value) })
          }
          const write = steps
            .checkpoint({
              taskId: task.id,
              token: task.fencingToken,
              key,
              value: encoded,
              state: entries.size === 0 ? undefined : { scope: taskScopeId(task.id), entries }
            })
            .pipe(Effect.catchTag("LeaseLost", () => Effect.interrupt))
          return Effect.flatMap(entries.size > 0 ? Effect.andThen(markOwnWrite(task), write) : write, (stored) =>
            Effect.andThen(
              snapshotPolicy("step"),
              stored === encoded
                ? Effect.succeed(result)
                : Effect.mapError(Schema.decodeUnknownEffect(codec)(stored), invalid)
            )
          )
        })
      }

      const pause = (options?: { readonly delay?: Duration.Input | undefined }) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const until = now + (options?.delay === undefined ? 0 : Duration.toMillis(options.delay))
          return suspend({ _tag: "Paused", until }, until)
        })

      const waitForSignal = <A, I>(
        name: string,
        schema: Schema.Codec<A, I>,
        options?: { readonly timeout?: Duration.Input | undefined }
      ) =>
        Effect.gen(function* () {
          const index = waits.get(name) ?? 0
          waits.set(name, index + 1)
          const key = `signal:${name}:${index}`
          const timeoutMillis = options?.timeout === undefined ? undefined : Duration.toMillis(options.timeout)
          const timedOut = new SignalTimeout({ signal: name, timeoutMillis: timeoutMillis ?? 0 })
          if (Option.isSome(yield* steps.getStep(task.id, `${key}:timeout`))) return yield* timedOut
          const received = yield* steps.receiveSignal(task.id, name, key)
          if (Option.isSome(received)) {
            return yield* Effect.mapError(
              Schema.decodeUnknownEffect(Schema.toCodecJson(schema))(received.value),
              (error) => new SignalPayloadInvalid({ signal: name, issue: error.message })
            )
          }
          const now = yield* Clock.currentTimeMillis
          if (timeoutMillis === undefined) return yield* suspend({ _tag: "WaitingForSignal", signal: name }, undefined)
          // The deadline is fixed the first time this wait is reached, so re-runs do not move it.
          const deadline = Number(yield* steps.putStep(task.id, `${key}:deadline`, now + timeoutMillis))
          if (now >= deadline) {
            yield* steps.putStep(task.id, `${key}:timeout`, true)
            return yield* timedOut
          }
          return yield* suspend({ _tag: "WaitingForSignal", signal: name, until: deadline }, deadline)
        })

      return Durable.of({ step, pause, waitForSignal })
    })
  )
}

/** Runs `effect` once per task and remembers its result (see `Durable.step`). */
export const step = <A, E, R>(
  name: string,
  effect: Effect.Effect<A, E, R>,
  options?: StepOptions<A>
): Effect.Effect<A, E | DuplicateStep | StepResultInvalid | StateNotSerializable | StoreError, R | Durable> =>
  Effect.flatMap(Effect.service(Durable), (durable) => durable.step(name, effect, options))

/** Suspends the task and frees its slot; it runs again after `delay` (see `Durable.pause`). */
export const pause = (options?: {
  readonly delay?: Duration.Input | undefined
}): Effect.Effect<never, never, Durable> => Effect.flatMap(Effect.service(Durable), (durable) => durable.pause(options))

/** Waits, durably, for the signal `name` (see `Durable.waitForSignal`). */
export const waitForSignal = <A, I>(
  name: string,
  schema: Schema.Codec<A, I>,
  options?: { readonly timeout?: Duration.Input | undefined }
): Effect.Effect<A, SignalTimeout | SignalPayloadInvalid | StoreError, Durable> =>
  Effect.flatMap(Effect.service(Durable), (durable) => durable.waitForSignal(name, schema, options))
