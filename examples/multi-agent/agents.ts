/**
 * The agents of the multi-agent example. Each thinks with model calls (Effect AI's `LanguageModel`, made durable by
 * the runtime's `ModelCalls` plugin) and works in durable steps with simulated latency (reading a source, say):
 *
 *   supervisor      plans a research question per topic (`generateObject`), fans out one researcher per topic, waits
 *                   for a human's approval, then has a writer join the notes into a report
 *   researcher      reads its topic's sources in several steps, and after each asks the model for a finding,
 *                   reporting progress; a topic marked `+` (`reefs+`) also starts a sub-researcher on its history
 *   sub-researcher  reads two sources, then has the model sum up the topic's history
 *   writer          one step, then the report, streamed by the model (`streamText`) as it is written
 *
 * A step's result and a model call's answer are recorded once: a body run again (after its children end, an
 * approval, a crash) gets them from the record, so no step runs again and the model is not asked again. A prompt is
 * made only from recorded values (the input, steps' results, earlier answers), so a body run again asks what it
 * asked before. Model calls are made outside steps: a call inside a step would not be made when the step is
 * answered from its record, and the calls after it would be numbered differently.
 */
import { Effect, Schema, Stream } from "effect"
import { LanguageModel } from "effect/ai"
import { Children, Progress, step, TaskInfo, task, waitForSignal } from "../../src/index.ts"
import { CallSite } from "./model.ts"

/** What the agents tell the program around them, which prints it (and may crash on purpose). */
export interface Hooks {
  /** Called as a step's work starts and once its result is recorded, with the agent's key path and the step. */
  readonly onStep: (event: "started" | "recorded", agent: string, step: number) => Effect.Effect<void>
  /**
   * Called as a model call really goes to the model and once its answer is recorded, with the agent's key path and
   * the call's number in its body; never for a call answered from its record.
   */
  readonly onModelCall: (event: "started" | "recorded", agent: string, call: number) => Effect.Effect<void>
  /** Simulated work per step, in milliseconds. */
  readonly stepMs: number
}

export const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

const Plan = Schema.Struct({ topics: Schema.Array(Schema.String), steps: Schema.Int })

/** What the supervisor asks the model for: a question for each topic's researcher. */
const Questions = Schema.Struct({
  questions: Schema.Array(Schema.Struct({ topic: Schema.String, question: Schema.String }))
})

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

/**
 * The `call`-th model call of `agent`: `onModelCall` hears when the model is really called and once its answer is
 * recorded (the durable model records an answer before it returns it).
 */
const modelCall = <A, E, R>(hooks: Hooks, agent: string, call: number, request: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    let isCalled = false
    const site = {
      onCall: Effect.suspend(() => {
        isCalled = true
        return hooks.onModelCall("started", agent, call)
      })
    }
    return request.pipe(
      Effect.provideService(CallSite, site),
      Effect.tap(() => (isCalled ? hooks.onModelCall("recorded", agent, call) : Effect.void))
    )
  })

const RESEARCHER = "You are a research agent. Answer with one new finding of at most 25 words, and nothing else."

export const makeAgents = (hooks: Hooks) => {
  const subResearcher = task({ name: "sub-researcher", input: Schema.String, output: Schema.String }, (topic) =>
    Effect.gen(function* () {
      const progress = yield* Progress
      const agent = `supervisor/${topic}/history`
      const sources: Array<string> = []
      for (let i = 1; i <= 2; i++) {
        sources.push(yield* agentStep(hooks, agent, i, `an archive on ${topic} (${i} of 2)`))
        yield* progress.update((i / 3) * 100, `source ${i}/2`)
      }
      const history = yield* modelCall(
        hooks,
        agent,
        1,
        LanguageModel.generateText({
          prompt: [
            { role: "system", content: "You are a historian. Answer in one sentence, and nothing else." },
            {
              role: "user",
              content: `Sources: ${sources.join("; ")}\nSummarize the history of ${topic} in one sentence.`
            }
          ]
        })
      )
      yield* progress.update(100, "history written")
      return history.text.trim()
    })
  )

  const researcher = task(
    {
      name: "researcher",
      input: Schema.Struct({
        topic: Schema.String,
        steps: Schema.Int,
        deep: Schema.Boolean,
        /** The supervisor's question; a researcher given none (a replaced branch, say) asks its own. */
        question: Schema.optional(Schema.String)
      }),
      output: Schema.String
    },
    ({ topic, steps, deep, question }) =>
      Effect.gen(function* () {
        const progress = yield* Progress
        const agent = `supervisor/${topic}`
        const facts: Array<string> = []
        for (let i = 1; i <= steps; i++) {
          const source = yield* agentStep(hooks, agent, i, `an article on ${topic} (${i} of ${steps})`)
          const finding = yield* modelCall(
            hooks,
            agent,
            i,
            LanguageModel.generateText({
              prompt: [
                { role: "system", content: RESEARCHER },
                {
                  role: "user",
                  content: [
                    `Topic: ${topic}`,
                    `Question: ${question ?? `What matters most about ${topic}?`}`,
                    `Source: ${source}`,
                    `Findings so far:${facts.map((fact) => `\n- ${fact}`).join("") || " none"}`,
                    `Write finding ${i}.`
                  ].join("\n")
                }
              ]
            })
          )
          facts.push(finding.text.trim())
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
      const progress = yield* Progress
      const agent = "supervisor/writer"
      yield* agentStep(hooks, agent, 1, info.id)
      // Streamed: the deltas come as the model writes them (the runtime publishes them as ModelTextDelta events);
      // a body run again after the call was recorded gets the whole text at once.
      let report = ""
      yield* modelCall(
        hooks,
        agent,
        1,
        Stream.runForEach(
          LanguageModel.streamText({
            prompt: [
              {
                role: "system",
                content:
                  "You are a writer. Join the researchers' notes into a report: one numbered line per note, in their order, and nothing else."
              },
              { role: "user", content: `Notes:\n${notes.map((note) => `- ${note}`).join("\n")}` }
            ]
          }),
          (part) =>
            part.type !== "text-delta"
              ? Effect.void
              : Effect.suspend(() => {
                  report += part.delta
                  return progress.update(50, `writing: ${report.length} characters`)
                })
        )
      )
      return report.trim()
    })
  )

  const supervisor = task(
    { name: "supervisor", input: Plan, output: Schema.String, signals: { approval: Approval } },
    ({ topics, steps }) =>
      Effect.gen(function* () {
        const progress = yield* Progress
        // `reefs+`: the topic `reefs`, researched deeply (with a sub-researcher)
        const plan = topics.map((topic) => ({ topic: topic.replace(/\+$/, ""), deep: topic.endsWith("+") }))
        yield* progress.update(5, "planning")
        const { value } = yield* modelCall(
          hooks,
          "supervisor",
          1,
          LanguageModel.generateObject({
            objectName: "research_plan",
            schema: Questions,
            prompt: [
              {
                role: "system",
                content:
                  "You lead a research team. For each topic, write the one question its researcher should answer."
              },
              {
                role: "user",
                content: `Topics:\n${plan.map(({ topic, deep }) => `- ${topic}${deep ? " (with its history)" : ""}`).join("\n")}`
              }
            ]
          })
        )
        const questionOf = new Map(value.questions.map(({ topic, question }) => [topic, question]))
        yield* progress.update(10, `researching ${plan.length} topics`)
        const notes = yield* Children.all(
          plan.map(({ topic, deep }) => {
            const question = questionOf.get(topic)
            return Children.spec(
              researcher,
              question === undefined ? { topic, steps, deep } : { topic, steps, deep, question },
              { key: topic }
            )
          })
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
