/** Journal, crash recovery, labels, undo and the service loop, over the in-memory mailbox. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Logger, Option, References } from "effect"
import { fingerprint } from "../../src/domain/Fingerprint.ts"
import { runService } from "../../src/pipeline/service.ts"
import { sortFolder } from "../../src/pipeline/sortFolder.ts"
import { sortMailbox } from "../../src/pipeline/sortMailbox.ts"
import { recoverFolder } from "../../src/pipeline/recover.ts"
import { undo } from "../../src/pipeline/undo.ts"
import { Database } from "../../src/services/Database.ts"
import { Journal } from "../../src/services/Journal.ts"
import { LearnedModel } from "../../src/services/LearnedModel.ts"
import { Mailbox } from "../../src/services/Mailbox.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { PassLog } from "../../src/services/PassLog.ts"
import { bankEmail, personalEmail, rawEmail, travelEmail, workEmail } from "../support/emails.ts"
import { refusingConnections, withFaults } from "../support/FaultyMailbox.ts"
import { defaultCategories, testLayer } from "../support/layers.ts"
import { messageIdOf } from "../support/placement.ts"
import { captureLogs } from "../support/logs.ts"

const seed = (folder: string, messages: ReadonlyArray<string>, flags: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const mailbox = yield* MemoryMailbox
    const uids: Array<number> = []
    for (const message of messages) uids.push(yield* mailbox.append(folder, message, flags))
    return uids
  })

const contents = (folder: string) =>
  Effect.map(MemoryMailbox.use((mailbox) => mailbox.messages(folder)), (messages) =>
    messages.map((message) => `${messageIdOf(message.source)} ${[...message.flags].sort().join(" ")}`.trim()).sort())

const withLabels = {
  ...defaultCategories,
  PRO: { ...defaultCategories["PRO"], name: "PRO", folder: "Labels/Travail", keywords: ["réunion", "projet", "rapport"], confidence_threshold: 0.7, priority: 4, description: "work" }
}

describe("the journal of moves", () => {
  it.effect("records every move (Message-ID, folders, category, confidence, classifier, reason); a dry run none", () =>
    Effect.gen(function*() {
      const [uid] = yield* seed("INBOX", [bankEmail(1)])
      yield* sortFolder("INBOX", { runId: "run-x" })
      const [entry] = yield* (yield* Journal).list({})
      assert.deepStrictEqual(
        [entry?.runId, entry?.source, entry?.sourceUid, entry?.target, entry?.action, entry?.category, entry?.classifier, entry?.state],
        ["run-x", "INBOX", uid, "Folders/Administratif/Banque", "move", "BANQUE", "keyword", "done"]
      )
      assert.match(entry?.messageId ?? "", /^<test-\d+-/)
      assert.isAbove(entry?.confidence ?? 0, 0.8)
      assert.include(entry?.reason ?? "", "virement")
    }).pipe(Effect.provide(testLayer())))

  it.effect("a round is journaled before its first command; a connection lost midway stops the folder, the command it cut off is read back by the next pass", () =>
    Effect.gen(function*() {
      const [bank, work, travel] = yield* seed("INBOX", [bankEmail(1), workEmail(2), travelEmail(3)])
      const error = yield* Effect.flip(sortFolder("INBOX", { runId: "run-y" }))
      assert.strictEqual(error._tag, "ImapConnectError")
      const states = Effect.map((yield* Journal).list({}), (entries) => entries.map((entry) => [entry.sourceUid, entry.target, entry.state]))
      assert.deepStrictEqual(
        yield* states,
        // Newest first: travel is moved, work loses the connection (its outcome unknown), bank is never sent.
        [
          [travel, "Folders/Voyages", "done"],
          [work, "Folders/Travail", "pending"],
          [bank, "Folders/Administratif/Banque", "failed"]
        ]
      )
      assert.include((yield* (yield* Journal).list({}))[2]?.note ?? "", "connection lost")
      // The next pass asks the server first: work never left INBOX, so its move failed, and it is sorted again.
      yield* recoverFolder(yield* (yield* Mailbox).openFolder("INBOX"))
      assert.deepStrictEqual((yield* states).map(([, , state]) => state), ["done", "failed", "failed"])
      const inbox = yield* MemoryMailbox.use((mailbox) => mailbox.messages("INBOX"))
      assert.deepStrictEqual(inbox.map((message) => message.uid).sort(), [bank, work])
    }).pipe(Effect.provide(testLayer({ mailboxWrapper: withFaults({ disconnectTargets: ["Folders/Travail"] }) }))))

  it.effect("without MOVE, a connection lost after the copy: the next pass removes exactly the original, once", () =>
    Effect.gen(function*() {
      const message = bankEmail(1)
      yield* seed("INBOX", [message])
      const error = yield* Effect.flip(sortFolder("INBOX"))
      assert.strictEqual(error._tag, "ImapConnectError")
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((entry) => entry.state), ["pending"])
      yield* recoverFolder(yield* (yield* Mailbox).openFolder("INBOX"))
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((entry) => entry.state), ["done"])
      assert.deepStrictEqual(yield* contents("INBOX"), [])
      assert.deepStrictEqual(yield* contents("Folders/Administratif/Banque"), [messageIdOf(message)])
    }).pipe(Effect.provide(testLayer({ mailbox: { move: false }, mailboxWrapper: withFaults({ copyThenDisconnectTargets: ["Folders/Administratif/Banque"] }) }))))

  it.effect("a dry run writes no journal entry", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [bankEmail(1)])
      yield* sortFolder("INBOX")
      assert.deepStrictEqual(yield* (yield* Journal).list({}), [])
    }).pipe(Effect.provide(testLayer({ settings: { dryRun: true } }))))
})

describe("recovery after a crash", () => {
  /** A pending entry, as left by a process killed between the journal write and the server's answer. */
  const pendingMove = (uid: number, message: string, target: string, action: "move" | "label" = "move") =>
    Effect.gen(function*() {
      const inbox = yield* (yield* Mailbox).openFolder("INBOX")
      return yield* (yield* Journal).begin([{
        runId: "crashed",
        messageId: messageIdOf(message),
        fingerprint: fingerprint(Buffer.from(message)),
        source: "INBOX",
        sourceUid: uid,
        sourceUidValidity: inbox.uidValidity,
        target,
        action,
        category: "BANQUE",
        confidence: 0.9,
        classifier: "keyword",
        reason: "test"
      }])
    })

  /** A keyword's move of `message` to Banque, pending in the journal, that the server had carried out. */
  const movedBeforeTheCrash = (message: string) =>
    Effect.gen(function*() {
      const [uid = 0] = yield* seed("INBOX", [message])
      yield* pendingMove(uid, message, "Folders/Administratif/Banque")
      const mailbox = yield* Mailbox
      yield* mailbox.ensureFolder("Folders/Administratif/Banque")
      yield* mailbox.move(yield* mailbox.openFolder("INBOX"), [uid], "Folders/Administratif/Banque")
    })

  it.effect("the move happened before the crash: the entry is done and nothing moves twice", () =>
    Effect.gen(function*() {
      const message = bankEmail(1)
      yield* movedBeforeTheCrash(message)
      yield* sortFolder("INBOX")
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.state), ["done"])
      assert.deepStrictEqual(yield* contents("Folders/Administratif/Banque"), [messageIdOf(message)])
    }).pipe(Effect.provide(testLayer())))

  it.effect("a keyword move the crash left pending is recovered before the learning scan, so not learned as the user's filing", () =>
    Effect.gen(function*() {
      yield* movedBeforeTheCrash(bankEmail(1))
      yield* sortMailbox()
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.state), ["done"])
      const classes = yield* (yield* LearnedModel).classes
      assert.strictEqual(classes.find((c) => c.label === "BANQUE")?.examples ?? 0, 0)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a COPY+EXPUNGE stopped halfway: exactly the source copy is removed, flags kept, other mail untouched", () =>
    Effect.gen(function*() {
      const message = bankEmail(1)
      const bystander = personalEmail(2)
      const [uid = 0] = yield* seed("INBOX", [message], ["\\Flagged"])
      yield* seed("INBOX", [bystander], ["\\Deleted"])
      yield* pendingMove(uid, message, "Folders/Administratif/Banque")
      const mailbox = yield* Mailbox
      yield* mailbox.ensureFolder("Folders/Administratif/Banque")
      yield* mailbox.copy(yield* mailbox.openFolder("INBOX"), [uid], "Folders/Administratif/Banque")
      yield* sortFolder("INBOX")
      assert.deepStrictEqual(yield* contents("Folders/Administratif/Banque"), [`${messageIdOf(message)} \\Flagged`])
      assert.deepStrictEqual(yield* contents("INBOX"), [`${messageIdOf(bystander)} \\Deleted`])
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.state), ["done"])
    }).pipe(Effect.provide(testLayer({ mailbox: { move: false } }))))

  for (const move of [true, false]) {
    it.effect(
      `a copy the user filed before, alike to the first 16 KiB, is not taken for ours: nothing is expunged (${move ? "MOVE" : "COPY fallback"})`,
      () =>
        Effect.gen(function*() {
          const message = bankEmail(1)
          const mailbox = yield* Mailbox
          yield* seed("Folders/Administratif/Banque", [message], ["\\Seen"])
          const [uid = 0] = yield* seed("INBOX", [message])
          const target = yield* mailbox.folderStatus("Folders/Administratif/Banque")
          yield* (yield* Journal).begin([{
            runId: "crashed",
            messageId: messageIdOf(message),
            fingerprint: fingerprint(Buffer.from(message)),
            source: "INBOX",
            sourceUid: uid,
            sourceUidValidity: (yield* mailbox.openFolder("INBOX")).uidValidity,
            target: "Folders/Administratif/Banque",
            action: "move",
            category: "BANQUE",
            confidence: 0.9,
            classifier: "keyword",
            reason: "test",
            targetBefore: { uidNext: target.uidNext, uidValidity: target.uidValidity }
          }])
          const report = yield* sortFolder("INBOX")
          // The entry failed, and the new message was sorted as new mail: both copies are in the folder.
          assert.strictEqual(report.moved, 1)
          assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.state), ["failed", "done"])
          assert.deepStrictEqual(yield* contents("INBOX"), [])
          assert.strictEqual((yield* contents("Folders/Administratif/Banque")).length, 2)
        }).pipe(Effect.provide(testLayer({ mailbox: { move } })))
    )
  }

  it.effect("each move is journaled with its target's UIDNEXT as it was before, for recovery to tell its copy from older ones", () =>
    Effect.gen(function*() {
      yield* seed("Folders/Administratif/Banque", [bankEmail(1)])
      yield* seed("INBOX", [bankEmail(2)])
      const before = yield* (yield* Mailbox).folderStatus("Folders/Administratif/Banque")
      yield* sortFolder("INBOX")
      const [entry] = yield* (yield* Journal).list({})
      assert.deepStrictEqual(entry?.targetBefore, { uidNext: before.uidNext, uidValidity: before.uidValidity })
      assert.isAtLeast(entry?.placed?.uid ?? 0, before.uidNext)
    }).pipe(Effect.provide(testLayer())))

  it.effect("the command never ran: the entry fails and the message is sorted, once", () =>
    Effect.gen(function*() {
      const message = bankEmail(1)
      const [uid = 0] = yield* seed("INBOX", [message])
      yield* pendingMove(uid, message, "Folders/Administratif/Banque")
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.moved, 1)
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.state), ["failed", "done"])
      assert.deepStrictEqual(yield* contents("Folders/Administratif/Banque"), [messageIdOf(message)])
      assert.deepStrictEqual(yield* contents("INBOX"), [])
    }).pipe(Effect.provide(testLayer())))

  it.effect("the warning after a crash says what the check found: made, not made and sorted again, gone", () =>
    Effect.gen(function*() {
      yield* movedBeforeTheCrash(bankEmail(1))
      const notRun = bankEmail(2)
      const [uid = 0] = yield* seed("INBOX", [notRun])
      yield* pendingMove(uid, notRun, "Folders/Administratif/Banque")
      const logs = captureLogs(["Warn"])
      yield* sortFolder("INBOX").pipe(Effect.provide(logs.layer), Effect.provideService(References.MinimumLogLevel, "Warn"))
      assert.deepStrictEqual(logs.lines, [
        "INBOX: checked 2 moves interrupted by a crash: 1 had been made (recorded as done), 1 had not (the message is where it was, and is sorted again)"
      ])
    }).pipe(Effect.provide(testLayer())))

  it.effect("many interrupted moves are checked in a few round trips, not three per move", () =>
    Effect.gen(function*() {
      const messages = Array.from({ length: 20 }, (_, n) => bankEmail(n))
      const uids = yield* seed("INBOX", messages)
      const mailbox = yield* Mailbox
      for (const [index, uid] of uids.entries()) yield* pendingMove(uid, messages[index] ?? "", "Folders/Administratif/Banque")
      yield* mailbox.ensureFolder("Folders/Administratif/Banque")
      const [first = 0, ...rest] = uids
      yield* mailbox.move(yield* mailbox.openFolder("INBOX"), [first, ...rest], "Folders/Administratif/Banque")
      const before = (yield* MemoryMailbox.use((memory) => memory.commands)).length
      yield* sortFolder("INBOX")
      const searches = (yield* MemoryMailbox.use((memory) => memory.commands)).slice(before).filter((c) => c.command === "SEARCH")
      // One SEARCH of the source for every pending entry, one lookup in the target, the pass's own SEARCH.
      assert.strictEqual(searches.length, 3)
      assert.deepStrictEqual(new Set((yield* (yield* Journal).list({})).map((e) => e.state)), new Set(["done"]))
    }).pipe(Effect.provide(testLayer())))

  it.effect("a label copied before the crash is not copied again", () =>
    Effect.gen(function*() {
      const message = workEmail(1)
      const [uid = 0] = yield* seed("INBOX", [message])
      yield* pendingMove(uid, message, "Labels/Travail", "label")
      const mailbox = yield* Mailbox
      yield* mailbox.ensureFolder("Labels/Travail")
      yield* mailbox.copy(yield* mailbox.openFolder("INBOX"), [uid], "Labels/Travail")
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.processed, 0)
      assert.deepStrictEqual(yield* contents("Labels/Travail"), [messageIdOf(message)])
      assert.deepStrictEqual(yield* contents("INBOX"), [messageIdOf(message)])
    }).pipe(Effect.provide(testLayer({ categories: withLabels }))))
})

