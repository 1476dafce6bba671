/**
 * A `StorageBackend` on the file system: one file per key in one folder. A save writes a temporary file, flushes
 * it to disk, renames it over the key's file and flushes the folder, so after a crash at any moment the file
 * holds the complete old value or the complete new one, never a mix. Uses `node:fs/promises` (Node and Deno).
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Clock, Effect, Layer, Option, Predicate } from "effect"
import { StoreError } from "../errors.ts"
import { InvalidKey, keyProblem, StorageBackend, validateKey } from "../StorageBackend.ts"

/** Where the backend keeps its files. */
export interface FileStorageOptions {
  /** The folder of the files; created (with its parents) when the layer is built. */
  readonly directory: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const tempPrefix = ".tmp-"
/** A temporary file this old was left by a crashed writer: no save takes an hour between write and rename. */
const staleTempMillis = 60 * 60 * 1000
const maxFileNameBytes = 255

const isPlain = (byte: number, index: number): boolean =>
  (byte >= 0x61 && byte <= 0x7a) ||
  (byte >= 0x30 && byte <= 0x39) ||
  byte === 0x5f ||
  byte === 0x2d ||
  (byte === 0x2e && index > 0)

/**
 * The file name of a key: lower-case letters, digits, `_`, `-` and a non-leading `.` as they are, every other
 * UTF-8 byte as `%XX`. Upper case is escaped too, so two keys never share a file on a case-insensitive file
 * system; `/` is escaped, so a key never names a sub-folder; a name never starts with `.`, so it never is `.`,
 * `..` or a temporary file.
 */
const fileNameOf = (key: string): string => {
  let name = ""
  encoder.encode(key).forEach((byte, index) => {
    name += isPlain(byte, index) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
  })
  return name
}

/** The key stored in a file, or `undefined` for a file this backend did not write. */
const keyOf = (name: string): string | undefined => {
  if (name.startsWith(".")) return undefined
  const bytes: Array<number> = []
  for (let i = 0; i < name.length; i++) {
    if (name[i] === "%") {
      bytes.push(Number.parseInt(name.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(name.charCodeAt(i))
    }
  }
  if (bytes.some((byte) => Number.isNaN(byte) || byte > 0xff)) return undefined
  const key = decoder.decode(Uint8Array.from(bytes))
  // Only a name this backend would write decodes back to itself (a malformed escape or bad UTF-8 does not).
  return fileNameOf(key) === name && keyProblem(key) === undefined ? key : undefined
}

const errorCode = (cause: unknown): unknown => (Predicate.hasProperty(cause, "code") ? cause.code : undefined)

const isNotFound = (error: StoreError): boolean => errorCode(error.cause) === "ENOENT"

const attempt = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: run, catch: (cause) => new StoreError({ operation, cause }) })

/** Opens `file`, uses it, and closes it whatever happened. */
const withFile = <A>(
  operation: string,
  file: string,
  flags: string,
  use: (handle: fs.FileHandle) => Effect.Effect<A, StoreError>
): Effect.Effect<A, StoreError> =>
  Effect.acquireUseRelease(
    attempt(operation, () => fs.open(file, flags)),
    use,
    (handle) => Effect.ignore(attempt(operation, () => handle.close()))
  )

/** Builds a backend over `options.directory`, creating the folder and clearing temporary files left by crashes. */
export const make = Effect.fnUntraced(function* (options: FileStorageOptions) {
  const directory = path.resolve(options.directory)
  yield* attempt("open", () => fs.mkdir(directory, { recursive: true }))

  /** Makes a rename or an unlink in the folder durable. Platforms that cannot open a folder (Windows) skip it. */
  const syncDirectory = withFile("sync folder", directory, "r", (handle) =>
    attempt("sync folder", () => handle.sync())
  ).pipe(
    Effect.catchIf(
      (error) => ["EISDIR", "EPERM", "EINVAL", "EBADF", "EACCES"].includes(String(errorCode(error.cause))),
      () => Effect.void
    )
  )

  const clearStaleTemps = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const names = yield* attempt("open", () => fs.readdir(directory))
    yield* Effect.forEach(
      names.filter((name) => name.startsWith(tempPrefix)),
      (name) =>
        attempt("open", () => fs.stat(path.join(directory, name))).pipe(
          Effect.flatMap((stat) =>
            now - stat.mtimeMs > staleTempMillis
              ? attempt("open", () => fs.unlink(path.join(directory, name)))
              : Effect.void
          ),
          Effect.ignore
        ),
      { discard: true }
    )
  })
  yield* clearStaleTemps

  const fileOf = Effect.fnUntraced(function* (key: string) {
    yield* validateKey(key)
    const name = fileNameOf(key)
    if (encoder.encode(name).byteLength > maxFileNameBytes) {
      return yield* new InvalidKey({ key, reason: `its file name would be longer than ${maxFileNameBytes} bytes` })
    }
    return path.join(directory, name)
  })

  const save = Effect.fn("FileStorageBackend.save")(function* (key: string, value: Uint8Array | string) {
    const file = yield* fileOf(key)
    const temp = path.join(directory, `${tempPrefix}${crypto.randomUUID()}`)
    const bytes = typeof value === "string" ? encoder.encode(value) : value
    // The order is the guarantee: the new bytes are on disk before the rename makes them the key's value, and
    // the rename is on disk before save returns.
    yield* withFile("save", temp, "wx", (handle) =>
      Effect.andThen(
        attempt("save", () => handle.writeFile(bytes)),
        attempt("save", () => handle.sync())
      )
    ).pipe(
      Effect.andThen(attempt("save", () => fs.rename(temp, file))),
      Effect.tapError(() => Effect.ignore(attempt("save", () => fs.rm(temp, { force: true }))))
    )
    yield* syncDirectory
  })

  const load = Effect.fn("FileStorageBackend.load")(function* (key: string) {
    const file = yield* fileOf(key)
    return yield* attempt("load", () => fs.readFile(file)).pipe(
      Effect.map((buffer) => Option.some(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))),
      Effect.catchIf(isNotFound, () => Effect.succeed(Option.none<Uint8Array>()))
    )
  })

  const remove = Effect.fn("FileStorageBackend.delete")(function* (key: string) {
    const file = yield* fileOf(key)
    const existed = yield* attempt("delete", () => fs.unlink(file)).pipe(
      Effect.as(true),
      Effect.catchIf(isNotFound, () => Effect.succeed(false))
    )
    if (existed) yield* syncDirectory
    return existed
  })

  const listKeys = Effect.fn("FileStorageBackend.listKeys")(function* (prefix: string) {
    const names = yield* attempt("listKeys", () => fs.readdir(directory))
    return names
      .flatMap((name) => {
        const key = keyOf(name)
        return key?.startsWith(prefix) ? [key] : []
      })
      .sort()
  })

  const exists = Effect.fn("FileStorageBackend.exists")(function* (key: string) {
    const file = yield* fileOf(key)
    return yield* attempt("exists", () => fs.stat(file)).pipe(
      Effect.as(true),
      Effect.catchIf(isNotFound, () => Effect.succeed(false))
    )
  })

  return StorageBackend.of({ save, load, delete: remove, listKeys, exists })
})

/** A backend over a folder; building the layer creates the folder. */
export const layer = (options: FileStorageOptions): Layer.Layer<StorageBackend, StoreError> =>
  Layer.effect(StorageBackend, make(options))
