import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, References } from "effect"
import { TestClock } from "effect/testing"
import { Classifier } from "../../src/services/Classifier.ts"
import { Database } from "../../src/services/Database.ts"
import { Mailbox } from "../../src/services/Mailbox.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { sortFolder } from "../../src/pipeline/sortFolder.ts"
import { formatMetrics } from "../../src/pipeline/metrics.ts"
import { makeReporter } from "../../src/pipeline/report.ts"
import { sortMailbox } from "../../src/pipeline/sortMailbox.ts"
import { bankEmail, personalEmail, rawEmail, travelEmail, workEmail } from "../support/emails.ts"
import { makeFakeClassifier, matched } from "../support/FakeClassifier.ts"
import { withFaults } from "../support/FaultyMailbox.ts"
import { captureLogs } from "../support/logs.ts"
import { counted } from "../support/metrics.ts"
import { testLayer } from "../support/layers.ts"
import { placement } from "../support/placement.ts"
import { samples } from "../support/samples.ts"

const seed = (messages: ReadonlyArray<string>, flags: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const mailbox = yield* MemoryMailbox
    const uids: Array<number> = []
    for (const message of messages) uids.push(yield* mailbox.append("INBOX", message, flags))
    return uids
  })

const countIn = (folder: string) => Effect.map(MemoryMailbox.use((mailbox) => mailbox.messages(folder)), (m) => m.length)

const moveCommands = Effect.map(
  MemoryMailbox.use((mailbox) => mailbox.commands),
  (commands) => commands.filter((command) => command.command === "MOVE" || command.command === "COPY+EXPUNGE")
)

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)


/** Moves counted in the metrics so far (protonlumo_classifications_total counts each move by who decided it). */
const countedMoves = counted("protonlumo_classifications_total")