describe("Bridge semantics", () => {
  it.effect("a Labels/… category adds the label with COPY: the message stays, and is not labelled twice", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [workEmail(1), bankEmail(2)])
      const first = yield* sortFolder("INBOX")
      assert.strictEqual(first.moved, 2)
      assert.strictEqual((yield* contents("Labels/Travail")).length, 1)
      assert.strictEqual((yield* contents("INBOX")).length, 1)
      assert.strictEqual((yield* contents("Folders/Administratif/Banque")).length, 1)
      const commands = yield* MemoryMailbox.use((mailbox) => mailbox.commands)
      assert.deepStrictEqual(commands.filter((c) => c.command === "COPY").map((c) => c.target), ["Labels/Travail"])
      assert.strictEqual((yield* sortFolder("INBOX")).processed, 0)
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.action).sort(), ["label", "move"])
    }).pipe(Effect.provide(testLayer({ categories: withLabels }))))

  it.effect("on Bridge's layout nothing is created outside Folders/ and Labels/: such mail stays, with a reason", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [bankEmail(1)])
      const report = yield* sortFolder("INBOX")
      assert.deepStrictEqual([report.moved, report.failed], [0, 1])
      assert.deepStrictEqual(yield* MemoryMailbox.use((mailbox) => Effect.map(mailbox.folders, (f) => f.includes("Banque"))), false)
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => [e.state, e.note]), [[
        "failed",
        "CREATE on \"Banque\" failed: Bridge refuses it"
      ]])
    }).pipe(Effect.provide(testLayer({
      categories: { BANQUE: { ...defaultCategories["BANQUE"], name: "BANQUE", folder: "Banque", keywords: ["virement"], confidence_threshold: 0.5, priority: 1, description: "" } }
    }))))
})

