/**
 * Task ids: UUIDs of version 7 (RFC 9562), whose text sorts in the order this process made them. Stores order tasks
 * by (created_at, id), so tasks created in the same millisecond, children queued behind their siblings among them,
 * keep their order of creation.
 */

let lastMillis = 0
let counter = 0

const hex = (value: number, digits: number) => value.toString(16).padStart(digits, "0")

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
  const random = crypto.getRandomValues(new Uint8Array(8))
  const tail = Array.from(random, (byte) => hex(byte, 2)).join("")
  const variant = hex(0x8 | ((random[0] ?? 0) & 0x3), 1)
  const time = hex(millis, 12)
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hex(counter, 3)}-${variant}${tail.slice(1, 4)}-${tail.slice(4, 16)}`
}
