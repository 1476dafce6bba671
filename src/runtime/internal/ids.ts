/**
 * Task ids: UUIDs of version 7 (RFC 9562), whose text sorts in the order this process made them. Stores order tasks
 * by (created_at, id), so tasks created in the same millisecond, children queued behind their siblings among them,
 * keep their order of creation.
 */

let lastMillis = 0
let counter = 0

const hex = (value: number, digits: number) => value.toString(16).padStart(digits, "0")
const byteHex = Array.from({ length: 256 }, (_, byte) => hex(byte, 2))

// Random bytes drawn 4 KiB at a time: a call of `getRandomValues` costs about 10 µs here, whatever its size, and one
// per id was 5 % of a trivial task's cost.
const pool = new Uint8Array(4096)
let poolAt = pool.length

const randomTail = (): Uint8Array => {
  if (poolAt + 8 > pool.length) {
    crypto.getRandomValues(pool)
    poolAt = 0
  }
  poolAt += 8
  return pool.subarray(poolAt - 8, poolAt)
}

/** A fresh UUIDv7: 48 bits of milliseconds, then a 12-bit counter within the millisecond, then 62 random bits. */
export const orderedId = (): string => {
  let millis = Date.now()
  if (millis <= lastMillis) {
    millis = lastMillis
    counter++
    // 4 096 ids in one millisecond: borrow the next one, so the order holds
    if (counter > 0xfff) {
      millis++
      counter = 0
    }
  } else {
    counter = 0
  }
  lastMillis = millis
  const random = randomTail()
  let tail = ""
  for (const byte of random) tail += byteHex[byte]
  const variant = hex(0x8 | ((random[0] ?? 0) & 0x3), 1)
  const time = hex(millis, 12)
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hex(counter, 3)}-${variant}${tail.slice(1, 4)}-${tail.slice(4, 16)}`
}
