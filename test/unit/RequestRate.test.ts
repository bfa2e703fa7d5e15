/** The requests-per-minute limiter, on the TestClock. */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import { nextStart, perMinute, type RequestRate } from "../../src/services/RequestRate.ts"

/** Starts `n` requests now, each in its own fiber; their start times land in `starts` (virtual millis). */
const startRequests = (rate: RequestRate, n: number, starts: Array<number>) =>
  Effect.forEach(
    Array.from({ length: n }),
    () => Effect.forkChild(Effect.andThen(rate.take, Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => starts.push(at))))),
    { discard: true }
  ).pipe(Effect.andThen(Effect.yieldNow))

describe("the request rate (sliding window)", () => {
  it.effect("RPM=3: three start at once, the fourth when the first is a minute old", () =>
    Effect.gen(function*() {
      const rate = yield* perMinute(Option.some(3))
      const starts: Array<number> = []
      yield* startRequests(rate, 4, starts)
      assert.deepStrictEqual(starts, [0, 0, 0])
      yield* TestClock.adjust(Duration.millis(59_999))
      assert.deepStrictEqual(starts, [0, 0, 0])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(starts, [0, 0, 0, 60_000])
    }))

  it.effect("the window slides: a request waits only for the oldest start of the last minute", () =>
    Effect.gen(function*() {
      const rate = yield* perMinute(Option.some(3))
      const starts: Array<number> = []
      for (const gap of [0, 10_000, 10_000]) {
        yield* TestClock.adjust(Duration.millis(gap))
        yield* startRequests(rate, 1, starts)
      }
      // At 25 s three have started within the minute (0, 10, 20 s): the next two wait for 60 s and 70 s.
      yield* TestClock.adjust(Duration.millis(5_000))
      yield* startRequests(rate, 2, starts)
      assert.deepStrictEqual(starts, [0, 10_000, 20_000])
      yield* TestClock.adjust(Duration.millis(35_000))
      assert.deepStrictEqual(starts, [0, 10_000, 20_000, 60_000])
      yield* TestClock.adjust(Duration.millis(10_000))
      assert.deepStrictEqual(starts, [0, 10_000, 20_000, 60_000, 70_000])
    }))

  it.effect("no limit (MAX_RPM=0, or a local endpoint): nothing ever waits", () =>
    Effect.gen(function*() {
      const rate = yield* perMinute(Option.none())
      const starts: Array<number> = []
      yield* startRequests(rate, 1000, starts)
      assert.strictEqual(starts.length, 1000)
      assert.isTrue(starts.every((at) => at === 0))
    }))

  it("keeps only the last `limit` starts, oldest first", () => {
    const [start, log] = nextStart([1, 2, 3], 100, 3, 60_000)
    assert.deepStrictEqual([start, log], [60_001, [2, 3, 60_001]])
    assert.deepStrictEqual(nextStart([5], 7, 1, 10), [15, [15]])
    assert.deepStrictEqual(nextStart([], 7, 1, 10), [7, [7]])
  })
})
