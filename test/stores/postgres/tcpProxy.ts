/**
 * A TCP proxy on 127.0.0.1 in front of the test server, for connection faults the server cannot be asked for: a new
 * connection it holds without answering (a connect timeout), one it cuts while it starts up (after the client's first
 * message following the startup packet), and cutting every open connection at once.
 */
import { createServer, type Socket, connect as tcpConnect } from "node:net"
import { Effect, type Scope } from "effect"

export interface Proxy {
  /** The server's URL, with the proxy's port in place of the server's. */
  readonly url: string
  /** The next `count` new connections are held open and never answered. */
  readonly holdNext: (count: number) => void
  /** From now on, every `every`-th new connection (0: none) is cut as it starts up. */
  readonly cutStartups: (every: number) => void
  /**
   * From now on, every `every`-th new connection (0: none) has its backend terminated by `terminate` (given its
   * pid) as it starts up, before the client's first message past the startup packet reaches the server; `times`
   * such connections in all.
   */
  readonly terminateStartups: (every: number, times: number, terminate: (pid: number) => Promise<unknown>) => void
  /** Cuts every connection open now; returns how many there were. */
  readonly cutAll: () => number
}

/** Starts a proxy to `url`'s host and port, closed with the scope. */
export const make = (url: string): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.gen(function* () {
    const target = new URL(url)
    const open = new Set<Socket>()
    let hold = 0
    let cutEvery = 0
    let terminateEvery = 0
    let terminateTimes = 0
    let terminate: (pid: number) => Promise<unknown> = () => Promise.resolve()
    let accepted = 0
    const server = createServer((client) => {
      open.add(client)
      client.on("close", () => open.delete(client))
      client.on("error", () => {})
      accepted++
      if (hold > 0) {
        hold--
        return // never answered: the client's connect timeout ends it
      }
      const cutThis = cutEvery > 0 && accepted % cutEvery === 0
      const terminateThis = terminateEvery > 0 && accepted % terminateEvery === 0 && terminateTimes-- > 0
      let pid: number | undefined
      const upstream = tcpConnect(Number(target.port || 5432), target.hostname)
      upstream.on("error", () => client.destroy())
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
      let messages = 0
      client.on("data", (chunk) => {
        messages++
        // the first message is the startup packet; the next one is the client's first query on the connection
        if (cutThis && messages === 2) {
          client.destroy()
          upstream.destroy()
          return
        }
        if (terminateThis && messages === 2 && pid !== undefined) {
          client.pause()
          void terminate(pid).finally(() => {
            upstream.write(chunk)
            client.resume()
          })
          return
        }
        upstream.write(chunk)
      })
      upstream.on("data", (chunk: Buffer) => {
        // BackendKeyData: 'K', length 12, the backend's pid, its secret
        const at = pid === undefined ? chunk.indexOf(Buffer.from([0x4b, 0, 0, 0, 12])) : -1
        if (at !== -1 && chunk.length >= at + 9) pid = chunk.readInt32BE(at + 5)
        client.write(chunk)
      })
    })
    yield* Effect.acquireRelease(
      Effect.callback<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.callback<void>((resume) => {
          for (const socket of open) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const proxied = new URL(url)
    proxied.hostname = "127.0.0.1"
    proxied.port = String(port)
    return {
      url: proxied.toString(),
      holdNext: (count) => {
        hold = count
      },
      cutStartups: (every) => {
        cutEvery = every
      },
      terminateStartups: (every, times, f) => {
        terminateEvery = every
        terminateTimes = times
        terminate = f
      },
      cutAll: () => {
        const count = open.size
        for (const socket of open) socket.destroy()
        return count
      }
    }
  })
