/** The command line on effect/cli: what each command line asks for, and how a wrong one ends. */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { Command } from "effect/cli"
import { TestClock, TestConsole } from "effect/testing"
import { type CommandRequest, commandLine, commandLineLayer, exitCode, parseSince, renderHelpTexts } from "../../src/cli/commandLine.ts"
import { HELP_TEXTS } from "../../src/cli/helpTexts.ts"
import { SortIncomplete } from "../../src/domain/Errors.ts"
import { SETTING_NAMES } from "../../src/services/Settings.ts"

const now = Date.parse("2026-11-24T12:00:00Z")

/** Parses `line` as main.ts would: the requests the handlers got, the exit code, what went to stderr. */
const parse = (line: string) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(now)
    const requests: Array<CommandRequest> = []
    const tree = commandLine((request) => Effect.sync(() => requests.push(request)))
    const exit = yield* Effect.exit(Command.runWith(tree, { version: "9.9.9" })(line === "" ? [] : line.split(" ")))
    const errors = (yield* TestConsole.errorLines).join("\n")
    const output = (yield* TestConsole.logLines).join("\n")
    return { requests, code: exitCode(exit), errors, output }
  }).pipe(Effect.provide(Layer.mergeAll(commandLineLayer, Layer.fresh(TestConsole.layer), NodeServices.layer)))

const request = (line: string) =>
  Effect.map(parse(line), (run) => {
    assert.strictEqual(run.code, 0, run.errors)
    assert.strictEqual(run.requests.length, 1)
    return run.requests[0]
  })

/** A wrong command line: exit 2, no handler ran, and the error names the trouble. */
const refused = (line: string, message: string) =>
  Effect.map(parse(line), (run) => {
    assert.strictEqual(run.code, 2, `${line}: ${run.errors}`)
    assert.deepStrictEqual(run.requests, [])
    assert.include(run.errors, message)
    assert.include(run.errors, "--help")
  })

