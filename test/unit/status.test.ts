/** `status`: what it reads from a prepared database, read-only, and how it says it. */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { statusStorage } from "../../src/layers.ts"
import { formatStatus, readStatus, statusJson } from "../../src/pipeline/status.ts"
import { sortMailbox } from "../../src/pipeline/sortMailbox.ts"
import { runService } from "../../src/pipeline/service.ts"
import { Database } from "../../src/services/Database.ts"
import { Journal, type NewJournalEntry } from "../../src/services/Journal.ts"
import { STAY } from "../../src/classify/FolderModel.ts"
import { LearnedModel } from "../../src/services/LearnedModel.ts"
import { LlmBudget } from "../../src/services/LlmBudget.ts"
import type { Mailbox } from "../../src/services/Mailbox.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { PassLog, type PassRecord } from "../../src/services/PassLog.ts"
import { SortState } from "../../src/services/SortState.ts"
import { runCli } from "../support/cli.ts"
import { bankEmail, workEmail } from "../support/emails.ts"
import { type Faults, refusingConnections, withFaults } from "../support/FaultyMailbox.ts"
import { fileStorage, testLayer } from "../support/layers.ts"
import { counted } from "../support/metrics.ts"

const today = Date.parse("2026-12-01T10:00:00Z")
const yesterday = today - 86_400_000

const move = (uid: number, category: string, action: "move" | "label" = "move"): NewJournalEntry => ({
  runId: `run-${uid}`,
  messageId: `<m${uid}@example.com>`,
  fingerprint: `f${uid}`,
  source: "INBOX",
  sourceUid: uid,
  sourceUidValidity: 7n,
  target: `Folders/${category}`,
  action,
  category,
  confidence: 0.9,
  classifier: "keyword",
  reason: "keywords"
})

const pass = (folder: string, endedAt: number, error?: string): PassRecord => ({
  folder,
  endedAt,
  elapsedMillis: 1234,
  moved: error === undefined ? 3 : 0,
  left: error === undefined ? 2 : 0,
  failed: error === undefined ? 1 : 0,
  remaining: error === undefined ? 40 : 0,
  waiting: error === undefined ? 2 : 0,
  kept: error === undefined ? 1 : 0,
  error
})

const noLearning = { folders: [], unlearn: [], learn: [], add: [], depart: [], remove: [], release: [] }

/** A message's features as the model reads them: one word, `key`. */
const word = (key: number) => ({ keys: Uint32Array.of(key), counts: Uint8Array.of(1), weights: Uint8Array.of(1) })
const lesson = (key: number, label: string) => ({ example: { features: word(key), label }, repeats: 1 })

/** Journal entries settled as `state`, written at the clock's time. */
const journal = (entries: ReadonlyArray<NewJournalEntry>, state: "done" | "failed") =>
  Effect.gen(function*() {
    const ids = yield* (yield* Journal).begin(entries)
    yield* (yield* Journal).settle([{ ids, state }])
    return ids
  })

/** A data folder as a day of sorting leaves it: yesterday's and today's moves, passes, retries, LLM calls, a correction. */
const prepare = (dataDir: string) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(yesterday)
    const [old = 0] = yield* journal([move(1, "PRO")], "done")
    yield* (yield* PassLog).record([pass("Archive", yesterday, "it does not exist on the server")])
    yield* (yield* PassLog).recordLearning({ _tag: "Scanned", scan: { at: yesterday, learned: 3, stays: 1, corrections: 1 } })
    yield* TestClock.setTime(today)
    yield* journal([move(2, "BANQUE"), move(3, "PRO"), move(4, "PRO")], "done")
    yield* journal([move(5, "BANQUE")], "failed")
    yield* journal([move(6, "NEWSLETTER", "label")], "done")
    yield* (yield* PassLog).record([pass("INBOX", today - 60_000, "connection lost")])
    yield* (yield* PassLog).recordLearning({ _tag: "Failed", at: today - 30_000, message: "the database is full; sorted with what was learned before" })
    yield* (yield* PassLog).record([pass("INBOX", today), pass("Archive", today)])
    yield* (yield* SortState).retryLater({ path: "INBOX", uidValidity: 7n }, [8, 9])
    const budget = yield* LlmBudget
    for (const tokens of [300, 200]) {
      const reservation = yield* budget.reserve(400)
      if (Option.isSome(reservation)) yield* reservation.value.settle(tokens)
    }
    yield* budget.noteProblem("the provider is overloaded (HTTP 529) (after 2 retries)")
    yield* TestClock.adjust(1000)
    yield* budget.noteProblem("the provider refused the API key (HTTP 401)")
    yield* TestClock.setTime(today)
    const model = yield* LearnedModel
    yield* model.apply({
      ...noLearning,
      learn: [lesson(11, "PRO"), lesson(12, "BANQUE"), lesson(13, "PRO"), lesson(14, STAY)],
      corrections: [{ journalId: old, nowIn: "INBOX", kind: "moved back" }]
    })
    // A scan still reading: two messages held, not learned yet.
    yield* model.hold([21, 22].map((uid) => ({
      folder: "Folders/PRO",
      uidValidity: 3n,
      uid,
      fingerprint: `h${uid}`,
      label: "PRO",
      date: today,
      features: word(uid)
    })))
  }).pipe(
    Effect.provide(Layer.merge(LlmBudget.layer(Option.some(10_000)), PassLog.layer).pipe(
      Layer.provideMerge(fileStorage(dataDir))
    ))
  )

