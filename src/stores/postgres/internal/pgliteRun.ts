/**
 * How the `Driver` runs a statement on PGlite. The fast path uses PGlite's wire protocol: a statement is parsed and
 * described once, then each run is one call (bind, execute, sync) under PGlite's transaction lock, 0.33 against
 * 1.3 ms for a step checkpoint through `query`. It relies on `execProtocol` and the underscored
 * `_runExclusiveTransaction`, so it is taken only where the client has them; elsewhere (a PGlite version without
 * them) statements go through the public `query`, slower and just as correct.
 */
import type { ExecProtocolResult, PGlite } from "@electric-sql/pglite"
import type { Rows, Run } from "../Driver.ts"
import { loadLazy } from "./drizzle.ts"

// Loaded on a statement's first run (the client exists, so the package is installed), then read without waiting.
let loaded: PgliteModule | undefined
const loadModule = async (): Promise<PgliteModule> => {
  loaded ??= await loadLazy("@electric-sql/pglite")
  return loaded
}

/** Joins protocol messages into one buffer, so that they go into PGlite in one call. */
const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const joined = new Uint8Array(parts.reduce((length, part) => length + part.length, 0))
  let offset = 0
  for (const part of parts) {
    joined.set(part, offset)
    offset += part.length
  }
  return joined
}

interface PglitePrepared {
  readonly name: string
  readonly paramTypes: ReadonlyArray<number>
  // the rowDescription, if the statement returns rows: put before each run's messages, so that `parseResults` reads
  // them as `query` does
  readonly description: ExecProtocolResult["messages"]
}

/** Whether the client and its package have what the fast path uses (the private part may go in any version). */
export const hasWireProtocol = (client: PGlite, module: PgliteModule): boolean =>
  typeof client.execProtocol === "function" &&
  typeof client._runExclusiveTransaction === "function" &&
  typeof client.runExclusive === "function" &&
  typeof module.protocol?.serialize?.parse === "function" &&
  typeof module.parse?.parseResults === "function" &&
  typeof module.parse?.parseDescribeStatementResults === "function"

// Per client, not per driver: two drivers over one client must not both prepare a statement under one name.
const preparedByClient = new WeakMap<PGlite, Map<string, PglitePrepared>>()

/**
 * Named prepared statements on PGlite's one connection. Each run holds PGlite's transaction lock as `query` does, so
 * it never lands inside another caller's open transaction, and serialises parameters and parses rows with PGlite's
 * own type handlers, as `query` does. A statement is parsed once, on its first run (statements are never
 * deallocated: a store prepares a fixed few).
 */
const wireProtocol = (client: PGlite, { parse, protocol }: PgliteModule): Run => {
  const { serialize } = protocol
  const prepared = preparedByClient.get(client) ?? new Map<string, PglitePrepared>()
  preparedByClient.set(client, prepared)
  const exclusive = <A>(run: () => Promise<A>) => client._runExclusiveTransaction(() => client.runExclusive(run))
  const prepare = async (text: string): Promise<PglitePrepared> => {
    const known = prepared.get(text)
    if (known !== undefined) return known
    const name = `waypoint_${prepared.size + 1}`
    const described = await client.execProtocol(
      concat([serialize.parse({ name, text }), serialize.describe({ type: "S", name }), serialize.sync()])
    )
    const statement: PglitePrepared = {
      name,
      paramTypes: parse.parseDescribeStatementResults(described.messages),
      description: described.messages.filter((m) => m.name === "rowDescription")
    }
    prepared.set(text, statement)
    return statement
  }
  return (text, params) =>
    exclusive(async () => {
      // execProtocol on a closed client fails inside the database's wasm with no word of the close
      if (client.closed) throw new Error("PGlite is closed")
      const statement = await prepare(text)
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null
        const serializer = client.serializers[statement.paramTypes[i] ?? 0]
        return serializer === undefined ? String(value) : serializer(value)
      })
      const result = await client.execProtocol(
        concat([serialize.bind({ statement: statement.name, values }), serialize.execute({}), serialize.sync()])
      )
      return parse.parseResults([...statement.description, ...result.messages], client.parsers)[0]?.rows ?? []
    })
}

/** Through PGlite's public `query`: it parses, describes and plans each run again, and takes its own locks. */
const publicQuery =
  (client: PGlite): Run =>
  async (text, params) =>
    (await client.query<Record<string, unknown>>(text, [...params])).rows as Rows

/** The package's exports the `Driver` uses. */
export type PgliteModule = typeof import("@electric-sql/pglite")

/**
 * The `Run` of a PGlite client: the wire protocol where the client has it, else `query`. Chosen at once when the
 * layer gives the loaded package (at open), else on the first run.
 */
export const runPglite = (client: PGlite, module?: PgliteModule): Run => {
  const choose = (module: PgliteModule) =>
    hasWireProtocol(client, module) ? wireProtocol(client, module) : publicQuery(client)
  let run: Run | undefined = module === undefined ? undefined : choose(module)
  return (text, params) => {
    if (run !== undefined) return run(text, params)
    return loadModule().then((module) => {
      run ??= choose(module)
      return run(text, params)
    })
  }
}
