/** `evaluateMailbox` on the in-memory mailbox: what it reads, how it splits by date, and that it changes nothing. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, References } from "effect"
import { formatEvaluation } from "../../src/cli/evaluationText.ts"
import { NothingToEvaluate } from "../../src/domain/Errors.ts"
import { fingerprint } from "../../src/domain/Fingerprint.ts"
import { evaluationLayer } from "../../src/layers.ts"
import { evaluateMailbox } from "../../src/pipeline/evaluate.ts"
import { Categories } from "../../src/services/Categories.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { MessageParser } from "../../src/services/MessageParser.ts"
import { Progress, type ProgressApi } from "../../src/services/Progress.ts"
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

/** The boss's agendas of these days in Folders/Work. */
const agendas = (days: Iterable<number>) =>
  Effect.gen(function*() {
    const mailbox = yield* MemoryMailbox
    for (const day of days) yield* mailbox.append("Folders/Work", message("boss@corp.example", `agenda ${day}`, day))
  })

const daysUpTo = (count: number) => Array.from({ length: count }, (_, n) => n)

/** The evaluation's services over a read-only in-memory mailbox, with these categories. */
const layerWith = (categories: Parameters<typeof Categories.layerFrom>[0]) =>
  evaluationLayer({
    settings: { ...Settings.defaults, folders: ["INBOX"] },
    categories: Categories.layerFrom(categories),
    mailbox: MemoryMailbox.layer({ readOnly: true }),
    parser: MessageParser.layerInline
  })

const layer = layerWith({
  WORK: category("Folders/Work", 0.7),
  HOME: category("Folders/Home", 0.7),
  TRIPS: category("Folders/Trips", 0.7),
  NEWS: category("Folders/News", 0.7)
})