describe("sorting a folder", () => {
  it.effect("moves each message to its category's folder and leaves what fits nowhere", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), workEmail(2), travelEmail(3), personalEmail(4)])
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.moved, 3)
      assert.strictEqual(report.left, 1)
      assert.strictEqual(report.failed, 0)
      assert.strictEqual(yield* countIn("Folders/Administratif/Banque"), 1)
      assert.strictEqual(yield* countIn("Folders/Travail"), 1)
      assert.strictEqual(yield* countIn("Folders/Voyages"), 1)
      const inbox = yield* MemoryMailbox.use((mailbox) => mailbox.messages("INBOX"))
      assert.strictEqual(inbox.length, 1)
      assert.include(new TextDecoder().decode(inbox[0]?.source), "Dîner samedi 4")
    }).pipe(Effect.provide(testLayer())))

  it.effect("creates missing nested target folders, parents first", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1)])
      yield* sortFolder("INBOX")
      const creates = (yield* MemoryMailbox.use((mailbox) => mailbox.commands))
        .filter((command) => command.command === "CREATE")
        .map((command) => command.folder)
      assert.deepStrictEqual(creates, ["Folders/Administratif", "Folders/Administratif/Banque"])
    }).pipe(Effect.provide(testLayer())))

  it.effect("keeps \\Seen and \\Flagged as they were and never marks unread mail read", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      yield* mailbox.append("INBOX", bankEmail(1), ["\\Flagged"])
      yield* mailbox.append("INBOX", bankEmail(2), ["\\Seen", "\\Flagged"])
      yield* sortFolder("INBOX")
      const moved = yield* mailbox.messages("Folders/Administratif/Banque")
      assert.deepStrictEqual(
        moved.map((message) => [...message.flags].sort().join(" ")).sort(),
        ["\\Flagged", "\\Flagged \\Seen"]
      )
    }).pipe(Effect.provide(testLayer({ settings: { unseenOnly: false } }))))

  it.effect("one broken message among fifty is reported, left in place, and the other 49 are sorted", () =>
    Effect.gen(function*() {
      const uids = yield* seed(range(50).map(bankEmail))
      const poisoned = uids[17] ?? 0
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.moved, 49)
      assert.strictEqual(report.failed, 1)
      const inbox = yield* MemoryMailbox.use((mailbox) => mailbox.messages("INBOX"))
      assert.deepStrictEqual(inbox.map((message) => message.uid), [poisoned])
      assert.strictEqual(yield* countIn("Folders/Administratif/Banque"), 49)
    }).pipe(Effect.provide(testLayer({ mailboxWrapper: withFaults({ fetchUids: [18] }) }))))

  it.effect("an unparseable message is reported and left, once: the next pass does not retry it", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), "", bankEmail(2)])
      const first = yield* sortFolder("INBOX")
      assert.deepStrictEqual([first.moved, first.failed], [2, 1])
      const second = yield* sortFolder("INBOX")
      assert.strictEqual(second.processed, 0)
      assert.strictEqual(yield* countIn("INBOX"), 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a failed move leaves exactly that folder's messages in place; other moves happen", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), workEmail(2), bankEmail(3)])
      const report = yield* sortFolder("INBOX")
      assert.deepStrictEqual([report.moved, report.failed], [1, 2])
      assert.strictEqual(yield* countIn("INBOX"), 2)
      assert.strictEqual(yield* countIn("Folders/Travail"), 1)
    }).pipe(Effect.provide(testLayer({ mailboxWrapper: withFaults({ moveTargets: ["Folders/Administratif/Banque"] }) }))))

  it.effect("a failed move is tried again later, with a growing delay; a copy whose original could not be removed is not", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), workEmail(2)])
      const first = yield* sortFolder("INBOX")
      assert.deepStrictEqual([first.moved, first.failed], [0, 2])
      // Not on the very next pass (a service woken by IDLE would hammer the failure), but after a minute…
      const second = yield* sortFolder("INBOX")
      assert.deepStrictEqual([second.processed, second.waiting], [0, 1])
      yield* TestClock.adjust("1 minute")
      const third = yield* sortFolder("INBOX")
      assert.deepStrictEqual([third.processed, third.failed], [1, 1])
      // …then after two more, the delay doubling with each failure.
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* sortFolder("INBOX")).processed, 0)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* sortFolder("INBOX")).processed, 1)
      assert.strictEqual((yield* moveCommands).length, 0)
    }).pipe(Effect.provide(testLayer({
      mailboxWrapper: withFaults({
        moveTargets: ["Folders/Travail"],
        incompleteMoveTargets: ["Folders/Administratif/Banque"]
      })
    }))))

  it.effect("a failed classification call leaves its batch in place and the run goes on", () => {
    const fake = makeFakeClassifier({
      verdict: () => matched("BANQUE", 0.9),
      failWhen: (batch) => batch.some((email) => email.subject.endsWith(" 3"))
    })
    return Effect.gen(function*() {
      yield* seed(range(6).map(bankEmail))
      const report = yield* sortFolder("INBOX")
      assert.deepStrictEqual([report.moved, report.failed], [4, 2])
      assert.strictEqual(yield* countIn("INBOX"), 2)
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { batchSize: 2 } })))
  })

  it.effect("a message another client takes away while it is classified is said to be gone, by folder and UID, and counted; the others move", () => {
    const away: Array<Effect.Effect<void>> = []
    const fake = makeFakeClassifier({ verdict: () => matched("BANQUE", 0.9), before: () => Effect.all(away.splice(0)) })
    return Effect.gen(function*() {
      yield* seed([bankEmail(1), bankEmail(2)])
      const mailbox = yield* Mailbox
      const inbox = yield* Effect.orDie(mailbox.openFolder("INBOX"))
      away.push(Effect.orDie(mailbox.remove(inbox, [1])))
      const logs = captureLogs(["Info"])
      const report = yield* sortFolder("INBOX").pipe(Effect.provide(logs.layer), Effect.provideService(References.MinimumLogLevel, "Info"))
      assert.deepStrictEqual([report.processed, report.moved, report.gone], [2, 1, 1])
      assert.match(logs.lines.join("\n"), /gone INBOX#1 before it could be moved to Folders\/Administratif\/Banque: another client moved or deleted it first/)
      assert.include(formatMetrics(report), "Moved / left / failed: 1 / 0 / 0; 1 gone before the move (another client moved or deleted them)")
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer })))
  })

  it.effect("moves are grouped: one MOVE per destination folder per batch, never one per message", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), workEmail(2), bankEmail(3), workEmail(4), bankEmail(5), travelEmail(6)])
      yield* sortFolder("INBOX")
      const moves = yield* moveCommands
      assert.deepStrictEqual(
        moves.map((move) => [move.target, move.uids.length]).sort(),
        [["Folders/Administratif/Banque", 3], ["Folders/Travail", 2], ["Folders/Voyages", 1]]
      )
    }).pipe(Effect.provide(testLayer())))

  it.effect("a dry run reports the moves and sends no CREATE or MOVE; the metrics count no move", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), workEmail(2), personalEmail(3)])
      const movesBefore = yield* countedMoves
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.moved, 2)
      assert.isTrue(report.dryRun)
      assert.strictEqual(yield* countedMoves, movesBefore)
      const commands = yield* MemoryMailbox.use((mailbox) => mailbox.commands)
      assert.deepStrictEqual(
        commands.filter((command) => ["CREATE", "MOVE", "COPY+EXPUNGE"].includes(command.command)),
        []
      )
      assert.strictEqual(yield* countIn("INBOX"), 3)
      // A dry-run service lists each message once: the next pass of the same process sees only new mail.
      yield* seed([travelEmail(4)])
      const again = yield* sortFolder("INBOX")
      assert.strictEqual(again.processed, 1)
      assert.strictEqual(again.moved, 1)
    }).pipe(Effect.provide(testLayer({ settings: { dryRun: true } }))))

  it.effect("a dry run remembers what it listed in memory only: the next process, dry or not, sees it all", () =>
    Effect.gen(function*() {
      const database = yield* Layer.build(Database.layerMemory)
      const mailbox = yield* Layer.build(MemoryMailbox.layer())
      const inProcess = (dryRun: boolean) =>
        testLayer({ settings: { dryRun }, database: Layer.succeedContext(database), memoryMailbox: Layer.succeedContext(mailbox) })
      yield* seed([bankEmail(1), workEmail(2), personalEmail(3)]).pipe(Effect.provide(inProcess(true)))
      const dry = yield* sortFolder("INBOX").pipe(Effect.provide(inProcess(true)))
      assert.strictEqual(dry.processed, 3)
      const nextDry = yield* sortFolder("INBOX").pipe(Effect.provide(inProcess(true)))
      assert.strictEqual(nextDry.processed, 3)
      const real = yield* sortFolder("INBOX").pipe(Effect.provide(inProcess(false)))
      assert.strictEqual(real.processed, 3)
      assert.strictEqual(real.moved, 2)
    }).pipe(Effect.scoped))

  it.effect("a second pass changes nothing and does not classify the mail it left again", () => {
    const fake = makeFakeClassifier({ verdict: (email) => email.subject.startsWith("Virement") ? matched("BANQUE", 0.9) : matched("PRO", 0.3) })
    return Effect.gen(function*() {
      yield* seed([bankEmail(1), workEmail(2), workEmail(3)])
      const first = yield* sortFolder("INBOX")
      assert.deepStrictEqual([first.moved, first.left], [1, 2])
      const before = fake.stats.batches.length
      const commandsBefore = (yield* MemoryMailbox.use((mailbox) => mailbox.commands)).length
      const second = yield* sortFolder("INBOX")
      assert.strictEqual(second.processed, 0)
      assert.strictEqual(fake.stats.batches.length, before)
      const after = yield* MemoryMailbox.use((mailbox) => mailbox.commands)
      assert.deepStrictEqual(after.slice(commandsBefore).map((command) => command.command), ["SELECT", "SEARCH"])
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer })))
  })

  it.effect("a new UIDVALIDITY makes the folder's remembered UIDs worthless: it is read again", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      yield* seed([personalEmail(1), personalEmail(2)])
      yield* sortFolder("INBOX")
      yield* MemoryMailbox.use((mailbox) => mailbox.resetUidValidity("INBOX"))
      const again = yield* sortFolder("INBOX")
      assert.strictEqual(again.processed, 2)
      assert.strictEqual(fake.stats.batches.flat().length, 4)
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer })))
  })

  it.effect("takes at most MAX_EMAILS_PER_FOLDER messages, newest first", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      yield* seed(range(12).map(personalEmail))
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.processed, 5)
      assert.deepStrictEqual(fake.stats.batches.flat().sort((a, b) => a - b), [8, 9, 10, 11, 12])
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { maxEmailsPerFolder: 5 } })))
  })

  it.effect("only unread mail is read when UNSEEN_ONLY is on", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      yield* seed([personalEmail(1)], ["\\Seen"])
      yield* seed([personalEmail(2)])
      yield* sortFolder("INBOX")
      assert.deepStrictEqual(fake.stats.batches.flat(), [2])
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer })))
  })
})

