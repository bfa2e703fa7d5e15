import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { jsonLogger, type LogOutput, textLogger } from "../../src/cli/logging.ts"

/** A logger's lines, by the stream they went to. */
const capture = () => {
  const lines = { out: "", err: "" }
  const output: LogOutput = {
    out: (line) => void (lines.out += line),
    err: (line) => void (lines.err += line)
  }
  return { lines, output }
}

const linesOf = (text: string): ReadonlyArray<string> => text.split("\n").filter((line) => line !== "")

const parse = (line: string): Record<string, unknown> => {
  const value: unknown = JSON.parse(line)
  assert.isTrue(typeof value === "object" && value !== null && !Array.isArray(value), line)
  return Object.fromEntries(Object.entries(value ?? {}))
}

/** A subject a hostile sender chose: a forged log line, a terminal escape, quotes and a fake field. */
const hostile = "Invoice\n2026-12-01T00:00:00.000Z ERROR forged\u001b]52;c;cm0gLXJm\u0007 \"quoted\" \",\"level\":\"ERROR"

describe("log formats", () => {
  it.effect("json: one object per entry with time, level, message, and the folder, uid, category and span when known", () =>
    Effect.gen(function*() {
      const { lines, output } = capture()
      yield* Effect.gen(function*() {
        yield* Effect.logInfo("starting")
        yield* Effect.logInfo("moved INBOX#7").pipe(Effect.annotateLogs({ folder: "INBOX", uid: 7, category: "BANQUE" }))
        yield* Effect.logWarning("not sorted INBOX#8").pipe(Effect.annotateLogs({ folder: "INBOX", uid: 8 }))
        yield* Effect.logInfo("inside a log span").pipe(Effect.withLogSpan("learn"))
      }).pipe(Effect.withSpan("sortFolder"), Effect.provide(Logger.layer([jsonLogger(output)])))
      const out = linesOf(lines.out).map(parse)
      const err = linesOf(lines.err).map(parse)
      assert.strictEqual(out.length, 3)
      assert.strictEqual(err.length, 1)
      const [starting, moved, spanned] = out
      assert.match(String(starting?.["time"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      assert.deepInclude(starting, { level: "INFO", message: "starting", span: "sortFolder" })
      assert.notProperty(starting, "folder")
      assert.notProperty(starting, "uid")
      assert.deepInclude(moved, { message: "moved INBOX#7", folder: "INBOX", uid: 7, category: "BANQUE" })
      assert.deepInclude(err[0], { level: "WARN", message: "not sorted INBOX#8", folder: "INBOX", uid: 8 })
      assert.notProperty(err[0], "category")
      assert.deepInclude(spanned, { message: "inside a log span", span: "learn" })
    }))

  it.effect("json: a subject with a newline, an escape sequence and quotes stays one line, its text as the text line's", () =>
    Effect.gen(function*() {
      const json = capture()
      const text = capture()
      const log = Effect.logInfo(`left INBOX#1 in place  ${hostile}`).pipe(
        Effect.annotateLogs({ folder: "INBOX\u001b[2J", uid: 1 })
      )
      yield* log.pipe(Effect.provide(Logger.layer([jsonLogger(json.output)])))
      yield* log.pipe(Effect.provide(Logger.layer([textLogger(text.output)])))
      assert.strictEqual(linesOf(json.lines.out).length, 1)
      assert.notInclude(json.lines.out, "\u001b")
      const entry = parse(json.lines.out)
      assert.deepStrictEqual(Object.keys(entry), ["time", "level", "message", "folder", "uid"])
      assert.strictEqual(entry["level"], "INFO")
      // The message round-trips: quotes and the newline as they were, the ESC and BEL made visible,
      // exactly as the text format shows them.
      assert.strictEqual(
        entry["message"],
        "left INBOX#1 in place  Invoice\n2026-12-01T00:00:00.000Z ERROR forged\\x1b]52;c;cm0gLXJm\\x07 \"quoted\" \",\"level\":\"ERROR"
      )
      assert.strictEqual(text.lines.out.slice("2026-12-01T19:45:00.000Z INFO  ".length), `${String(entry["message"])}\n`)
      assert.strictEqual(entry["folder"], "INBOX\\x1b[2J")
    }))

  it.effect("text: time, level and message on one line, warnings and errors to the other stream, no annotations", () =>
    Effect.gen(function*() {
      const { lines, output } = capture()
      yield* Effect.gen(function*() {
        yield* Effect.logInfo("moved INBOX#7").pipe(Effect.annotateLogs({ folder: "INBOX", uid: 7, category: "BANQUE" }))
        yield* Effect.logError("cannot sort folder \"Archive\"")
      }).pipe(Effect.provide(Logger.layer([textLogger(output)])))
      assert.match(lines.out, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}moved INBOX#7\n$/)
      assert.match(lines.err, /^\S+ ERROR cannot sort folder "Archive"\n$/)
    }))
})
