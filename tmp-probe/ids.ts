import { orderedId } from "../src/runtime/internal/ids.ts"
for (let r = 0; r < 3; r++) {
  const s = performance.now()
  for (let i = 0; i < 100000; i++) orderedId()
  console.log(((performance.now() - s) / 100000 * 1000).toFixed(2), "µs per id")
}
