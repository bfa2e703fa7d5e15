/** The pipeline against a real IMAP server: private Dovecot instances on 127.0.0.1. */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { bankEmail, personalEmail, rawEmail, workEmail } from "../support/emails.ts"
import {
  appendMessages,
  folderState,
  freshUser,
  listFolders,
  mailboxState,
  recordCommands,
  sentCommands
} from "../support/imap.ts"
import { sortOnceLive } from "../support/live.ts"
import { samples } from "../support/samples.ts"

const dovecot = inject("dovecot")

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

/** Where each Message-ID is, and the total count: for conservation checks. */
const placement = (state: Record<string, ReadonlyArray<{ readonly messageId: string | undefined }>>) => {
  const where = new Map<string, Array<string>>()
  let total = 0
  for (const [folder, messages] of Object.entries(state)) {
    for (const message of messages) {
      total += 1
      const id = message.messageId ?? "?"
      where.set(id, [...(where.get(id) ?? []), folder])
    }
  }
  return { where, total }
}

const changesMailbox = (command: string) => /^(UID )?(MOVE|COPY|STORE|EXPUNGE)\b|^(CREATE|APPEND|DELETE)\b/i.test(command)

describe("sorting a real mailbox (Dovecot with Bridge's capabilities)", () => {
  const bridge = dovecot.bridge

  it.live("sorts the sample mailbox by keywords: each message once, in its folder, none lost", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() => appendMessages(bridge, user, "INBOX", samples.map((sample) => ({ source: sample.source }))))
      const [report] = yield* sortOnceLive(bridge, user)
      assert.deepStrictEqual([report?.processed, report?.moved, report?.failed], [46, 38, 0])
      const { where, total } = placement(yield* promise(() => mailboxState(bridge, user)))
      assert.strictEqual(total, samples.length)
      for (const sample of samples) assert.deepStrictEqual(where.get(sample.messageId), [sample.expectedFolder], sample.file)
    }))

  it.live("creates missing nested target folders", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      assert.notInclude(yield* promise(() => listFolders(bridge, user)), "Folders/Administratif")
      yield* sortOnceLive(bridge, user)
      const folders = yield* promise(() => listFolders(bridge, user))
      assert.includeMembers(folders, ["Folders/Administratif", "Folders/Administratif/Banque"])
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Folders/Administratif/Banque"))).length, 1)
    }))

  it.live("keeps \\Seen and \\Flagged, and never marks unread mail read", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", [
          { source: bankEmail(1) },
          { source: bankEmail(2), flags: ["\\Flagged"] },
          { source: bankEmail(3), flags: ["\\Seen", "\\Flagged"] },
          { source: personalEmail(4) }
        ])
      )
      yield* sortOnceLive(bridge, user, { settings: { unseenOnly: false } })
      const moved = yield* promise(() => folderState(bridge, user, "Folders/Administratif/Banque"))
      assert.deepStrictEqual(
        moved.map((message) => `${message.subject}: ${message.flags.join(" ")}`).sort(),
        ["Virement reçu 1: ", "Virement reçu 2: \\Flagged", "Virement reçu 3: \\Flagged \\Seen"]
      )
      const left = yield* promise(() => folderState(bridge, user, "INBOX"))
      assert.deepStrictEqual(left.map((message) => message.flags), [[]])
    }))

  it.live("mail the user marked \\Deleted (not expunged yet) is not sorted, read or unread", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", [
          { source: bankEmail(1), flags: ["\\Deleted"] },
          { source: bankEmail(2), flags: ["\\Seen", "\\Deleted"] },
          { source: bankEmail(3) }
        ])
      )
      yield* sortOnceLive(bridge, user, { settings: { unseenOnly: false } })
      const moved = yield* promise(() => folderState(bridge, user, "Folders/Administratif/Banque"))
      assert.deepStrictEqual(moved.map((message) => message.subject), ["Virement reçu 3"])
      const left = yield* promise(() => folderState(bridge, user, "INBOX"))
      assert.deepStrictEqual(left.map((message) => [message.subject, message.flags.join(" ")]), [
        ["Virement reçu 1", "\\Deleted"],
        ["Virement reçu 2", "\\Deleted \\Seen"]
      ])
    }))

  it.live("reads with range FETCHes of BODY.PEEK and moves with one UID MOVE per folder per batch", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", [
          ...[1, 2, 3, 4, 5, 6].map((n) => ({ source: bankEmail(n) })),
          ...[7, 8, 9, 10].map((n) => ({ source: workEmail(n) }))
        ])
      )
      yield* promise(() => recordCommands(bridge, user))
      yield* sortOnceLive(bridge, user)
      const commands = yield* promise(() => sentCommands(bridge, user))
      const fetches = commands.filter((command) => /^UID FETCH/i.test(command))
      assert.deepStrictEqual(fetches, ["UID FETCH 1:10 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]<0.262144>)"])
      const moves = commands.filter((command) => /^UID MOVE/i.test(command)).sort()
      assert.deepStrictEqual(moves, ["UID MOVE 1:6 Folders/Administratif/Banque", "UID MOVE 7:10 Folders/Travail"])
    }))

  it.live("a dry run leaves the server exactly as it was and sends no command that changes it", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", samples.slice(0, 20).map((sample) => ({ source: sample.source })))
      )
      const before = yield* promise(() => mailboxState(bridge, user))
      yield* promise(() => recordCommands(bridge, user))
      const [report] = yield* sortOnceLive(bridge, user, { settings: { dryRun: true } })
      assert.isAbove(report?.moved ?? 0, 10)
      assert.deepStrictEqual(yield* promise(() => mailboxState(bridge, user)), before)
      assert.deepStrictEqual((yield* promise(() => sentCommands(bridge, user))).filter(changesMailbox), [])
    }))

  it.live("a second run changes nothing and sends no MOVE", () =>
    Effect.gen(function*() {
      const user = freshUser()
      const dataDir = mkdtempSync(join(tmpdir(), "plai-data-"))
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", samples.slice(20, 46).map((sample) => ({ source: sample.source })))
      )
      yield* sortOnceLive(bridge, user, { dataDir })
      const afterFirst = yield* promise(() => mailboxState(bridge, user))
      yield* promise(() => recordCommands(bridge, user))
      const [second] = yield* sortOnceLive(bridge, user, { dataDir })
      assert.strictEqual(second?.processed, 0)
      assert.deepStrictEqual(yield* promise(() => mailboxState(bridge, user)), afterFirst)
      assert.deepStrictEqual((yield* promise(() => sentCommands(bridge, user))).filter(changesMailbox), [])
      const database = readFileSync(join(dataDir, "protonlumo.db"))
      assert.isFalse(database.includes(bridge.password))
    }))

  it.live("malformed MIME does not stop the run: the good mail is sorted, the rest stays", () =>
    Effect.gen(function*() {
      const user = freshUser()
      const garbage = [
        Buffer.from([0, 1, 2, 3, 255, 254, 10, 13, 10]),
        "Subject: =?UTF-8?B?!!!?=\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        "Content-Type: text/plain; charset=\"\r\n\r\n\u0000\u0000",
        rawEmail({ subject: "Virement", body: "compte paiement" }).replace("Content-Type: text/plain", "Content-Type: multipart/alternative; boundary=zz")
      ]
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", [
          { source: bankEmail(1) },
          ...garbage.map((source) => ({ source })),
          { source: workEmail(2) }
        ])
      )
      const [report] = yield* sortOnceLive(bridge, user)
      assert.strictEqual(report?.processed, 6)
      assert.strictEqual(yield* promise(() => folderState(bridge, user, "Folders/Travail")).pipe(Effect.map((m) => m.length)), 1)
      const { total } = placement(yield* promise(() => mailboxState(bridge, user)))
      assert.strictEqual(total, 6)
      assert.isAtLeast(report?.moved ?? 0, 2)
    }))
})

