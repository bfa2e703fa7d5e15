/** Progress on long work: its text, the log lines' pace on the TestClock, and the bar around log lines. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Logger } from "effect"
import { TestClock } from "effect/testing"
import { type LogOutput, textLogger } from "../../src/cli/logging.ts"
import { barLine, CLEAR_LINE, type Screen, terminalWithProgress } from "../../src/cli/progressBar.ts"
import { formatDuration, progressText, ratePerSecond } from "../../src/domain/Progress.ts"
import { Progress, progressLogLines, trackProgress } from "../../src/services/Progress.ts"

/** Everything written, in order, by stream: a fake terminal. */
const fakeScreen = (columns?: number) => {
  const writes: Array<{ readonly stream: "out" | "err"; readonly text: string }> = []
  const screen: Screen = {
    out: (text) => void writes.push({ stream: "out", text }),
    err: (text) => void writes.push({ stream: "err", text }),
    columns: () => columns
  }
  return { writes, screen }
}

/** The messages logged (text lines, without time and level). */
const captureLines = () => {
  const lines: Array<string> = []
  const output: LogOutput = {
    out: (line) => void lines.push(line.replace(/^\S+ \S+\s+/, "").trimEnd()),
    err: (line) => void lines.push(line.replace(/^\S+ \S+\s+/, "").trimEnd())
  }
  return { lines, layer: Logger.layer([textLogger(output)]) }
}

describe("progress text", () => {
  it("says how many of how many, the rate so far and the time left", () => {
    assert.strictEqual(
      progressText({ label: "INBOX", verb: "sorted", done: 1200, total: 2000, perSecond: 240 }),
      "INBOX: 1,200 of 2,000 sorted, 240/s, about 4 s left"
    )
    assert.strictEqual(
      progressText({ label: "learning from Archive", verb: "read", done: 3, total: 8000, perSecond: 1.5 }),
      "learning from Archive: 3 of 8,000 read, 1.5/s, about 1 h 29 min left"
    )
  })

  it("has no rate until known, and counts more done than expected as the total", () => {
    assert.strictEqual(progressText({ label: "INBOX", verb: "sorted", done: 0, total: 600, perSecond: undefined }), "INBOX: 0 of 600 sorted")
    assert.strictEqual(
      progressText({ label: "INBOX", verb: "sorted", done: 700, total: 600, perSecond: 700 }),
      "INBOX: 700 of 700 sorted, 700/s, about 0 s left"
    )
  })

  it("measures the rate from the first messages done, not from the start of the work", () => {
    assert.isUndefined(ratePerSecond(undefined, 5000, 100))
    assert.isUndefined(ratePerSecond({ at: 5000, done: 100 }, 5000, 100))
    assert.strictEqual(ratePerSecond({ at: 1000, done: 10 }, 3000, 510), 250)
  })

  it("rounds the time left up, in seconds, minutes, then hours", () => {
    assert.deepStrictEqual([0.2, 59, 61, 3599, 3900].map(formatDuration), [
      "about 1 s",
      "about 59 s",
      "about 2 min",
      "about 1 h",
      "about 1 h 5 min"
    ])
  })
})