/** protonlumo_learning_failures_total as counted so far. */
const learningFailuresCounted = counted("protonlumo_learning_failures_total")

/** A pass at `at` over a new bank statement (`uid`) with these faults, and the status after it. */
const passAt = (options: {
  readonly database: Layer.Layer<Database>
  readonly mailbox: Layer.Layer<MemoryMailbox | Mailbox>
  readonly at: number
  readonly uid: number
  readonly faults: Faults
  readonly dryRun?: boolean
}) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(options.at)
    yield* (yield* MemoryMailbox).append("INBOX", bankEmail(options.uid), [])
    const report = yield* sortMailbox()
    const status = yield* readStatus({ dailyTokenBudget: undefined, costPer1kTokens: 0 })
    return { report, learned: status.learned, text: formatStatus(status) }
  }).pipe(
    Effect.provide(LlmBudget.layer(Option.none()).pipe(Layer.provideMerge(testLayer({
      database: options.database,
      memoryMailbox: options.mailbox,
      mailboxWrapper: withFaults(options.faults),
      settings: { dryRun: options.dryRun ?? false }
    }))))
  )

describe("status", () => {
  it.effect("reads the last passes, retries, today's moves per category, corrections, LLM use and the last error", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "plai-status-"))
      yield* prepare(dataDir)
      const status = yield* readStatus({ dailyTokenBudget: 10_000, costPer1kTokens: 0.5 }).pipe(
        Effect.provide(statusStorage(dataDir, Option.some(10_000)))
      )
      assert.strictEqual(status.at, "2026-12-01T10:00:00.000Z")
      assert.deepStrictEqual(status.folders.map((f) => [f.folder, f.endedAt, f.moved, f.left, f.failed, f.remaining, f.keptWithoutLlm, f.error]), [
        ["Archive", "2026-12-01T10:00:00.000Z", 3, 2, 1, 40, 1, null],
        ["INBOX", "2026-12-01T10:00:00.000Z", 3, 2, 1, 40, 1, null]
      ])
      assert.include(formatStatus(status), "  INBOX: 2026-12-01T10:00:00.000Z (1.2 s) moved 3, left 2 (1 without asking the LLM, sure to stay), failed 1; backlog 40, waiting 2\n")
      assert.deepStrictEqual(status.retrying, [{ folder: "INBOX", messages: 2, nextAt: "2026-12-01T10:01:00.000Z" }])
      // Today's done moves only: not yesterday's, not the failed one, not the label.
      assert.deepStrictEqual(status.movedToday, { since: "2026-12-01T00:00:00.000Z", total: 3, byCategory: { PRO: 2, BANQUE: 1 } })
      assert.strictEqual(status.correctionsLast7Days, 1)
      // Of the 30 days' moves (yesterday's and today's three done: not the failed one, nor the label), the one moved back.
      assert.deepStrictEqual(status.correctionRate, { days: 30, moves: 4, corrected: 1 })
      assert.include(formatStatus(status), "\nCorrections in the last 7 days: 1; 1 of 4 moves in the last 30 days corrected (25.0%)\n")
      assert.deepStrictEqual(status.learned, {
        byCategory: { PRO: 2, BANQUE: 1 },
        stays: 1,
        readNotYetLearned: 2,
        lastScan: { at: "2026-11-30T10:00:00.000Z", learned: 3, stays: 1, corrections: 1 },
        lastFailure: { at: "2026-12-01T09:59:30.000Z", message: "the database is full; sorted with what was learned before" }
      })
      assert.deepStrictEqual(status.llmToday, {
        day: "2026-12-01",
        calls: 2,
        tokens: 500,
        estimatedCost: 0.25,
        dailyTokenBudget: 10_000,
        problems: 2,
        lastProblem: { at: "2026-12-01T10:00:01.000Z", message: "the provider refused the API key (HTTP 401)" }
      })
      assert.include(
        formatStatus(status),
        "\n  2 problem(s), calls that failed or answers it could not use (keywords stood in); the last at 2026-12-01T10:00:01.000Z: the provider refused the API key (HTTP 401)\n"
      )
      // A later pass that succeeded keeps the folder's last error; the newest of all is shown.
      assert.deepStrictEqual(status.lastError, { at: "2026-12-01T09:59:00.000Z", folder: "INBOX", message: "connection lost" })
      assert.deepStrictEqual(JSON.parse(statusJson(status)), status)
      // The busiest category first.
      assert.include(formatStatus(status), "Moved today (since 2026-12-01T00:00:00.000Z): 3 (PRO 2, BANQUE 1)")
      assert.include(
        formatStatus(status),
        "Learned: 4 messages (PRO 2, BANQUE 1, 1 that stays)\n  a scan of the folders is in progress: 2 read so far, learned when it completes\n" +
          "  last scan of the folders: 2026-11-30T10:00:00.000Z, learned 3 filed, 1 that stays, 1 correction(s)\n" +
          "  learning FAILED at 2026-12-01T09:59:30.000Z: the database is full; sorted with what was learned before\nLLM today"
      )
    }))

  it.effect("beside a last pass that found nothing, shows the folder's last pass that handled mail, kept across empty and failed passes", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "plai-status-"))
      const idle = (endedAt: number): PassRecord => ({ ...pass("INBOX", endedAt), moved: 0, left: 0, failed: 0, remaining: 0, waiting: 0, kept: 0 })
      yield* Effect.gen(function*() {
        const passes = yield* PassLog
        yield* passes.record([pass("INBOX", today - 120_000), idle(today - 60_000)])
        yield* passes.record([pass("INBOX", today - 30_000, "connection lost")])
        yield* passes.record([idle(today)])
      }).pipe(Effect.provide(PassLog.layer.pipe(Layer.provideMerge(fileStorage(dataDir)))))
      const status = yield* readStatus({ dailyTokenBudget: 0, costPer1kTokens: 0 }).pipe(
        Effect.provide(statusStorage(dataDir, Option.none()))
      )
      assert.deepStrictEqual(status.folders.map((f) => [f.endedAt, f.moved, f.lastHandled]), [
        ["2026-12-01T10:00:00.000Z", 0, { at: "2026-12-01T09:58:00.000Z", moved: 3, left: 2, failed: 1 }]
      ])
      assert.include(
        formatStatus(status),
        "  INBOX: 2026-12-01T10:00:00.000Z (1.2 s) moved 0, left 0, failed 0; backlog 0, waiting 0; " +
          "the last to handle mail: 2026-12-01T09:58:00.000Z moved 3, left 2, failed 1\n"
      )
      assert.deepStrictEqual(JSON.parse(statusJson(status)), status)
      // A pass that handled mail is its own last: said once.
      yield* PassLog.pipe(
        Effect.flatMap((passes) => passes.record([{ ...idle(today + 1000), left: 4 }])),
        Effect.provide(PassLog.layer.pipe(Layer.provideMerge(fileStorage(dataDir))))
      )
      const busy = yield* readStatus({ dailyTokenBudget: 0, costPer1kTokens: 0 }).pipe(Effect.provide(statusStorage(dataDir, Option.none())))
      assert.include(formatStatus(busy), "  INBOX: 2026-12-01T10:00:01.000Z (1.2 s) moved 0, left 4, failed 0; backlog 0, waiting 0\n")
      assert.deepStrictEqual(busy.folders[0]?.lastHandled, { at: "2026-12-01T10:00:01.000Z", moved: 0, left: 4, failed: 0 })
    }))

  it.effect("tells apart what was learned for a category removed from categories.json", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "plai-status-"))
      yield* prepare(dataDir)
      // BANQUE was taken out of categories.json since the model learned it.
      const status = yield* readStatus({ dailyTokenBudget: 10_000, costPer1kTokens: 0.5, categoryIds: new Set(["PRO", "VOYAGE"]) }).pipe(
        Effect.provide(statusStorage(dataDir, Option.some(10_000)))
      )
      assert.deepInclude(status.learned, { byCategory: { PRO: 2 }, stays: 1, readNotYetLearned: 2, notInCategories: { BANQUE: 1 } })
      assert.include(
        formatStatus(status),
        "Learned: 3 messages (PRO 2, 1 that stays)\n  a scan of the folders is in progress: 2 read so far, learned when it completes\n" +
          "  kept for categories no longer in categories.json (used again if you add them back): BANQUE 1\n"
      )
      assert.deepStrictEqual(JSON.parse(statusJson(status)), status)
      // The command reads the ids from PROTON_LUMO_CONFIG's categories.json; one it can't read hides nothing.
      const configDir = mkdtempSync(join(tmpdir(), "plai-status-config-"))
      const category = { name: "Pro", folder: "Folders/Pro", keywords: [], confidence_threshold: 0.8, priority: 1, description: "" }
      writeFileSync(join(configDir, "categories.json"), JSON.stringify({ PRO: category, VOYAGE: { ...category, folder: "Folders/Voyage" } }))
      const run = yield* runCli(["status"], { PROTON_LUMO_DATA: dataDir, PROTON_LUMO_CONFIG: configDir })
      assert.strictEqual(run.code, 0, run.stderr)
      assert.include(run.stdout, "(used again if you add them back): BANQUE 1\n")
      writeFileSync(join(configDir, "categories.json"), "{ not json")
      const unreadable = yield* runCli(["status"], { PROTON_LUMO_DATA: dataDir, PROTON_LUMO_CONFIG: configDir })
      assert.strictEqual(unreadable.code, 0, unreadable.stderr)
      assert.include(unreadable.stdout, "Learned: 4 messages (PRO 2, BANQUE 1, 1 that stays)\n")
      assert.notInclude(unreadable.stdout, "no longer in categories.json")
    }))

  it.effect("opens the database read-only: nothing can be written through it", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "plai-status-"))
      yield* prepare(dataDir)
      const written = yield* Effect.flip(Effect.flatMap(Effect.service(PassLog), (log) => log.record([pass("INBOX", today)]))).pipe(
        Effect.provide(statusStorage(dataDir, Option.none()))
      )
      assert.include(written.message, "readonly")
    }))

  it.effect("a failed pass is shown as failed, and names from the server are escaped", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(today)
      yield* (yield* PassLog).record([pass("Evil\u001b]0;x\u0007", today, "refused\u001b[2J")])
      const text = formatStatus(yield* readStatus({ dailyTokenBudget: undefined, costPer1kTokens: 0 }))
      assert.include(text, "Evil\\x1b]0;x\\x07: 2026-12-01T10:00:00.000Z (1.2 s) FAILED: refused\\x1b[2J")
      assert.include(text, "Last error: 2026-12-01T10:00:00.000Z Evil\\x1b]0;x\\x07: refused\\x1b[2J")
      assert.include(text, "0 tokens (no daily budget)")
      assert.include(text, "Learned: nothing yet\nLLM today")
      assert.notInclude(text, "\u001b")
    }).pipe(
      Effect.provide(Layer.mergeAll(SortState.layer, Journal.layer, LearnedModel.layer, PassLog.layer, LlmBudget.layer(Option.none())).pipe(
        Layer.provideMerge(Database.layerMemory)
      ))
    ))

  it.effect("a pass records each folder's figures; a dry run records nothing", () =>
    Effect.gen(function*() {
      const sortAndRead = (dryRun: boolean) =>
        Effect.gen(function*() {
          const mailbox = yield* MemoryMailbox
          for (const message of [bankEmail(1), workEmail(2), "Subject: hello\r\n\r\nnothing to see\r\n"]) {
            yield* mailbox.append("INBOX", message, [])
          }
          const report = yield* sortMailbox()
          return { report, passes: yield* (yield* PassLog).latest }
        }).pipe(Effect.provide(testLayer({ settings: { dryRun } })))
      const real = yield* sortAndRead(false)
      const [inbox] = real.report.folders
      assert.deepStrictEqual(real.passes.map((p) => [p.folder, p.moved, p.left, p.failed, p.error]), [
        ["INBOX", inbox?.moved, inbox?.left, 0, undefined]
      ])
      assert.strictEqual(inbox?.moved, 2)
      const dry = yield* sortAndRead(true)
      assert.strictEqual(dry.report.folders[0]?.moved, 2)
      assert.deepStrictEqual(dry.passes, [])
    }))

  it.effect("a folder no longer sorted (named once by mistake) leaves the status at the next pass", () =>
    Effect.gen(function*() {
      const database = Layer.succeedContext(yield* Layer.build(Database.layerMemory))
      const passOver = (folders: readonly [string, ...Array<string>]) =>
        Effect.gen(function*() {
          yield* sortMailbox()
          return (yield* (yield* PassLog).latest).map((last) => last.folder)
        }).pipe(Effect.provide(testLayer({ settings: { folders }, database })))
      assert.deepStrictEqual(yield* passOver(["INBOX", "Archvies"]), ["Archvies", "INBOX"])
      assert.deepStrictEqual(yield* passOver(["INBOX"]), ["INBOX"])
    }).pipe(Effect.scoped))

  it.effect("a run that sorted no folder (only a mistyped one) keeps the other folders' last passes and errors", () =>
    Effect.gen(function*() {
      const database = Layer.succeedContext(yield* Layer.build(Database.layerMemory))
      const passOver = (folders: readonly [string, ...Array<string>]) =>
        Effect.gen(function*() {
          yield* Effect.ignore(sortMailbox())
          return (yield* (yield* PassLog).latest).map((last) => [last.folder, last.error === undefined ? "sorted" : "failed"])
        }).pipe(Effect.provide(testLayer({ settings: { folders }, database })))
      assert.deepStrictEqual(yield* passOver(["INBOX"]), [["INBOX", "sorted"]])
      assert.deepStrictEqual(yield* passOver(["Nope"]), [["INBOX", "sorted"], ["Nope", "failed"]])
      // Once a folder is sorted again, only the folders of that run are kept.
      assert.deepStrictEqual(yield* passOver(["INBOX"]), [["INBOX", "sorted"]])
    }).pipe(Effect.scoped))

  it.effect("a learning scan that cannot read a folder is recorded for status and counted, and the pass sorts on; a later scan clears it; a dry run records nothing", () =>
    Effect.gen(function*() {
      const database = Layer.succeedContext(yield* Layer.build(Database.layerMemory))
      const mailbox = Layer.succeedContext(yield* Layer.build(MemoryMailbox.layer()))
      yield* MemoryMailbox.use((filed) => filed.append("Folders/Achats", "From: shop@example.com\r\nSubject: your order\r\n\r\ncart\r\n", ["\\Seen"])).pipe(
        Effect.provide(mailbox)
      )
      const before = yield* learningFailuresCounted

      const failed = yield* passAt({ database, mailbox, at: today, uid: 1, faults: { searchIn: ["Folders/Achats"] } })
      assert.deepStrictEqual(Option.map(failed.report.learning, (learning) => learning.unreadFolders), Option.some([
        `"Folders/Achats" (SEARCH on "Folders/Achats" failed: injected search failure)`
      ]))
      assert.strictEqual(failed.report.folders[0]?.moved, 1)
      // The scan completed without that folder: both are said, at the same time.
      assert.deepStrictEqual(failed.learned.lastScan, { at: "2026-12-01T10:00:00.000Z", learned: 0, stays: 0, corrections: 0 })
      assert.deepStrictEqual(failed.learned.lastFailure, {
        at: "2026-12-01T10:00:00.000Z",
        message: `could not read "Folders/Achats" (SEARCH on "Folders/Achats" failed: injected search failure); the other folders were read, these are tried again next pass`
      })
      assert.include(failed.text, "\n  learning FAILED at 2026-12-01T10:00:00.000Z: could not read \"Folders/Achats\"")
      assert.strictEqual((yield* learningFailuresCounted) - before, 1)

      const scanned = yield* passAt({ database, mailbox, at: today + 60_000, uid: 2, faults: {} })
      assert.deepStrictEqual(scanned.learned.lastScan, { at: "2026-12-01T10:01:00.000Z", learned: 1, stays: 0, corrections: 0 })
      // The failure is kept, and said no more once a scan has completed since.
      assert.deepStrictEqual(scanned.learned.lastFailure, failed.learned.lastFailure)
      assert.include(scanned.text, "\n  last scan of the folders: 2026-12-01T10:01:00.000Z, learned 1 filed, 0 that stay, 0 correction(s)\n")
      assert.notInclude(scanned.text, "FAILED")
      assert.strictEqual((yield* learningFailuresCounted) - before, 1)

      yield* MemoryMailbox.use((filed) => filed.append("Folders/Achats", "From: shop@example.com\r\nSubject: new order\r\n\r\ncart\r\n", ["\\Seen"])).pipe(
        Effect.provide(mailbox)
      )
      const dry = yield* passAt({ database, mailbox, at: today + 120_000, uid: 3, faults: { searchIn: ["Folders/Achats"] }, dryRun: true })
      assert.strictEqual(Option.map(dry.report.learning, (learning) => learning.unreadFolders.length).pipe(Option.getOrElse(() => 0)), 1)
      assert.deepStrictEqual([dry.learned.lastScan, dry.learned.lastFailure], [scanned.learned.lastScan, scanned.learned.lastFailure])
    }).pipe(Effect.scoped))

  it.effect("a learning scan that fails as a whole is recorded for status and counted, and the pass sorts with what was learned before", () =>
    Effect.gen(function*() {
      const database = Layer.succeedContext(yield* Layer.build(Database.layerMemory))
      const mailbox = Layer.succeedContext(yield* Layer.build(MemoryMailbox.layer()))
      const before = yield* learningFailuresCounted
      // The pass's own LIST answers; the learning scan's, the next, fails.
      const failed = yield* passAt({ database, mailbox, at: today, uid: 1, faults: { listFailsFrom: 2 } })
      assert.strictEqual(failed.report.learningFailure, `LIST on "*" failed: injected list failure`)
      assert.isTrue(Option.isNone(failed.report.learning))
      assert.strictEqual(failed.report.folders[0]?.processed, 1)
      assert.deepStrictEqual(failed.learned.lastFailure, {
        at: "2026-12-01T10:00:00.000Z",
        message: `LIST on "*" failed: injected list failure; sorted with what was learned before`
      })
      assert.strictEqual(failed.learned.lastScan, null)
      assert.include(failed.text, "\n  learning FAILED at 2026-12-01T10:00:00.000Z: LIST on \"*\" failed: injected list failure; sorted with what was learned before\n")
      assert.strictEqual((yield* learningFailuresCounted) - before, 1)
    }).pipe(Effect.scoped))

  it.live("a service pass lost with the connection is recorded as every folder's failure, kept as the last error once sorting resumes", () => {
    return Effect.gen(function*() {
      yield* (yield* MemoryMailbox).append("INBOX", bankEmail(1), [])
      const service = yield* Effect.forkChild(runService)
      yield* Effect.sleep("200 millis")
      const during = yield* (yield* PassLog).latest
      assert.deepStrictEqual(during.map((p) => [p.folder, p.error]), [["INBOX", "cannot connect to IMAP server 127.0.0.1:1143: connection refused"]])
      // The backoff is 2 s; then the pass succeeds.
      yield* Effect.sleep("2500 millis")
      yield* Fiber.interrupt(service)
      const [after] = yield* (yield* PassLog).latest
      assert.deepInclude(after, { folder: "INBOX", moved: 1, error: undefined })
      assert.strictEqual(after?.lastError?.message, during[0]?.error)
    }).pipe(Effect.provide(testLayer({ settings: { pollInterval: Duration.hours(1) }, mailboxWrapper: refusingConnections(1) })))
  }, 20_000)
})
