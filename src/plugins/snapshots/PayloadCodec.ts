/**
 * Codecs for stored payloads: gzip and AES-GCM, built on web standards (CompressionStream, Web Crypto) so they
 * run the same on Node and Deno, and composable. A payload written with codecs starts with a header naming them,
 * so reading it with other codecs, or with none, fails with `CodecMismatch` instead of returning unreadable bytes.
 */
import { Effect } from "effect"
import { CodecMismatch, DecryptionFailed, SnapshotCorrupted } from "./errors.ts"

/** A Web Crypto key (`CryptoKey`), named through `crypto.subtle` so that no DOM types are needed. */
export type CryptoKey = Parameters<typeof crypto.subtle.encrypt>[1]

/** Turns bytes into stored bytes and back. */
export interface PayloadCodec {
  /** What the header records: each codec's name, in the order they are applied on write. */
  readonly names: ReadonlyArray<string>
  readonly encode: (bytes: Uint8Array) => Effect.Effect<Uint8Array>
  /** `key` names the stored value in errors. */
  readonly decode: (bytes: Uint8Array, key: string) => Effect.Effect<Uint8Array, DecryptionFailed | SnapshotCorrupted>
}

// A NUL first byte: JSON text (what is written without codecs) never starts with one.
const magic = [0x00, 0x57, 0x50] as const
const headerVersion = 1
const ascii = new TextDecoder("ascii")
const encoder = new TextEncoder()

const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.byteLength, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** The name a list of codecs is known by in errors: `gzip+aes-gcm`, or `none`. */
const nameOf = (names: ReadonlyArray<string>): string => (names.length === 0 ? "none" : names.join("+"))

/** Runs `bytes` through a web transform stream and collects what comes out. */
const transform = (
  bytes: Uint8Array,
  stream: { readonly writable: WritableStream<Uint8Array>; readonly readable: ReadableStream<Uint8Array> }
): Promise<Uint8Array> => {
  const writer = stream.writable.getWriter()
  // The writer's promises fail together with the read below; handled here so they are never reported unhandled.
  writer.write(bytes).catch(() => undefined)
  writer.close().catch(() => undefined)
  return new Response(stream.readable).arrayBuffer().then((buffer) => new Uint8Array(buffer))
}

const streamOf = (stream: CompressionStream | DecompressionStream) =>
  stream as unknown as { readonly writable: WritableStream<Uint8Array>; readonly readable: ReadableStream<Uint8Array> }

/** Compresses with gzip. */
export const gzip: PayloadCodec = {
  names: ["gzip"],
  encode: (bytes) => Effect.orDie(Effect.tryPromise(() => transform(bytes, streamOf(new CompressionStream("gzip"))))),
  decode: (bytes, key) =>
    Effect.tryPromise({
      try: () => transform(bytes, streamOf(new DecompressionStream("gzip"))),
      catch: (cause) => new SnapshotCorrupted({ key, reason: `gzip data is damaged (${String(cause)})` })
    })
}

const ivBytes = 12
const tagBytes = 16

/**
 * Encrypts with AES-GCM under `key` (from the caller: `importAesKey`, or any AES-GCM `CryptoKey` that may
 * encrypt and decrypt). Each write draws a fresh random IV, stored in front of the ciphertext. A wrong key and an
 * altered payload both fail the authentication tag: `DecryptionFailed`.
 */
export const aesGcm = (key: CryptoKey): PayloadCodec => ({
  names: ["aes-gcm"],
  encode: (bytes) =>
    Effect.orDie(
      Effect.tryPromise(() => {
        const iv = crypto.getRandomValues(new Uint8Array(ivBytes))
        return crypto.subtle
          .encrypt({ name: "AES-GCM", iv }, key, bytes as Uint8Array<ArrayBuffer>)
          .then((cipher) => concat(iv, new Uint8Array(cipher)))
      })
    ),
  decode: (bytes, storageKey) =>
    bytes.byteLength < ivBytes + tagBytes
      ? Effect.fail(new DecryptionFailed({ key: storageKey, reason: "the payload is too short to be AES-GCM" }))
      : Effect.tryPromise({
          try: () =>
            crypto.subtle
              .decrypt({ name: "AES-GCM", iv: bytes.slice(0, ivBytes) }, key, bytes.slice(ivBytes))
              .then((plain) => new Uint8Array(plain)),
          catch: () =>
            new DecryptionFailed({
              key: storageKey,
              reason: "the authentication tag does not match: another key, or an altered payload"
            })
        })
})

/** Imports a raw AES key (16, 24 or 32 bytes) for `aesGcm`. Another length is a defect. */
export const importAesKey = (raw: Uint8Array): Effect.Effect<CryptoKey> =>
  Effect.orDie(
    Effect.tryPromise(() =>
      crypto.subtle.importKey("raw", raw.slice() as Uint8Array<ArrayBuffer>, { name: "AES-GCM" }, false, [
        "encrypt",
        "decrypt"
      ])
    )
  )

/** Applies `codecs` in order on write and in reverse order on read: `compose(gzip, aesGcm(key))` compresses first. */
export const compose = (...codecs: ReadonlyArray<PayloadCodec>): PayloadCodec => ({
  names: codecs.flatMap((codec) => codec.names),
  encode: (bytes) =>
    Effect.reduce(
      codecs,
      () => bytes,
      (current, codec) => codec.encode(current)
    ),
  decode: (bytes, key) =>
    Effect.reduce(
      [...codecs].reverse(),
      () => bytes,
      (current, codec) => codec.decode(current, key)
    )
})

/** Encodes `bytes` with `codec` and puts the header in front; without a codec, returns `bytes` unchanged. */
export const seal = (codec: PayloadCodec | undefined, bytes: Uint8Array): Effect.Effect<Uint8Array> => {
  if (codec === undefined || codec.names.length === 0) return Effect.succeed(bytes)
  const name = encoder.encode(nameOf(codec.names))
  return Effect.map(codec.encode(bytes), (encoded) =>
    concat(Uint8Array.from([...magic, headerVersion, name.byteLength]), name, encoded)
  )
}

/**
 * Reads the header of `bytes` and decodes them with `codec`. Fails with `CodecMismatch` when they were written
 * with other codecs than `codec` (or with none while `codec` is given, or the other way round).
 */
export const open = (
  codec: PayloadCodec | undefined,
  bytes: Uint8Array,
  key: string
): Effect.Effect<Uint8Array, CodecMismatch | DecryptionFailed | SnapshotCorrupted> => {
  const expected = nameOf(codec?.names ?? [])
  const hasHeader = bytes.byteLength >= 5 && magic.every((byte, index) => bytes[index] === byte)
  if (!hasHeader) {
    return expected === "none"
      ? Effect.succeed(bytes)
      : Effect.fail(new CodecMismatch({ key, expected, found: "none" }))
  }
  if (bytes[3] !== headerVersion) {
    return Effect.fail(new SnapshotCorrupted({ key, reason: `unknown payload header version ${bytes[3]}` }))
  }
  const nameEnd = 5 + (bytes[4] as number)
  const found = ascii.decode(bytes.subarray(5, nameEnd))
  if (codec === undefined || found !== expected) return Effect.fail(new CodecMismatch({ key, expected, found }))
  return codec.decode(bytes.slice(nameEnd), key)
}