describe("progress log lines", () => {
  it.effect("a line at most every interval, with the rate and time left on the TestClock; none at the end", () =>
    Effect.gen(function*() {
      const { lines, layer } = captureLines()
      yield* Effect.gen(function*() {
        const tracker = yield* trackProgress("INBOX", 2000, "sorted")
        // 100 messages a second for 12 s, ticked every 100 ms: lines at 5 s and 10 s only.
        for (let tick = 0; tick < 120; tick++) {
          yield* TestClock.adjust("100 millis")
          yield* tracker.advance(10)
        }
      }).pipe(Effect.scoped, Effect.provideService(Progress, progressLogLines(Duration.seconds(5))), Effect.provide(layer))
      assert.deepStrictEqual(lines, [
        "INBOX: 500 of 2,000 sorted, 100/s, about 15 s left",
        "INBOX: 1,000 of 2,000 sorted, 100/s, about 10 s left"
      ])
    }))

  it.effect("the default is every 5 s; work of 500 messages or fewer shows none", () =>
    Effect.gen(function*() {
      const { lines, layer } = captureLines()
      yield* Effect.gen(function*() {
        const small = yield* trackProgress("Small", 500, "sorted")
        const big = yield* trackProgress("Big", 501, "read")
        yield* TestClock.adjust("1 second")
        yield* Effect.all([small.advance(100), big.advance(100)])
        yield* TestClock.adjust("3999 millis")
        yield* Effect.all([small.advance(100), big.advance(100)])
        yield* TestClock.adjust("1 millis")
        yield* big.advance(100)
        yield* TestClock.adjust("10 seconds")
        yield* small.advance(300)
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(lines, ["Big: 300 of 501 read, 50/s, about 5 s left"])
    }))
})

describe("progress bar in a terminal", () => {
  it.effect("a log line clears the bar first and redraws it under the line; the end of the work clears it", () =>
    Effect.gen(function*() {
      const { writes, screen } = fakeScreen(200)
      const terminal = terminalWithProgress(screen)
      const logged = Logger.layer([textLogger(terminal.output)])
      yield* Effect.gen(function*() {
        yield* Effect.logInfo("before")
        const tracker = yield* terminal.progress.start("INBOX", 1000, "sorted")
        yield* TestClock.adjust("1 second")
        yield* tracker.advance(250)
        yield* Effect.logInfo("moved INBOX#1")
        yield* Effect.logWarning("not sorted INBOX#2")
        // Within 100 ms of the last drawing: not redrawn.
        yield* TestClock.adjust("50 millis")
        yield* tracker.advance(1)
        yield* TestClock.adjust("1 second")
        yield* tracker.advance(249)
      }).pipe(Effect.scoped, Effect.provide(logged))
      yield* Effect.logInfo("after").pipe(Effect.provide(logged))

      const bar1 = "[█████░░░░░░░░░░░░░░░] INBOX: 250 of 1,000 sorted"
      const bar2 = "[██████████░░░░░░░░░░] INBOX: 500 of 1,000 sorted, 238/s, about 3 s left"
      const texts = writes.map(({ stream, text }) => `${stream}:${text.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z (\S+)\s+/, "$1 ")}`)
      assert.deepStrictEqual(texts, [
        "out:INFO before\n",
        `out:${CLEAR_LINE}${bar1}`,
        `out:${CLEAR_LINE}INFO moved INBOX#1\n${bar1}`,
        `out:${CLEAR_LINE}`,
        "err:WARN not sorted INBOX#2\n",
        `out:${bar1}`,
        `out:${CLEAR_LINE}${bar2}`,
        `out:${CLEAR_LINE}`,
        "out:INFO after\n"
      ])
    }))

  it.effect("the bar is redrawn at most every 100 ms, but always at the last count", () =>
    Effect.gen(function*() {
      const { writes, screen } = fakeScreen(200)
      const terminal = terminalWithProgress(screen)
      yield* Effect.gen(function*() {
        const tracker = yield* terminal.progress.start("INBOX", 600, "sorted")
        for (let tick = 0; tick < 6; tick++) {
          yield* TestClock.adjust("30 millis")
          yield* tracker.advance(100)
        }
      }).pipe(Effect.scoped)
      assert.deepStrictEqual(writes.map(({ text }) => /INBOX: ([\d,]+) of/.exec(text)?.[1] ?? "cleared"), [
        "100",
        "500",
        "600",
        "cleared"
      ])
    }))

  it("cuts the bar one column short of the terminal's width (when known: not 0), and escapes the folder's name", () => {
    const line = barLine({ label: "IN\u001b[2JBOX", verb: "sorted", done: 0, total: 1000, perSecond: undefined }, 30)
    assert.strictEqual(Array.from(line).length, 29)
    assert.notInclude(line, "\u001b")
    const full = `[${"█".repeat(20)}] INBOX: 1,000 of 1,000 sorted`
    assert.strictEqual(barLine({ label: "INBOX", verb: "sorted", done: 1000, total: 1000, perSecond: undefined }, undefined), full)
    assert.strictEqual(barLine({ label: "INBOX", verb: "sorted", done: 1000, total: 1000, perSecond: undefined }, 0), full)
  })
})