describe("the command line", () => {
  it.effect("sorts by default, with --once and --dry-run", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* request(""), { command: "sort", once: false, dryRun: false })
      assert.deepStrictEqual(yield* request("--once --dry-run"), { command: "sort", once: true, dryRun: true })
      assert.deepStrictEqual(yield* request("--dry-run"), { command: "sort", once: false, dryRun: true })
      yield* refused("--fast", "--fast")
      yield* refused("sort", `Unknown subcommand "sort"`)
      yield* refused("--once history", "--once")
    }))

  it.effect("history takes --limit N (1 or more, default 50)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* request("history"), { command: "history", limit: 50, account: undefined })
      assert.deepStrictEqual(yield* request("history --limit 5"), { command: "history", limit: 5, account: undefined })
      yield* refused("history --limit many", `"many"`)
      yield* refused("history --limit 0", "a whole number of entries, 1 or more")
      yield* refused("history --limit", "--limit")
      yield* refused("history --once", "--once")
      yield* refused("history --json", "--json")
    }))

  it.effect("undo takes exactly one of --last-run and --since, and --dry-run", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* request("undo --last-run"), { command: "undo", dryRun: false, learn: true, scope: { lastRun: true }, account: undefined })
      assert.deepStrictEqual(yield* request("undo --since 2h --dry-run"), {
        command: "undo",
        dryRun: true,
        learn: true,
        scope: { since: now - 2 * 3_600_000 },
        account: undefined
      })
      assert.deepStrictEqual(yield* request("undo --since 30m"), { command: "undo", dryRun: false, learn: true, scope: { since: now - 1_800_000 }, account: undefined })
      assert.deepStrictEqual(yield* request("undo --since 1d"), { command: "undo", dryRun: false, learn: true, scope: { since: now - 86_400_000 }, account: undefined })
      assert.deepStrictEqual(yield* request("undo --since 2026-11-24T09:00:00Z"), {
        command: "undo",
        dryRun: false,
        learn: true,
        scope: { since: Date.parse("2026-11-24T09:00:00Z") },
        account: undefined
      })
      // A time without a zone is UTC, as history prints it, wherever the machine is.
      const since = (text: string) => Effect.map(request(`undo --since ${text}`), (r) => r !== undefined && "scope" in r ? r.scope : undefined)
      assert.deepStrictEqual(yield* since("2026-11-24T09:00"), { since: Date.parse("2026-11-24T09:00:00Z") })
      assert.strictEqual(parseSince("2026-11-24 09:00:07", now), Date.parse("2026-11-24T09:00:07Z"))
      assert.deepStrictEqual(yield* since("2026-11-24T10:00+01:00"), { since: Date.parse("2026-11-24T09:00:00Z") })
      assert.deepInclude(yield* request("undo --last-run --no-learn"), { command: "undo", learn: false })
      yield* refused("undo", "exactly one of --last-run and --since")
      yield* refused("undo --last-run --since 1h", "exactly one of --last-run and --since")
      yield* refused("undo --since yesterday-ish", "a past time such as 2026-11-24T09:00, 2h, 30m or 1d")
      // Date.parse reads these as 2001-02-01 and 2001-12-01 (an undo of everything), and rolls
      // February 30th over into March: refused, as is a time still to come.
      for (const text of ["2", "Dec 1", "2026-02-30", "2026-11-24T24:00", new Date(now + 86_400_000).toISOString()]) {
        assert.isUndefined(parseSince(text, now), text)
      }
      assert.strictEqual(parseSince("2026-11-24", now), Date.parse("2026-11-24T00:00:00Z"))
      assert.strictEqual(parseSince("2026-11-24T09:00 UTC", now), Date.parse("2026-11-24T09:00:00Z"))
    }))

  it.effect("evaluate takes --html FILE, and nothing that would change anything", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* request("evaluate"), { command: "evaluate", html: undefined, account: undefined })
      assert.deepStrictEqual(yield* request("evaluate --html report.html"), { command: "evaluate", html: "report.html", account: undefined })
      yield* refused("evaluate --html", "Missing value for flag --html")
      yield* refused("evaluate --html --once", "Missing value for flag --html")
      yield* refused("evaluate --dry-run", "--dry-run")
      yield* refused("--html x.html", "--html")
    }))

  it.effect("status takes --json; demo takes --dry-run; neither takes another command's flags", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* request("status"), { command: "status", json: false, account: undefined })
      assert.deepStrictEqual(yield* request("status --json"), { command: "status", json: true, account: undefined })
      assert.deepStrictEqual(yield* request("demo --dry-run"), { command: "demo", dryRun: true })
      yield* refused("status --dry-run", "--dry-run")
      yield* refused("status --limit 5", "--limit")
      yield* refused("status json", "json")
      yield* refused("--json", "--json")
      yield* refused("demo --once", "--once")
    }))

  it.effect("history, undo, evaluate and status take --account NAME; sorting and demo do not", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* request("history --account alice"), { command: "history", limit: 50, account: "alice" })
      assert.deepStrictEqual(yield* request("undo --last-run --account bob"), {
        command: "undo",
        dryRun: false,
        learn: true,
        scope: { lastRun: true },
        account: "bob"
      })
      assert.deepStrictEqual(yield* request("evaluate --account bob"), { command: "evaluate", html: undefined, account: "bob" })
      assert.deepStrictEqual(yield* request("status --json --account carol"), { command: "status", json: true, account: "carol" })
      yield* refused("status --account", "--account")
      yield* refused("--once --account alice", "--account")
      yield* refused("demo --account alice", "--account")
    }))

  it.effect("--help anywhere shows that command's help and runs nothing; --version the version", () =>
    Effect.gen(function*() {
      const help = yield* parse("undo --last-run --help")
      assert.deepStrictEqual([help.code, help.requests], [0, []])
      assert.include(help.output, "--since TIME")
      assert.notInclude(help.output, "PROTON_LUMO_FOLDERS")
      const version = yield* parse("history -V")
      assert.deepStrictEqual([version.code, version.requests], [0, []]); assert.strictEqual(version.output, "ProtonLumoAI 9.9.9")
    }))

  it.effect("--completions prints a shell's completion script naming every command and flag", () =>
    Effect.gen(function*() {
      const bash = yield* parse("--completions bash")
      assert.deepStrictEqual([bash.code, bash.requests], [0, []])
      for (const word of ["proton-lumo-ai", "history", "undo", "evaluate", "status", "demo", "--last-run", "--since"]) {
        assert.include(bash.output, word)
      }
      yield* refused("--completions tcsh", "tcsh")
    }))

  it("exit codes: 0 done or interrupted, 2 a wrong command line, 3 messages left unsorted, 1 anything else", () => {
    assert.strictEqual(exitCode(Exit.void), 0)
    assert.strictEqual(exitCode(Exit.interrupt(1)), 0)
    assert.strictEqual(exitCode(Exit.fail(new SortIncomplete({ failed: 2, failedForGood: 0, waiting: 0, stoppedFolders: [] }))), 3)
    assert.strictEqual(exitCode(Exit.fail(new Error("login refused"))), 1)
    assert.strictEqual(exitCode(Exit.die("a bug")), 1)
  })

  it("--once's last word promises a retry only for what is tried again", () => {
    const said = (failed: number, failedForGood: number, waiting = 0) =>
      new SortIncomplete({ failed, failedForGood, waiting, stoppedFolders: [] }).message
    assert.strictEqual(said(2, 0), "2 messages could not be sorted (see above): they stay where they are and are tried again by a later run")
    assert.strictEqual(said(1, 1), "1 message could not be sorted and never will be (they cannot be read as mail) (see above): they stay where they are")
    assert.strictEqual(
      said(3, 1),
      "3 messages could not be sorted, 1 of them never will be (they cannot be read as mail) (see above): they stay where they " +
        "are; the others are tried again by a later run"
    )
  })

  it.effect("the help main.ts prints before loading anything is the help effect/cli renders (npm run help:texts)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* renderHelpTexts, HELP_TEXTS)
      const root = HELP_TEXTS[""] ?? ""
      for (const word of ["--once", "--dry-run", "history", "undo", "evaluate", "status", "demo", ...SETTING_NAMES]) {
        assert.include(root, word)
      }
    }).pipe(Effect.provide(NodeServices.layer)))
})
