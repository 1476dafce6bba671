/**
 * The TaskStore contract, run against any store: `taskStoreSuite("memory", MemoryTaskStore.layer)`.
 * Each test gets a fresh layer, so stores must start empty. The tests live by concern in `taskStore/`.
 */
import { describe, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import type { TaskStore } from "../stores/TaskStore.ts"
import { childrenTests } from "./taskStore/children.ts"
import { claimTests } from "./taskStore/claim.ts"
import { createTests } from "./taskStore/create.ts"
import { finishTests } from "./taskStore/finish.ts"
import { listTests } from "./taskStore/list.ts"
import { requestTests } from "./taskStore/requests.ts"

/** Registers one test of the suite, run on a fresh store. */
export type SuiteTest = (title: string, body: Effect.Effect<void, unknown, TaskStore>) => void

export const taskStoreSuite = <E>(name: string, layer: Layer.Layer<TaskStore, E>) =>
  describe(`TaskStore conformance: ${name}`, () => {
    const test: SuiteTest = (title, body) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)
    createTests(test)
    claimTests(test)
    finishTests(test)
    requestTests(test)
    listTests(test)
    childrenTests(test)
  })