// Live: the clock says which read mail is old enough to stay, against the mailbox's real arrival dates.
describe("evaluateMailbox", () => {
  it.live("cuts all folders at one date (undated last; a folder made since, by its own dates), counts a copy once, and only reads", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      // Work, a quiet folder: days 0 to 4. Home, in use: ten days from 5 to 17, and one undated.
      // Read mail that stays on days 8, 11 and 18. News, made since: days 19 to 22. In INBOX, read, a
      // copy of work message 0.
      yield* agendas([0, 1, 2, 3, 4])
      for (const day of [5, 6, 7, 9, 10, 12, 13, 14, 16, 17]) {
        yield* mailbox.append("Folders/Home", message("mum@home.example", `picnic ${day}`, day))
      }
      yield* mailbox.append("Folders/Home", message("mum@home.example", "picnic undated", undefined))
      for (const day of [8, 11, 18]) {
        yield* mailbox.append("INBOX", message("friend@pals.example", `cinema ${day}`, day), ["\\Seen"], monthAgo)
      }
      for (const day of [19, 20, 21, 22]) yield* mailbox.append("Folders/News", message("news@paper.example", `issue ${day}`, day))
      yield* mailbox.append("INBOX", message("boss@corp.example", "agenda 0", 0), ["\\Seen"], monthAgo)
      // Unread, and read but arrived today: neither is mail that stays yet.
      yield* mailbox.append("INBOX", message("friend@pals.example", "unread", 30), [], monthAgo)
      yield* mailbox.append("INBOX", message("friend@pals.example", "today", 31), ["\\Seen"])
      const before = yield* mailbox.commands

      const report = yield* evaluateMailbox()
      // 23 messages (the copy counted once, in Work); one cut, the oldest 16 learned (were the undated
      // one taken as the oldest, h16 would be tested instead of it): w0-w4 h5 h6 h7 s8 h9 h10 s11 h12
      // h13 h14 h16 | h17 s18 n19 n20 n21 n22 undated. News has none before the cut: by its own dates,
      // n19 n20 learned, n21 n22 tested. So 18 learned, 5 tested: Work none (cut per folder, its newest
      // two would be, older than most of what was learned), Home two, News two, stays one.
      assert.deepStrictEqual([report.trained, report.tested, report.calibrated], [18, 5, false])
      assert.deepStrictEqual(
        report.folders.map((folder) => [folder.path, folder.messages]),
        [["Folders/Work", 5], ["Folders/Home", 11], ["Folders/News", 4], ["INBOX", 3]]
      )
      // A category whose folder is not on the server is named, with nothing read from it.
      assert.deepStrictEqual(report.missing, [{ path: "Folders/Trips", label: "TRIPS" }])
      assert.deepStrictEqual(
        report.evaluation.categories.map((figures) => [figures.label, figures.count]),
        [["WORK", 0], ["HOME", 2], ["NEWS", 2]]
      )
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

  it.live("cuts a spam folder (emptied by the server, so always the newest mail) by its own dates, not another like it", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      // Work: days 0 to 59. Spam, and News half a day after each: days 10, 20, 30 and 40, then 60 to 79.
      yield* agendas(daysUpTo(60))
      for (const day of [10, 20, 30, 40, ...Array.from({ length: 20 }, (_, n) => 60 + n)]) {
        yield* mailbox.append("Spam", message("offers@spam.example", `offer ${day}`, day))
        yield* mailbox.append("Folders/News", message("news@paper.example", `issue ${day}`, day + 0.5))
      }
      const report = yield* evaluateMailbox()
      // One cut learns the oldest 75 of 108: all of Work, spam 10-40 and 60-63, news 10-40 and 60-62.
      // News (enough before the cut for a folder made recently) is tested on its 17 after it; Spam,
      // by its own dates, learns its oldest 16 and is tested on days 72-79.
      assert.deepStrictEqual([report.trained, report.tested], [83, 25])
      assert.deepStrictEqual(
        report.evaluation.categories.map((figures) => [figures.label, figures.count]),
        [["WORK", 0], ["SPAM", 8], ["NEWS", 17]]
      )
    }).pipe(
      Effect.provide(layerWith({
        WORK: category("Folders/Work", 0.7),
        SPAM: category("Spam", 0.7),
        NEWS: category("Folders/News", 0.7)
      })),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ))

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

  it.live("one category and no read mail that stays: one kind of mail, not calibrated, whatever its size", () =>
    Effect.gen(function*() {
      yield* agendas(daysUpTo(150))
      const report = yield* evaluateMailbox()
      // 105 to learn: enough to calibrate on, were there anything to tell Work from.
      assert.deepStrictEqual([report.trained, report.kinds, report.calibrated], [105, 1, false])
      assert.include(formatEvaluation(report), "Only one kind of mail to learn from")
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error")))

  it.live("shows its progress on a folder of more than 500 messages, as the learning scan does", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      yield* agendas(daysUpTo(520))
      yield* mailbox.append("Folders/Home", message("mum@home.example", "picnic", 1))
      const shown: Array<string> = []
      const progress: ProgressApi = {
        start: (label, total, verb) =>
          Effect.succeed({ advance: (count: number) => Effect.sync(() => shown.push(`${label}: ${count} of ${total} ${verb}`)) })
      }
      yield* evaluateMailbox().pipe(Effect.provideService(Progress, progress))
      // Read in chunks of 100 (the fetch chunk), each one shown; the one-message folder shows nothing.
      assert.deepStrictEqual(shown, [100, 100, 100, 100, 100, 20].map((n) => `evaluating: reading Folders/Work: ${n} of 520 read`))
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error")))

  it.live("names a category that shares its folder with one before it: learned as that one's", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      for (let n = 0; n < 4; n++) yield* mailbox.append("Folders/Bank", message("bank@bank.example", `statement ${n}`, n))
      const report = yield* evaluateMailbox()
      assert.deepStrictEqual(report.sharing, [{ path: "Folders/Bank", label: "FINANCE", as: "BANK" }])
      assert.include(formatEvaluation(report), "FINANCE (Folders/Bank, learned as BANK)")
    }).pipe(
      Effect.provide(layerWith({ BANK: category("Folders/Bank", 0.7), FINANCE: category("Folders/Bank", 0.8) })),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ))

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