describe("servers without MOVE", () => {
  it.live("without MOVE: UID COPY + \\Deleted + UID EXPUNGE of exactly those UIDs; mail the user marked \\Deleted survives", () =>
    Effect.gen(function*() {
      const nomove = dovecot.nomove
      const user = freshUser()
      yield* promise(() =>
        appendMessages(nomove, user, "INBOX", [
          { source: bankEmail(1) },
          { source: personalEmail(2), flags: ["\\Deleted"] },
          { source: bankEmail(3) }
        ])
      )
      yield* promise(() => recordCommands(nomove, user))
      const [report] = yield* sortOnceLive(nomove, user)
      assert.strictEqual(report?.moved, 2)
      const inbox = yield* promise(() => folderState(nomove, user, "INBOX"))
      assert.deepStrictEqual(inbox.map((message) => [message.subject, message.flags]), [["Dîner samedi 2", ["\\Deleted"]]])
      assert.strictEqual((yield* promise(() => folderState(nomove, user, "Folders/Administratif/Banque"))).length, 2)
      const commands = (yield* promise(() => sentCommands(nomove, user))).filter(changesMailbox)
      assert.deepStrictEqual(commands.filter((command) => /^CREATE/i.test(command)).length, 2)
      assert.deepStrictEqual(commands.filter((command) => !/^CREATE/i.test(command)), [
        "UID COPY 1,3 Folders/Administratif/Banque",
        "UID STORE 1,3 +FLAGS (\\Deleted)",
        "UID EXPUNGE 1,3"
      ])
    }))

  it.live("without MOVE and UIDPLUS: refuses to move, so nothing changes, and says why", () =>
    Effect.gen(function*() {
      const bare = dovecot["nomove-nouidplus"]
      const user = freshUser()
      yield* promise(() => appendMessages(bare, user, "INBOX", [{ source: bankEmail(1) }, { source: workEmail(2) }]))
      const before = yield* promise(() => folderState(bare, user, "INBOX"))
      yield* promise(() => recordCommands(bare, user))
      const [report] = yield* sortOnceLive(bare, user)
      assert.deepStrictEqual([report?.moved, report?.failed], [0, 2])
      assert.deepStrictEqual(yield* promise(() => folderState(bare, user, "INBOX")), before)
      const commands = yield* promise(() => sentCommands(bare, user))
      assert.deepStrictEqual(commands.filter((command) => /MOVE|COPY|STORE|EXPUNGE/i.test(command)), [])
    }))
})
