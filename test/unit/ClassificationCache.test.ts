/** The verdict cache's size cap, on the TestClock (which orders the verdicts by age). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import type { Verdict } from "../../src/domain/Email.ts"
import { ClassificationCache } from "../../src/services/ClassificationCache.ts"
import { Database } from "../../src/services/Database.ts"

const verdict: Verdict = { _tag: "Matched", categoryId: "PRO", confidence: 0.9, reason: "test", stage: "llm", classifier: "llm:test" }

/** Writes keys `k<from>`…`k<to - 1>`, one write a millisecond apart. */
const putKeys = (from: number, to: number) =>
  Effect.forEach(Array.from({ length: to - from }, (_, i) => `k${from + i}`), (key) =>
    Effect.andThen(ClassificationCache.use((cache) => cache.put([[key, verdict]])), TestClock.adjust("1 millis")), { discard: true })

const rowCount = Database.use((database) => database.use((db) => Number(db.prepare("SELECT COUNT(*) FROM verdicts").pluck().get())))

const present = (keys: ReadonlyArray<string>) =>
  Effect.forEach(keys, (key) => Effect.map(ClassificationCache.use((cache) => cache.get(key)), Option.isSome))

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `k${from + i}`)

describe("the verdict cache's cap", () => {
  it.effect("grows 10% over the cap before the oldest are deleted, then back to the cap", () =>
    Effect.gen(function*() {
      yield* putKeys(0, 11)
      assert.strictEqual(yield* rowCount, 11)
      yield* putKeys(11, 12)
      assert.strictEqual(yield* rowCount, 10)
      assert.deepStrictEqual(yield* present(["k0", "k1"]), [false, false])
      assert.isTrue((yield* present(range(2, 12))).every(Boolean))
    }).pipe(Effect.provide(ClassificationCache.layer(10).pipe(Layer.provideMerge(Database.layerMemory)))))

  it.effect("counts the rows already in the table when it starts", () =>
    Effect.gen(function*() {
      yield* putKeys(0, 11).pipe(Effect.provide(ClassificationCache.layer(10)))
      // A new process (a new layer) over the same table: one more write passes the margin.
      yield* putKeys(11, 12).pipe(Effect.provide(ClassificationCache.layer(10)))
      assert.strictEqual(yield* rowCount, 10)
    }).pipe(Effect.provide(Database.layerMemory)))
})
