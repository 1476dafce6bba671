/**
 * LangGraph.js (`@langchain/langgraph` 1.x): a graph of N sequential nodes, each adding one to the state, invoked on a
 * fresh thread, with its Postgres checkpointer (`@langchain/langgraph-checkpoint-postgres`, a database of its own) and
 * with `MemorySaver`. The Postgres graph runs with LangGraph's default durability ("async": a node's checkpoint is
 * written while the next node runs) and with "sync" (written before the next node starts, as a Waypoint step is).
 */
import { randomUUID } from "node:crypto"
import { Annotation, type BaseCheckpointSaver, END, MemorySaver, START, StateGraph } from "@langchain/langgraph"
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres"
import { type BenchContext, freshDatabase, type Scenario, type System } from "../scenario.ts"

const State = Annotation.Root({ i: Annotation<number> })

type Durability = "async" | "sync"

/** A compiled graph of `n` nodes in a line; node names are built at run time, so the builder is typed by hand. */
const line = (n: number, checkpointer: BaseCheckpointSaver) => {
  const graph = new StateGraph(State) as unknown as StateGraph<
    typeof State.spec,
    typeof State.State,
    typeof State.Update,
    string
  >
  for (let i = 0; i < n; i++) graph.addNode(`n${i}`, (state: typeof State.State) => ({ i: state.i + 1 }))
  graph.addEdge(START, "n0")
  for (let i = 1; i < n; i++) graph.addEdge(`n${i - 1}`, `n${i}`)
  graph.addEdge(`n${n - 1}`, END)
  return graph.compile({ checkpointer })
}

/** ms per node of one invocation of a graph of `n` nodes on a fresh thread; graphs are compiled once per size. */
const perNode = (checkpointer: () => BaseCheckpointSaver, durability: Durability) => {
  const graphs = new Map<number, ReturnType<typeof line>>()
  return async (n: number) => {
    let graph = graphs.get(n)
    if (graph === undefined) {
      graph = line(n, checkpointer())
      graphs.set(n, graph)
    }
    const start = performance.now()
    // LangGraph stops a run at 25 steps by default: a graph of n nodes in a line needs n
    const out = await graph.invoke(
      { i: 0 },
      { configurable: { thread_id: randomUUID() }, durability, recursionLimit: n + 1 }
    )
    if (out.i !== n) throw new Error(`langgraph: ${n} nodes counted to ${out.i}`)
    return (performance.now() - start) / n
  }
}

const scenarios = ({ adminUrl }: BenchContext): ReadonlyArray<Scenario> => {
  let saver: PostgresSaver | undefined
  let drop = async () => {}
  let users = 0
  const setup = async () => {
    if (users++ > 0) return
    const db = await freshDatabase(adminUrl, "cmp_langgraph")
    drop = db.drop
    saver = PostgresSaver.fromConnString(db.url)
    await saver.setup()
  }
  const teardown = async () => {
    if (--users > 0) return
    await saver?.end()
    await drop()
  }
  const postgres = () => {
    if (saver === undefined) throw new Error("langgraph: a scenario ran before its setup")
    return saver
  }
  const memory = new MemorySaver()
  return [
    { name: "step.server", setup, teardown, run: perNode(postgres, "async") },
    { name: "step.server.sync", setup, teardown, run: perNode(postgres, "sync") },
    { name: "step.memory", setup: async () => {}, teardown: async () => {}, run: perNode(() => memory, "async") }
  ]
}

export const langgraph: System = { name: "langgraph", scenarios }