/** Sorts one message the fake classifier gives this verdict. */
const decided = (confidence: number, categoryId = "BANQUE") => {
  const fake = makeFakeClassifier({ verdict: () => matched(categoryId, confidence) })
  return Effect.gen(function*() {
    yield* seed([rawEmail({ subject: "anything" })])
    const report = yield* sortFolder("INBOX")
    return { moved: report.moved, left: report.left, inbox: yield* countIn("INBOX") }
  }).pipe(Effect.provide(testLayer({ classifier: fake.layer })))
}

describe("classification decisions", () => {
  it.effect("below the category's threshold (BANQUE 0.8) nothing moves", () =>
    Effect.map(decided(0.79), (result) => assert.deepStrictEqual(result, { moved: 0, left: 1, inbox: 1 })))

  it.effect("at the threshold the message moves", () =>
    Effect.map(decided(0.8), (result) => assert.deepStrictEqual(result, { moved: 1, left: 0, inbox: 0 })))

  it.effect("a category that does not exist moves nothing (never to Spam)", () =>
    Effect.gen(function*() {
      const result = yield* decided(0.99, "PHISHING")
      assert.deepStrictEqual(result, { moved: 0, left: 1, inbox: 1 })
    }))

  it.effect("a confidence outside [0, 1] is clamped, so 7 counts as 1 and -3 as 0", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* decided(7), { moved: 1, left: 0, inbox: 0 })
      assert.deepStrictEqual(yield* decided(-3), { moved: 0, left: 1, inbox: 1 })
    }))
})

