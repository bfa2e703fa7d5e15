import { assert, describe, it } from "@effect/vitest"
import { parseCommandLine, parseSince } from "../../src/cli/args.ts"
import { UsageError } from "../../src/domain/Errors.ts"

const now = Date.parse("2026-11-24T12:00:00Z")
const parse = (line: string) => parseCommandLine(line === "" ? [] : line.split(" "), now)
const reason = (line: string) => {
  const parsed = parse(line)
  return parsed instanceof UsageError ? parsed.reason : "parsed"
}

describe("the command line", () => {
  it("sorts by default, with --once and --dry-run", () => {
    assert.deepStrictEqual(parse(""), { command: "sort", once: false, dryRun: false })
    assert.deepStrictEqual(parse("--once --dry-run"), { command: "sort", once: true, dryRun: true })
    assert.deepStrictEqual(parse("demo --dry-run"), { command: "demo", dryRun: true })
    assert.deepStrictEqual(parse("undo --last-run --help"), { command: "help" })
  })

  it("history takes --limit; undo takes exactly one of --last-run and --since", () => {
    assert.deepStrictEqual(parse("history"), { command: "history", limit: 50 })
    assert.deepStrictEqual(parse("history --limit 5"), { command: "history", limit: 5 })
    assert.deepStrictEqual(parse("undo --last-run"), { command: "undo", dryRun: false, scope: { lastRun: true } })
    assert.deepStrictEqual(parse("undo --since 2h --dry-run"), {
      command: "undo",
      dryRun: true,
      scope: { since: now - 2 * 3_600_000 }
    })
    assert.include(reason("undo"), "exactly one of --last-run and --since")
    assert.include(reason("undo --last-run --since 1h"), "exactly one of --last-run and --since")
    assert.include(reason("undo --since yesterday-ish"), "--since needs a time")
    assert.include(reason("history --limit many"), "--limit needs a whole number")
    assert.include(reason("history --once"), `unknown argument "--once"`)
    assert.include(reason("sort"), `unknown argument "sort"`)
  })

  it("evaluate takes --html FILE, and nothing that would change anything", () => {
    assert.deepStrictEqual(parse("evaluate"), { command: "evaluate", html: undefined })
    assert.deepStrictEqual(parse("evaluate --html report.html"), { command: "evaluate", html: "report.html" })
    assert.include(reason("evaluate --html"), "--html needs the file to write")
    assert.include(reason("evaluate --html --once"), "--html needs the file to write")
    assert.include(reason("evaluate --dry-run"), `unknown argument "--dry-run"`)
    assert.include(reason("--html x.html"), `unknown argument "--html"`)
  })

  it("status takes --json, and no flag of another command", () => {
    assert.deepStrictEqual(parse("status"), { command: "status", json: false })
    assert.deepStrictEqual(parse("status --json"), { command: "status", json: true })
    assert.deepStrictEqual(parse("status --json --help"), { command: "help" })
    assert.include(reason("status --dry-run"), `unknown argument "--dry-run"`)
    assert.include(reason("status --once"), `unknown argument "--once"`)
    assert.include(reason("status --limit 5"), `unknown argument "--limit"`)
    assert.include(reason("status json"), `unknown argument "json"`)
    assert.include(reason("history --json"), `unknown argument "--json"`)
    assert.include(reason("--json"), `unknown argument "--json"`)
  })

  it("--since reads minutes, hours and days ago, or a date and time", () => {
    assert.strictEqual(parseSince("30m", now), now - 30 * 60_000)
    assert.strictEqual(parseSince("1d", now), now - 86_400_000)
    assert.strictEqual(parseSince("2026-11-24T09:00:00Z", now), Date.parse("2026-11-24T09:00:00Z"))
    assert.isUndefined(parseSince("soon", now))
  })
})
