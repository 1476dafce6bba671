/**
 * A `runMain` program that prints `argv[2]` characters on stdout, then says so on stderr, and ends (for
 * `runMain.test.ts`).
 */
import process from "node:process"
import { Console, Effect } from "effect"
import { runMain } from "../../src/cli/internal/runMain.ts"

runMain(Effect.andThen(Console.log("x".repeat(Number(process.argv[2]))), Console.error("printed")))