describe("batches and workers", () => {
  it.effect("classification calls take BATCH_SIZE emails: 25 emails in batches of 10 make 3 calls", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      yield* seed(range(25).map(personalEmail))
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.classificationCalls, 3)
      assert.deepStrictEqual(fake.stats.batches.map((batch) => batch.length).sort((a, b) => b - a), [10, 10, 5])
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { batchSize: 10 } })))
  })

  it.effect("what screening decides at once takes no place in a batch, nor in the emails per batch", () => {
    const fake = makeFakeClassifier({ screen: (email) => (email.uid % 2 === 0 ? matched("BANQUE", 0.99) : undefined) })
    return Effect.gen(function*() {
      yield* seed(range(25).map(personalEmail))
      const report = yield* sortFolder("INBOX")
      assert.deepStrictEqual([report.classificationCalls, report.classifiedEmails], [2, 13])
      assert.isTrue(fake.stats.batches.flat().every((uid) => uid % 2 === 1))
      assert.include(formatMetrics(report), "Batches classified:    2 (6.5 emails per batch, batch size 10)")
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { batchSize: 10 } })))
  })

  it.effect("ENABLE_BATCH=false (batch size 1) makes one call per email", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      yield* seed(range(7).map(personalEmail))
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.classificationCalls, 7)
      assert.isTrue(fake.stats.batches.every((batch) => batch.length === 1))
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { batchSize: 1 } })))
  })

  it.live("never more than MAX_WORKERS classification calls at once, and that many when there is work", () => {
    const fake = makeFakeClassifier({ latency: "30 millis" })
    return Effect.gen(function*() {
      yield* seed(range(60).map(personalEmail))
      yield* sortFolder("INBOX")
      assert.strictEqual(fake.stats.maxInFlight, 3)
      assert.strictEqual(fake.stats.batches.length, 30)
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { workers: 3, batchSize: 2, maxEmailsPerFolder: 100 } })))
  })

  it.live("ENABLE_PARALLEL=false (one worker) classifies one batch at a time", () => {
    const fake = makeFakeClassifier({ latency: "10 millis" })
    return Effect.gen(function*() {
      yield* seed(range(20).map(personalEmail))
      yield* sortFolder("INBOX")
      assert.strictEqual(fake.stats.maxInFlight, 1)
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { workers: 1, batchSize: 2 } })))
  })
})