describe("undo", () => {
  it.effect("puts every message of the last run back where it was, flags intact, and the sorter leaves it there", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [bankEmail(1), workEmail(2)], ["\\Flagged"])
      yield* seed("INBOX", [personalEmail(3)])
      const before = yield* contents("INBOX")
      yield* sortFolder("INBOX")
      assert.strictEqual((yield* contents("INBOX")).length, 1)
      const runId = Option.getOrThrow(yield* (yield* Journal).lastRun)
      const report = yield* undo({ runId })
      assert.deepStrictEqual(report, { restored: 2, alreadyBack: 0, notFound: 0, corrected: 0 })
      assert.deepStrictEqual(yield* contents("INBOX"), before)
      assert.deepStrictEqual(yield* contents("Folders/Travail"), [])
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.state), ["undone", "undone"])
      assert.strictEqual((yield* sortFolder("INBOX")).processed, 0)
      // Repeating it does nothing more.
      assert.deepStrictEqual(yield* undo({ runId }), { restored: 0, alreadyBack: 0, notFound: 0, corrected: 0 })
    }).pipe(Effect.provide(testLayer({ settings: { unseenOnly: false } }))))

  it.effect("an undo interrupted after the move back is completed by the next one; labels are removed", () =>
    Effect.gen(function*() {
      const work = workEmail(1)
      yield* seed("INBOX", [work, bankEmail(2)])
      yield* sortFolder("INBOX")
      // The first undo put the bank message back, then stopped before marking it undone:
      const mailbox = yield* Mailbox
      const bank = yield* mailbox.openFolder("Folders/Administratif/Banque")
      const [bankUid = 0] = yield* mailbox.searchUids(bank, { unseenOnly: false })
      yield* mailbox.move(bank, [bankUid], "INBOX")
      const report = yield* undo({ since: 0 })
      assert.deepStrictEqual(report, { restored: 1, alreadyBack: 1, notFound: 0, corrected: 0 })
      assert.deepStrictEqual(yield* contents("Labels/Travail"), [])
      assert.strictEqual((yield* contents("INBOX")).length, 2)
      assert.strictEqual((yield* sortFolder("INBOX")).processed, 0)
    }).pipe(Effect.provide(testLayer({ categories: withLabels }))))

  it.effect("an undo stopped says how many it put back; each group of moves is finished or not begun", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [bankEmail(1), workEmail(2)])
      yield* sortFolder("INBOX")
      const logs = captureLogs(["Warn"])
      const firstBack = yield* Deferred.make<void>()
      const running = yield* Effect.forkChild(
        undo({ since: 0 }, () => Deferred.succeed(firstBack, undefined)).pipe(
          Effect.provide(logs.layer),
          Effect.provideService(References.MinimumLogLevel, "Warn")
        )
      )
      yield* Deferred.await(firstBack)
      yield* Fiber.interrupt(running)
      assert.deepStrictEqual(logs.lines, ["undo stopped: 1 of 2 messages put back so far; run it again to put back the rest"])
      assert.deepStrictEqual((yield* (yield* Journal).list({})).map((e) => e.state).sort(), ["done", "undone"])
      assert.strictEqual((yield* contents("INBOX")).length, 1)
      assert.deepStrictEqual(yield* undo({ since: 0 }), { restored: 1, alreadyBack: 0, notFound: 0, corrected: 0 })
    }).pipe(Effect.provide(testLayer())))

  it.effect("an entry from before fingerprints were journaled is put back from the target, not taken for another message sharing its Message-ID", () =>
    Effect.gen(function*() {
      const bank = bankEmail(1)
      const messageId = /^Message-ID:.*$/m.exec(bank)?.[0] ?? ""
      // A friend's message carrying the same Message-ID stays in INBOX.
      yield* seed("INBOX", [bank, personalEmail(2).replace(/^Message-ID:.*$/m, messageId)])
      assert.strictEqual((yield* sortFolder("INBOX")).moved, 1)
      yield* (yield* Database).use((db) => db.exec("UPDATE journal SET fingerprint = NULL"))
      assert.deepStrictEqual(yield* undo({ since: 0 }), { restored: 1, alreadyBack: 0, notFound: 0, corrected: 0 })
      assert.deepStrictEqual(yield* contents("Folders/Administratif/Banque"), [])
      assert.strictEqual((yield* contents("INBOX")).length, 2)
    }).pipe(Effect.provide(testLayer())))

  for (const move of [true, false]) {
    it.effect(
      `a message back in INBOX that is still in the target too: ${move ? "with MOVE, a copy the user kept there, left alone" : "without MOVE, an undo cut short, finished"}`,
      () =>
        Effect.gen(function*() {
          yield* seed("INBOX", [bankEmail(1)])
          yield* sortFolder("INBOX")
          const mailbox = yield* Mailbox
          const bank = yield* mailbox.openFolder("Folders/Administratif/Banque")
          yield* mailbox.copy(bank, [1], "INBOX")
          assert.deepStrictEqual(yield* undo({ since: 0 }), { restored: 0, alreadyBack: 1, notFound: 0, corrected: 0 })
          assert.strictEqual((yield* contents("Folders/Administratif/Banque")).length, move ? 1 : 0)
          assert.strictEqual((yield* contents("INBOX")).length, 1)
        }).pipe(Effect.provide(testLayer({ mailbox: { move } })))
    )
  }

  it.effect("a message moved elsewhere since is skipped and stays where the user put it", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [bankEmail(1)])
      yield* sortFolder("INBOX")
      const mailbox = yield* Mailbox
      yield* mailbox.ensureFolder("Folders/Keep")
      const bank = yield* mailbox.openFolder("Folders/Administratif/Banque")
      yield* mailbox.move(bank, [1], "Folders/Keep")
      assert.deepStrictEqual(yield* undo({ since: 0 }), { restored: 0, alreadyBack: 0, notFound: 1, corrected: 0 })
      assert.strictEqual((yield* contents("Folders/Keep")).length, 1)
    }).pipe(Effect.provide(testLayer())))
})


