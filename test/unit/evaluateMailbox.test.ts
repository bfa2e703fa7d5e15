/** `evaluateMailbox` on the in-memory mailbox: what it reads, how it splits by date, and that it changes nothing. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, References } from "effect"
import { NothingToEvaluate } from "../../src/domain/Errors.ts"
import { fingerprint } from "../../src/domain/Fingerprint.ts"
import { evaluationLayer } from "../../src/layers.ts"
import { evaluateMailbox } from "../../src/pipeline/evaluate.ts"
import { Categories } from "../../src/services/Categories.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { MessageParser } from "../../src/services/MessageParser.ts"
import { Settings } from "../../src/services/Settings.ts"
import { messageIdOf } from "../support/placement.ts"

const DAY = 86_400_000
const base = Date.UTC(2026, 0, 1)
const monthAgo = new Date(Date.now() - 30 * DAY)

const category = (folder: string, threshold: number) => ({
  name: folder,
  folder,
  keywords: [],
  confidence_threshold: threshold,
  priority: 1,
  description: ""
})

const message = (from: string, subject: string, day: number | undefined): string =>
  [
    `From: ${from}`,
    "To: camille@example.org",
    `Subject: ${subject}`,
    ...(day === undefined ? [] : [`Date: ${new Date(base + day * DAY).toUTCString()}`]),
    `Message-ID: <${subject.replace(/\W/g, "-")}@example.org>`,
    "",
    `${subject} body`,
    ""
  ].join("\r\n")

const layer = evaluationLayer({
  settings: { ...Settings.defaults, folders: ["INBOX"] },
  categories: Categories.layerFrom({
    WORK: category("Folders/Work", 0.7),
    HOME: category("Folders/Home", 0.7),
    TRIPS: category("Folders/Trips", 0.7)
  }),
  mailbox: MemoryMailbox.layer({ readOnly: true }),
  parser: MessageParser.layerInline
})

// Live: the clock says which read mail is old enough to stay, against the mailbox's real arrival dates.
describe("evaluateMailbox", () => {
  it.live("orders by date (undated last), counts a copy once, trains on the oldest 70% of each folder, and only reads", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      // Work n on day 2n, home n on day 2n + 1; three read messages that stay on days 20 to 22;
      // one undated home message; and in INBOX, read, a copy of work message 0.
      for (let n = 0; n < 5; n++) {
        yield* mailbox.append("Folders/Work", message("boss@corp.example", `agenda ${n}`, 2 * n))
        yield* mailbox.append("Folders/Home", message("mum@home.example", `picnic ${n}`, 2 * n + 1))
      }
      yield* mailbox.append("Folders/Home", message("mum@home.example", "picnic undated", undefined))
      for (const day of [20, 21, 22]) {
        yield* mailbox.append("INBOX", message("friend@pals.example", `cinema ${day}`, day), ["\\Seen"], monthAgo)
      }
      yield* mailbox.append("INBOX", message("boss@corp.example", "agenda 0", 0), ["\\Seen"], monthAgo)
      // Unread, and read but arrived today: neither is mail that stays yet.
      yield* mailbox.append("INBOX", message("friend@pals.example", "unread", 30), [], monthAgo)
      yield* mailbox.append("INBOX", message("friend@pals.example", "today", 31), ["\\Seen"])
      const before = yield* mailbox.commands

      const report = yield* evaluateMailbox()
      // 14 messages (the copy counted once, in Work), each folder cut by its own dates: Work w0 w1 w2 | w3 w4,
      // Home h0 h1 h2 h3 | h4 undated (were the undated one taken as the oldest, h3 would be tested instead
      // of it), stays s20 s21 | s22.
      assert.deepStrictEqual([report.trained, report.tested, report.calibrated], [9, 5, false])
      assert.deepStrictEqual(
        report.folders.map((folder) => [folder.path, folder.messages]),
        [["Folders/Work", 5], ["Folders/Home", 6], ["INBOX", 3]]
      )
      // A category whose folder is not on the server is named, with nothing read from it.
      assert.deepStrictEqual(report.missing, [{ path: "Folders/Trips", label: "TRIPS" }])
      assert.deepStrictEqual(report.evaluation.categories.map((figures) => [figures.label, figures.count]), [["WORK", 2], [
        "HOME",
        2
      ]])
      assert.strictEqual(report.evaluation.stays.count, 1)
      // Uncalibrated: every confidence 0, nothing would move.
      assert.strictEqual(report.evaluation.atThresholds.moved, 0)
      const commands = (yield* mailbox.commands).slice(before.length).map((command) => command.command)
      assert.deepStrictEqual([...new Set(commands)].sort(), ["FETCH", "LIST", "SEARCH", "SELECT"])
      const inbox = yield* mailbox.messages("INBOX")
      assert.deepStrictEqual(inbox.map((stored) => [...stored.flags].sort()), [
        ["\\Seen"],
        ["\\Seen"],
        ["\\Seen"],
        ["\\Seen"],
        [],
        ["\\Seen"]
      ])
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error")))

  it.live("leaves out what the sorter put in a category folder and left there, not what the user filed or refiled", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      const work = Array.from({ length: 4 }, (_, n) => message("boss@corp.example", `agenda ${n}`, n))
      for (const source of work) yield* mailbox.append("Folders/Work", source)
      yield* mailbox.append("Folders/Home", message("mum@home.example", "picnic", 9))
      const moved = (source: string, target: string) => ({
        target,
        fingerprint: fingerprint(Buffer.from(source)),
        messageId: messageIdOf(source)
      })
      const report = yield* evaluateMailbox([
        // By keywords, and by the learned model itself: either way not the user's filing.
        moved(work[0] ?? "", "Folders/Work"),
        moved(work[1] ?? "", "Folders/Work"),
        // Sorted into Home, then refiled by the user into Work: theirs.
        moved(work[2] ?? "", "Folders/Home")
      ])
      assert.strictEqual(report.placedBySorter, 2)
      assert.deepStrictEqual(report.folders.map((folder) => [folder.path, folder.messages]), [["Folders/Work", 2], ["Folders/Home", 1], ["INBOX", 0]])
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error")))

  it.effect("with no mail in any category folder: NothingToEvaluate", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      yield* mailbox.append("INBOX", message("friend@pals.example", "hello", 1), ["\\Seen"], monthAgo)
      const failure = yield* Effect.flip(evaluateMailbox())
      assert.instanceOf(failure, NothingToEvaluate)
      assert.include(failure.message, "nothing to evaluate: file some mail into your category folders first")
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error")))

  it.live("category folders holding only what the sorter put there: NothingToEvaluate, saying so", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      const sorted = [message("boss@corp.example", "agenda", 1), message("boss@corp.example", "minutes", 2)]
      for (const source of sorted) yield* mailbox.append("Folders/Work", source)
      const failure = yield* Effect.flip(evaluateMailbox(sorted.map((source) => ({
        target: "Folders/Work",
        fingerprint: fingerprint(Buffer.from(source)),
        messageId: messageIdOf(source)
      }))))
      assert.instanceOf(failure, NothingToEvaluate)
      assert.include(failure.message, "(Folders/Work holds none you filed yourself: the 2 the sorter put there are left out)")
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error")))
})
