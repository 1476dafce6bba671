/**
 * The agents of the multi-agent example: deterministic functions with simulated latency, so the example runs offline
 * and every run of the same plan gives the same report.
 *
 *   supervisor      plans the topics, fans out one researcher per topic, waits for a human's approval, then has a
 *                   writer join the notes into a report
 *   researcher      reads its topic in several steps, reporting progress; a topic marked `+` (`reefs+`) also starts
 *                   a sub-researcher on its history and adds its notes
 *   sub-researcher  two steps
 *   writer          one step: the report
 *
 * Each step is a durable `step`: its result is recorded once, and a run resumed after a crash does not run it again.
 */
import { Effect, Schema } from "effect"
import { Children, Progress, step, TaskInfo, task, waitForSignal } from "../../src/index.ts"

/** What the agents tell the program around them, which prints it (and may crash on purpose). */
export interface Hooks {
  /** Called as a step's work starts and once its result is recorded, with the agent's key path and the step. */
  readonly onStep: (event: "started" | "recorded", agent: string, step: number) => Effect.Effect<void>
  /** Simulated work per step, in milliseconds. */
  readonly stepMs: number
}

export const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

const Plan = Schema.Struct({ topics: Schema.Array(Schema.String), steps: Schema.Int })

/** One durable step of `agent`: the work runs once; `onStep` hears when it starts and once it is recorded. */
const agentStep = <A>(hooks: Hooks, agent: string, i: number, result: A) =>
  Effect.gen(function* () {
    let ran = false
    const work = Effect.gen(function* () {
      ran = true
      yield* hooks.onStep("started", agent, i)
      yield* Effect.sleep(hooks.stepMs)
      return result
    })
    const recorded = yield* step(`step-${i}`, work)
    if (ran) yield* hooks.onStep("recorded", agent, i)
    return recorded
  })

export const makeAgents = (hooks: Hooks) => {
  const subResearcher = task({ name: "sub-researcher", input: Schema.String, output: Schema.String }, (topic) =>
    Effect.gen(function* () {
      const progress = yield* Progress
      const agent = `supervisor/${topic}/history`
      for (let i = 1; i <= 2; i++) {
        yield* agentStep(hooks, agent, i, i)
        yield* progress.update((i / 2) * 100, `step ${i}/2`)
      }
      return `the history of ${topic}`
    })
  )

  const researcher = task(
    {
      name: "researcher",
      input: Schema.Struct({ topic: Schema.String, steps: Schema.Int, deep: Schema.Boolean }),
      output: Schema.String
    },
    ({ topic, steps, deep }) =>
      Effect.gen(function* () {
        const progress = yield* Progress
        const agent = `supervisor/${topic}`
        const facts: Array<string> = []
        for (let i = 1; i <= steps; i++) {
          facts.push(yield* agentStep(hooks, agent, i, `fact ${i} on ${topic}`))
          yield* progress.update((i / (steps + (deep ? 1 : 0))) * 100, `step ${i}/${steps}`)
        }
        if (deep) {
          const [history] = yield* Children.all([Children.spec(subResearcher, topic, { key: "history" })])
          facts.push(history as string)
          yield* progress.update(100, "with its history")
        }
        return `${topic}: ${facts.join("; ")}`
      })
  )

  const writer = task({ name: "writer", input: Schema.Array(Schema.String), output: Schema.String }, (notes) =>
    Effect.gen(function* () {
      const info = yield* TaskInfo
      yield* agentStep(hooks, "supervisor/writer", 1, info.id)
      return notes.map((note, i) => `${i + 1}. ${note}`).join("\n")
    })
  )

  const supervisor = task(
    { name: "supervisor", input: Plan, output: Schema.String, signals: { approval: Approval } },
    ({ topics, steps }) =>
      Effect.gen(function* () {
        const progress = yield* Progress
        // `reefs+`: the topic `reefs`, researched deeply (with a sub-researcher)
        const plan = yield* step(
          "plan",
          Effect.succeed(topics.map((topic) => ({ topic: topic.replace(/\+$/, ""), deep: topic.endsWith("+") })))
        )
        yield* progress.update(10, `researching ${plan.length} topics`)
        const notes = yield* Children.all(
          plan.map(({ topic, deep }) => Children.spec(researcher, { topic, steps, deep }, { key: topic }))
        )
        yield* progress.update(60, "waiting for approval")
        const approval = yield* waitForSignal("approval", Approval)
        if (!approval.approved) return `rejected by ${approval.by}`
        yield* progress.update(80, `approved by ${approval.by}; writing`)
        const [report] = yield* Children.all([Children.spec(writer, notes, { key: "writer" })])
        yield* progress.update(100, "report written")
        return report as string
      })
  )

  return { supervisor, researcher, subResearcher, writer, tasks: [supervisor, researcher, subResearcher, writer] }
}