describe("the service", () => {
  it.live("a pass stopped while a round of moves is in flight reports every move the round made", () => {
    const sending = Deferred.makeUnsafe<void>()
    const release = Deferred.makeUnsafe<void>()
    const lines: Array<string> = []
    const logs = Layer.merge(
      Logger.layer([Logger.make<unknown, void>(({ message }) => {
        lines.push(Array.isArray(message) ? message.join(" ") : String(message))
      })]),
      Layer.succeed(References.MinimumLogLevel, "Info")
    )
    return Effect.gen(function*() {
      yield* seed("INBOX", Array.from({ length: 30 }, (_, i) => bankEmail(i)))
      const pass = yield* Effect.forkChild(sortFolder("INBOX"))
      yield* Deferred.await(sending)
      // The stop comes while the server is still answering the round's MOVE.
      const stopping = yield* Effect.forkChild(Fiber.interrupt(pass))
      yield* Effect.sleep("20 millis")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(stopping)
      const moved = (yield* contents("Folders/Administratif/Banque")).length
      assert.isAbove(moved, 0)
      assert.strictEqual(lines.filter((line) => line.startsWith("moved INBOX#")).length, moved)
      assert.isTrue(lines.some((line) => line.startsWith(`INBOX: stopped before the end of the pass: ${moved} moved`)), lines.join("\n"))
      // `status` shows it as the folder's last pass, with what it had not come to as its backlog.
      const passes = yield* Effect.orDie((yield* PassLog).latest)
      assert.deepStrictEqual(passes.map((p) => [p.folder, p.moved, p.error]), [["INBOX", moved, undefined]])
      const [last] = passes
      assert.strictEqual(last?.remaining, 30 - moved - (last?.left ?? 0) - (last?.failed ?? 0))
      assert.isAbove(last?.remaining ?? 0, 0)
    }).pipe(Effect.provide(Layer.merge(
      testLayer({
        mailboxWrapper: withFaults({
          beforeMove: Effect.andThen(Deferred.succeed(sending, undefined), Deferred.await(release))
        })
      }),
      logs
    )))
  })

  it.live("sorts new mail as soon as IDLE announces it, without waiting for the poll interval", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [bankEmail(1)])
      const service = yield* Effect.forkChild(runService)
      yield* Effect.sleep("100 millis")
      assert.strictEqual((yield* contents("INBOX")).length, 0)
      yield* seed("INBOX", [workEmail(2)])
      yield* Effect.sleep("200 millis")
      assert.strictEqual((yield* contents("INBOX")).length, 0)
      assert.strictEqual((yield* contents("Folders/Travail")).length, 1)
      yield* Fiber.interrupt(service)
    }).pipe(Effect.provide(testLayer({ settings: { pollInterval: Duration.hours(1) } }))))

  it.live("a backlog larger than one pass is worked through at once", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", Array.from({ length: 23 }, (_, i) => bankEmail(i)))
      const service = yield* Effect.forkChild(runService)
      yield* Effect.sleep("300 millis")
      assert.strictEqual((yield* contents("Folders/Administratif/Banque")).length, 23)
      yield* Fiber.interrupt(service)
    }).pipe(Effect.provide(testLayer({ settings: { pollInterval: Duration.hours(1), maxEmailsPerFolder: 5 } }))))

  it.live("every failed attempt in an outage says why, retries back off, and sorting resumes when the server is back", () => {
    const logs = captureLogs(["Info", "Warn", "Error"])
    return Effect.gen(function*() {
      yield* seed("INBOX", [bankEmail(1)])
      const service = yield* Effect.forkChild(runService)
      // Backoff: 2 s, 4 s, then the server answers.
      yield* Effect.sleep("7 seconds")
      assert.strictEqual((yield* contents("Folders/Administratif/Banque")).length, 1)
      yield* Fiber.interrupt(service)
      const refused = logs.lines.filter((line) => line.includes("connection refused"))
      assert.deepStrictEqual(refused.map((line) => /attempt (\d+) failed, next in (\d+s)/.exec(line)?.slice(1)), [
        ["1", "2s"],
        ["2", "4s"]
      ])
      // Said once sorting resumed, not an hour later at the next full pass.
      assert.isTrue(logs.lines.some((line) => /^the IMAP server is back, [67] s after the connection was found lost; sorting resumes$/.test(line)), logs.lines.join("\n"))
    }).pipe(
      // Inside the test layer, which keeps only errors.
      Effect.provideService(References.MinimumLogLevel, "Info"),
      Effect.provide(testLayer({ settings: { pollInterval: Duration.hours(1) }, mailboxWrapper: refusingConnections(2) })),
      Effect.provide(logs.layer)
    )
  }, 20_000)
})

describe("mail without a Message-ID", () => {
  it.effect("is still sorted and journaled; undo finds it by the UID the server gave it", () =>
    Effect.gen(function*() {
      yield* seed("INBOX", [rawEmail({ subject: "Virement reçu", body: "compte paiement" }).replace(/^Message-ID:.*\r\n/m, "")])
      const report = yield* sortFolder("INBOX")
      assert.strictEqual(report.moved, 1)
      assert.strictEqual((yield* (yield* Journal).list({}))[0]?.messageId, undefined)
      assert.deepStrictEqual(yield* undo({ since: 0 }), { restored: 1, alreadyBack: 0, notFound: 0, corrected: 0 })
      assert.strictEqual((yield* (yield* MemoryMailbox).messages("INBOX")).length, 1)
    }).pipe(Effect.provide(testLayer())))
})