describe("moving without MOVE", () => {
  it.effect("falls back to COPY + UID EXPUNGE when the server lacks MOVE but has UIDPLUS", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), bankEmail(2)])
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.moved, 2)
      assert.deepStrictEqual((yield* moveCommands).map((command) => command.command), ["COPY+EXPUNGE"])
    }).pipe(Effect.provide(testLayer({ mailbox: { move: false } }))))

  it.effect("refuses to move at all without MOVE and UIDPLUS: every message stays and is reported", () =>
    Effect.gen(function*() {
      yield* seed([bankEmail(1), workEmail(2)])
      const report = yield* sortFolder("INBOX")
      assert.deepStrictEqual([report.moved, report.failed], [0, 2])
      assert.strictEqual(yield* countIn("INBOX"), 2)
      // Refused moves are not "handled": they are tried again, after a delay.
      assert.strictEqual((yield* sortFolder("INBOX")).processed, 0)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* sortFolder("INBOX")).processed, 2)
    }).pipe(Effect.provide(testLayer({ mailbox: { move: false, uidPlus: false } }))))
})

describe("the service's passes", () => {
  // Mail arriving while a pass runs: appended as soon as the first page is fetched.
  const arrivesDuringThePass = Layer.effect(
    Mailbox,
    Effect.gen(function*() {
      const inner = yield* Mailbox
      const memory = yield* MemoryMailbox
      let arrived = false
      return Mailbox.of({
        ...inner,
        fetch: (folder, uids, maxBytes) =>
          Effect.tap(inner.fetch(folder, uids, maxBytes), () => {
            if (arrived) return Effect.void
            arrived = true
            return Effect.asVoid(memory.append("INBOX", bankEmail(8)))
          })
      })
    })
  )

  it.effect("go on page after page (MAX_EMAILS_PER_FOLDER each) until nothing is left, mail that arrived meanwhile first", () =>
    Effect.gen(function*() {
      yield* seed([1, 2, 3, 4, 5, 6, 7].map(bankEmail))
      const report = yield* sortFolder("INBOX", { continuous: true })
      assert.deepStrictEqual([report.processed, report.moved, report.remaining], [8, 8, 0])
      const fetches = (yield* MemoryMailbox.use((memory) => memory.commands)).filter((c) => c.command === "FETCH")
      assert.deepStrictEqual(fetches.map((c) => c.uids), [[7, 6, 5], [8, 4, 3], [2, 1]])
      assert.strictEqual(yield* countIn("INBOX"), 0)
    }).pipe(Effect.provide(testLayer({ settings: { maxEmailsPerFolder: 3 }, mailboxWrapper: arrivesDuringThePass }))))

  it.effect("--once takes one page and says how many are left", () =>
    Effect.gen(function*() {
      yield* seed([1, 2, 3, 4, 5, 6, 7].map(bankEmail))
      const report = yield* sortFolder("INBOX")
      assert.deepStrictEqual([report.processed, report.remaining], [3, 4])
    }).pipe(Effect.provide(testLayer({ settings: { maxEmailsPerFolder: 3 } }))))
})

describe("a pass over several folders", () => {
  it.effect("skips folders that must not be sorted and sorts the others", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      yield* mailbox.append("INBOX", bankEmail(1))
      yield* mailbox.append("Archive", workEmail(2))
      yield* mailbox.append("Folders/Travail", workEmail(3))
      const reports = (yield* sortMailbox()).folders
      assert.deepStrictEqual(reports.map((report) => [report.folder, report.moved]), [["INBOX", 1], ["Archive", 1]])
      assert.strictEqual(yield* countIn("Folders/Travail"), 2)
    }).pipe(Effect.provide(testLayer({ settings: { folders: ["INBOX", "Nowhere", "Folders/Travail", "Archive"] } }))))

  it.effect("uses the learned model, then keywords, by default; keywords alone with PROTON_LUMO_LEARN=false", () =>
    Effect.gen(function*() {
      const classifier = yield* Classifier
      assert.strictEqual(classifier.name, "learned+keyword")
      const alone = yield* Effect.provide(Effect.service(Classifier), testLayer({ settings: { learn: false } }))
      assert.strictEqual(alone.name, "keyword")
    }).pipe(Effect.provide(testLayer())))
})

