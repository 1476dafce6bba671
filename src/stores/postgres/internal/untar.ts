/**
 * Writes the files of a tar archive (ustar, as PGlite's `dumpDataDir` makes it) into a folder. Only what such an
 * archive holds is accepted: regular files and folders, under the target folder; anything else is an error, so that
 * a damaged archive cannot write elsewhere or leave a half-made data directory unnoticed.
 */
import { mkdir, open, writeFile } from "node:fs/promises"
import { dirname, join, normalize, sep } from "node:path"

const BLOCK = 512

const field = (header: Uint8Array, start: number, length: number): string => {
  const bytes = header.subarray(start, start + length)
  const end = bytes.indexOf(0)
  return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end))
}

const octal = (header: Uint8Array, start: number, length: number): number => {
  const text = field(header, start, length).trim()
  const value = text === "" ? 0 : Number.parseInt(text, 8)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`tar: bad number "${text}"`)
  return value
}

/** The header's checksum: the sum of its bytes with the checksum field read as spaces. */
const checksumOf = (header: Uint8Array): number => {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0)
  return sum
}

/** `name` (without a leading "/") as a path inside `root`, or an error when it would leave it. */
const inside = (root: string, name: string): string => {
  const relative = normalize(name)
  if (relative === ".." || relative.startsWith(`..${sep}`) || relative.startsWith("/")) {
    throw new Error(`tar: "${name}" is outside the folder`)
  }
  return join(root, relative)
}

const PAGE = 8192

/**
 * Writes `bytes` into a new file at `path`, leaving out the pages that are all zeros (most of a fresh database's
 * files: its WAL segment is 16 MB of which a few pages are written): the file gets its full length, and reads back
 * the same, but its empty pages cost no write and no disk.
 */
const zeros = new Uint8Array(PAGE)

const isEmpty = (page: Uint8Array): boolean =>
  Buffer.compare(page, page.length === PAGE ? zeros : zeros.subarray(0, page.length)) === 0

const writeSparse = async (path: string, bytes: Uint8Array): Promise<void> => {
  if (bytes.length <= PAGE) return writeFile(path, bytes)
  const file = await open(path, "w")
  try {
    let start = -1
    for (let at = 0; at < bytes.length; at += PAGE) {
      const empty = isEmpty(bytes.subarray(at, Math.min(at + PAGE, bytes.length)))
      if (!empty && start === -1) start = at
      if (empty && start !== -1) {
        await file.write(bytes, start, at - start, start)
        start = -1
      }
    }
    if (start !== -1) await file.write(bytes, start, bytes.length - start, start)
    await file.truncate(bytes.length)
  } finally {
    await file.close()
  }
}

/** Entries named by their path in the archive, without a leading "/". */
export interface UntarOptions {
  /** Entries not written. */
  readonly skip?: ReadonlySet<string> | undefined
  /** Files written after every other entry. */
  readonly last?: ReadonlySet<string> | undefined
}

/** Extracts `archive` (not compressed) into `root`. Returns the entries it wrote (files and folders, as named). */
export const untar = async (
  archive: Uint8Array,
  root: string,
  options: UntarOptions = {}
): Promise<ReadonlyArray<string>> => {
  let offset = 0
  const written: Array<string> = []
  const deferred: Array<readonly [string, string, Uint8Array]> = []
  const made = new Set<string>()
  const folder = async (path: string) => {
    if (made.has(path)) return
    await mkdir(path, { recursive: true })
    made.add(path)
  }
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK)
    if (header.every((byte) => byte === 0)) {
      for (const [key, path, bytes] of deferred) {
        await folder(dirname(path))
        await writeSparse(path, bytes)
        written.push(key)
      }
      return written
    }
    if (octal(header, 148, 8) !== checksumOf(header)) throw new Error(`tar: bad header checksum at byte ${offset}`)
    const prefix = field(header, 345, 155)
    const name = prefix === "" ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`
    const size = octal(header, 124, 12)
    const type = String.fromCharCode(header[156] ?? 0)
    const body = offset + BLOCK
    if (body + size > archive.length) throw new Error(`tar: "${name}" is cut short`)
    const key = name.replace(/^\/+/, "")
    const path = inside(root, key)
    if (options.skip?.has(key) === true) {
      // not written
    } else if (type === "5") {
      await folder(path)
      written.push(key)
    } else if ((type === "0" || type === "\0") && options.last?.has(key) === true) {
      deferred.push([key, path, archive.subarray(body, body + size)])
    } else if (type === "0" || type === "\0") {
      await folder(dirname(path))
      await writeSparse(path, archive.subarray(body, body + size))
      written.push(key)
    } else {
      throw new Error(`tar: "${name}" has type "${type}", which a data directory does not hold`)
    }
    offset = body + Math.ceil(size / BLOCK) * BLOCK
  }
  throw new Error("tar: the archive has no end")
}