describe("the bundled sample mailbox", () => {
  it.effect("every sample lands where its X-ProtonLumo-Expected header says, nothing is lost", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      for (const sample of samples) yield* mailbox.append("INBOX", sample.source)
      const [report] = (yield* sortMailbox()).folders
      assert.strictEqual(report?.failed, 0)
      const placed = yield* placement
      assert.strictEqual(placed.size, samples.length)
      for (const sample of samples) assert.strictEqual(placed.get(sample.messageId), sample.expectedFolder, sample.file)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a message whose header is longer than what is read of a message is said to be so, and the others are sorted", () =>
    Effect.gen(function*() {
      const relays = Array.from({ length: 5000 }, (_, n) => `Received: from relay${n}.example.net by mx.example.org; Mon, 1 Dec 2026 09:00:00 +0000`)
      const huge = [...relays, "From: a@example.net", "Subject: Virement", "", "hello", ""].join("\r\n")
      yield* seed([huge, bankEmail(2)])
      const logs = captureLogs(["Warn"])
      const report = yield* sortFolder("INBOX").pipe(Effect.provide(logs.layer), Effect.provideService(References.MinimumLogLevel, "Info"))
      assert.deepStrictEqual([report.moved, report.failed, report.failedForGood], [1, 1, 1])
      assert.match(logs.lines.join("\n"), /not sorted INBOX#1 \(parse failed\): its header is longer than the 256 KiB read of each message/)
    }).pipe(Effect.provide(testLayer())))

  it.effect("the large message is fetched partially: only the first maxMessageBytes leave the server", () => {
    const fetchedBytes: Array<number> = []
    const spy = Layer.effect(
      Mailbox,
      Effect.map(Effect.service(Mailbox), (inner) =>
        Mailbox.of({
          ...inner,
          fetch: (folder, uids, maxBytes) =>
            Effect.tap(inner.fetch(folder, uids, maxBytes), (messages) =>
              Effect.sync(() => fetchedBytes.push(...messages.map((message) => message.source.length))))
        }))
    )
    return Effect.gen(function*() {
      const large = samples.find((sample) => sample.source.length > 200_000)
      if (large === undefined) return assert.fail("the samples have no large message")
      const mailbox = yield* MemoryMailbox
      yield* mailbox.append("INBOX", large.source)
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.moved, 1)
      assert.strictEqual(yield* countIn(large.expectedFolder), 1)
      assert.deepStrictEqual(fetchedBytes, [16 * 1024])
    }).pipe(Effect.provide(testLayer({ settings: { maxMessageBytes: 16 * 1024 }, mailboxWrapper: spy })))
  })
})

describe("what a pass settles", () => {
  it.effect("mail a classification left is settled under the categories (looked at again after an edit), the LLM's \"none fits\" apart; mail the user kept, for good", () =>
    Effect.gen(function*() {
      const reporter = yield* makeReporter("INBOX")
      yield* reporter.record({ _tag: "Left", uid: 1, subject: "", reason: "no keyword matched", retry: false })
      yield* reporter.record({ _tag: "Left", uid: 2, subject: "", reason: "you took it out of SPAM: it stays", retry: false, byUser: true })
      yield* reporter.record({ _tag: "Left", uid: 3, subject: "", reason: "the LLM could not answer", retry: true })
      yield* reporter.record({ _tag: "Left", uid: 4, subject: "", reason: "no category fits", retry: false, llmSaidNone: true })
      const moved = { subject: "", from: "", to: "Folders/Travail", categoryId: "PRO", confidence: 0.9, classifier: "keyword", stage: "keyword" } as const
      yield* reporter.record({ _tag: "Moved", uid: 5, action: "move", dryRun: false, ...moved })
      yield* reporter.record({ _tag: "Moved", uid: 6, action: "label", dryRun: false, ...moved })
      yield* reporter.record({ _tag: "Moved", uid: 7, action: "move", dryRun: true, ...moved })
      // Moved out of the folder: its retries end (SortState.gone); labelled: settled for good; a dry run's: settled as left.
      assert.deepStrictEqual(yield* reporter.takeSettled, { left: [1, 7], llmSaidNone: [4], other: [2, 6], moved: [5] })
    }))
})
