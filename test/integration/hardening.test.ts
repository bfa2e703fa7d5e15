/**
 * What a careless user or an attacker does, against real Dovecot on 127.0.0.1: two sorters on one
 * data folder, a hand-filed message sharing a Message-ID, hostile Message-IDs, a UID expunged by
 * another client mid-pass, a target the server refuses, a certificate swapped under the service,
 * a wrong TLS mode, a missing folder, SIGHUP.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { createServer as createTlsServer } from "node:tls"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import Sqlite from "better-sqlite3"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import type { ImapFlow } from "imapflow"
import { inject } from "vitest"
import type { CategoriesFile } from "../../src/domain/Category.ts"
import { Journal } from "../../src/services/Journal.ts"
import { Mailbox } from "../../src/services/Mailbox.ts"
import { cliEnv, occurrences, runCli, startCli } from "../support/cli.ts"
import { ownDovecot, renewCertificate } from "../support/dovecot.ts"
import { bankEmail, personalEmail, rawEmail, workEmail } from "../support/emails.ts"
import {
  appendMessages,
  type DovecotInstance,
  folderState,
  freshUser,
  recordCommands,
  sentCommands,
  withClient
} from "../support/imap.ts"
import { defaultCategories, fileStorage } from "../support/layers.ts"
import { sortOnceLive } from "../support/live.ts"

const bridge = inject("dovecot").bridge

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

/** A config folder holding these categories. */
const configWith = (categories: CategoriesFile): string => {
  const dir = mkdtempSync(join(tmpdir(), "plai-config-"))
  writeFileSync(join(dir, "categories.json"), JSON.stringify(categories))
  return dir
}

const subjects = (instance: DovecotInstance, user: string, folder: string) =>
  Effect.map(promise(() => folderState(instance, user, folder)), (messages) => messages.map((m) => m.subject))

/** Raw control bytes that would reach the terminal. */
// oxlint-disable-next-line no-control-regex -- finding control characters is the point
const controlBytes = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/

describe("one sorter per data folder", () => {
  it.live("a second --once or undo on the same PROTON_LUMO_DATA exits 1 naming the service; kill -9 frees it", () =>
    Effect.gen(function*() {
      const user = freshUser("lock")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      const env = cliEnv(bridge, user, { PROTON_LUMO_POLL_INTERVAL: "600" })
      const service = startCli([], env)
      yield* promise(() => service.waitFor(/moved INBOX#1 /))
      for (const args of [["--once"], ["undo", "--last-run"]]) {
        const second = yield* runCli(args, env)
        assert.strictEqual(second.code, 1, second.stdout + second.stderr)
        assert.match(second.stderr, /another ProtonLumoAI \(pid \d+ on [^,]+, "service" since [^)]+\) is using the data folder/)
      }
      // A dry run changes nothing: it may look while the service runs.
      assert.strictEqual((yield* runCli(["--once", "--dry-run"], env)).code, 0)
      yield* promise(() => service.stop("SIGKILL"))
      const after = yield* runCli(["--once"], env)
      assert.strictEqual(after.code, 0, after.stderr)
    }), 60_000)
})

describe("undo and hostile Message-IDs", () => {
  it.live("undo puts back exactly the message it moved, not a hand-filed one with the same Message-ID", () =>
    Effect.gen(function*() {
      const user = freshUser("undo-twin")
      const sorted = rawEmail({ subject: "Virement reçu", body: "Virement sur votre compte.", messageId: "<twin@bank.example>" })
      const handFiled = rawEmail({ subject: "Kept by hand", body: "Mine.", messageId: "<twin@bank.example>" })
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: sorted }]))
      const env = cliEnv(bridge, user)
      assert.strictEqual((yield* runCli(["--once"], env)).code, 0)
      yield* promise(() => appendMessages(bridge, user, "Folders/Administratif/Banque", [{ source: handFiled }]))
      const undone = yield* runCli(["undo", "--last-run"], env)
      assert.strictEqual(undone.code, 0, undone.stderr)
      assert.include(undone.stdout, "Put back 1 of 1 messages.")
      assert.deepStrictEqual(yield* subjects(bridge, user, "INBOX"), ["Virement reçu"])
      assert.deepStrictEqual(yield* subjects(bridge, user, "Folders/Administratif/Banque"), ["Kept by hand"])
    }), 60_000)

  it.live("a one-character Message-ID (\"@\", in every other message's) does not make undo read the folder's messages", () =>
    Effect.gen(function*() {
      const user = freshUser("undo-at")
      const notes = Array.from({ length: 30 }, (_, n) => ({
        source: rawEmail({ subject: `Note ${n}`, body: "Nothing to sort here.", messageId: `<note-${n}@home.example>` }),
        flags: ["\\Seen"]
      }))
      yield* promise(() => appendMessages(bridge, user, "INBOX", notes))
      const hostile = rawEmail({ subject: "Virement reçu", body: "Virement sur votre compte.", messageId: "@" })
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: hostile }]))
      const env = cliEnv(bridge, user)
      assert.strictEqual((yield* runCli(["--once"], env)).code, 0)
      // The user deletes it from the folder it was sorted to: undo looks for it in both folders.
      yield* promise(() =>
        withClient(bridge, user, async (client) => {
          await client.mailboxOpen("Folders/Administratif/Banque")
          await client.messageDelete("1:*", { uid: true })
        })
      )
      yield* promise(() => recordCommands(bridge, user))
      const undone = yield* runCli(["undo", "--last-run"], env)
      assert.strictEqual(undone.code, 0, undone.stderr)
      assert.include(undone.stdout, "Put back 0 of 1 messages; 1 not found")
      const commands = yield* promise(() => sentCommands(bridge, user))
      // SEARCH matched every note ("@" is in each Message-ID); their envelopes told them apart, no body was read.
      assert.isTrue(commands.some((command) => /UID FETCH .*ENVELOPE/.test(command)), commands.join("\n"))
      assert.deepStrictEqual(commands.filter((command) => /BODY\.PEEK\[\]/.test(command)), [])
    }), 60_000)

  it.live("a Message-ID and subject holding OSC/CSI sequences never reach the terminal raw: sort, history, undo", () =>
    Effect.gen(function*() {
      const user = freshUser("osc")
      const hostile = rawEmail({
        subject: "\u001b]0;owned\u0007Virement compte",
        body: "Virement sur votre compte.",
        messageId: "<\u001b]52;c;aGVsbG8=\u0007x\u009b2J@evil.example>"
      })
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: hostile }]))
      const env = cliEnv(bridge, user)
      const sorted = yield* runCli(["--once", "--dry-run"], { ...env, PROTON_LUMO_LOG_LEVEL: "DEBUG" })
      const moved = yield* runCli(["--once"], env)
      const history = yield* runCli(["history"], env)
      const undone = yield* runCli(["undo", "--last-run"], env)
      for (const run of [sorted, moved, history, undone]) {
        assert.strictEqual(run.code, 0, run.stderr)
        assert.notMatch(run.stdout + run.stderr, controlBytes)
      }
      assert.include(history.stdout, "<\\x1b]52;c;aGVsbG8=\\x07x\\x9b2J@evil.example>")
      assert.include(moved.stdout, "\"\\x1b]0;owned\\x07Virement compte\"")
      assert.include(undone.stdout, "Put back 1 of 1 messages.")
    }), 60_000)
})

/** The live Mailbox, with another client of `user` (a phone, say) doing `act` just before each MOVE is sent. */
const beforeEveryMove = (user: string, act: (client: ImapFlow) => Promise<void>) =>
  Layer.effect(
    Mailbox,
    Effect.map(Effect.service(Mailbox), (inner) =>
      Mailbox.of({
        ...inner,
        move: (folder, uids, target) => Effect.andThen(promise(() => withClient(bridge, user, act)), inner.move(folder, uids, target))
      }))
  )

describe("moves the server confirms", () => {
  it.live("a UID another client expunges between fetch and move is not reported or journaled as moved", () =>
    Effect.gen(function*() {
      const user = freshUser("vanish")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [1, 2, 3].map((n) => ({ source: bankEmail(n) }))))
      const dataDir = mkdtempSync(join(tmpdir(), "plai-vanish-"))
      // Another client (a phone, say) deletes UID 2 just before our MOVE is sent.
      const otherClient = beforeEveryMove(user, async (client) => {
        await client.mailboxOpen("INBOX")
        await client.messageDelete("2", { uid: true })
      })
      const [report] = yield* sortOnceLive(bridge, user, { dataDir, mailboxWrapper: otherClient })
      assert.strictEqual(report?.moved, 2)
      const journal = yield* Journal.use((j) => j.list({})).pipe(Effect.provide(fileStorage(dataDir)))
      assert.deepStrictEqual(journal.map((entry) => [entry.sourceUid, entry.state]).sort(), [[1, "done"], [2, "failed"], [3, "done"]])
      assert.isTrue(journal.filter((entry) => entry.state === "done").every((entry) => entry.placed !== undefined))
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Folders/Administratif/Banque"))).length, 2)
    }))
})

describe("moves the server did not make", () => {
  it.live("a lone message another client took first: the server's OK without COPYUID moved nothing, and nothing is counted", () =>
    Effect.gen(function*() {
      const user = freshUser("gone")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      const dataDir = mkdtempSync(join(tmpdir(), "plai-gone-"))
      // The user's phone files it in a folder of their own just before our MOVE is sent.
      const otherClient = beforeEveryMove(user, async (client) => {
        await client.mailboxCreate("Mine").catch(() => undefined)
        await client.mailboxOpen("INBOX")
        await client.messageMove("1", "Mine", { uid: true })
      })
      const [report] = yield* sortOnceLive(bridge, user, { dataDir, mailboxWrapper: otherClient })
      assert.strictEqual(report?.moved, 0)
      const journal = yield* Journal.use((j) => j.list({})).pipe(Effect.provide(fileStorage(dataDir)))
      assert.deepStrictEqual(journal.map((entry) => [entry.sourceUid, entry.state]), [[1, "failed"]])
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Mine"))).length, 1)
    }))
})

describe("failures that repeat", () => {
  const bank = defaultCategories["BANQUE"]
  if (bank === undefined) throw new Error("the shipped categories have no BANQUE")
  // A name within the rules that the server refuses (Dovecot: "Mailbox name too long"): every move there fails.
  const refusedTarget = configWith({ ...defaultCategories, BANQUE: { ...bank, folder: `Folders/${"B".repeat(300)}` } })
  // Bridge creates folders only under Folders/ and Labels/: a category outside them cannot be filled.
  const unreachableTarget = configWith({ ...defaultCategories, BANQUE: { ...bank, folder: "Banque" } })

  it.live("a category whose folder is missing where the server makes none is warned about at start; its mail is left for now, no failure, and once the folder is made it goes there", () =>
    Effect.gen(function*() {
      const user = freshUser("unreachable")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }, { source: workEmail(2) }]))
      // All of INBOX's mail, read or not: what is left is tried again whatever this setting says.
      const env = cliEnv(bridge, user, { PROTON_LUMO_CONFIG: unreachableTarget, PROTON_LUMO_UNSEEN_ONLY: "false" })
      const warning = `category BANQUE: its folder "Banque" does not exist, and the server creates folders only under Folders/`
      const left = `left INBOX#1 in place: BANQUE (keyword), but its folder "Banque" does not exist and the server creates ` +
        "folders only under Folders/ and labels under Labels/; tried again later"
      // Said at start, by a dry run too; and the dry run says what the run does.
      const dry = yield* runCli(["--once", "--dry-run"], env)
      assert.include(dry.stderr, warning)
      assert.include(dry.stdout + dry.stderr, left)
      const first = yield* runCli(["--once"], env)
      assert.strictEqual(first.code, 0, first.stdout + first.stderr)
      assert.include(first.stdout + first.stderr, left)
      assert.include(first.stdout, "moved INBOX#2 → Folders/Travail")
      // Not before its delay (a minute, then doubling), and never a failure.
      const second = yield* runCli(["--once"], env)
      assert.strictEqual(second.code, 0, second.stdout + second.stderr)
      assert.notInclude(second.stdout + second.stderr, "INBOX#1")
      // The user makes the folder in Proton; the delay passes.
      yield* promise(() => appendMessages(bridge, user, "Banque", []))
      const db = new Sqlite(join(env.PROTON_LUMO_DATA, "protonlumo.db"))
      assert.deepStrictEqual(db.prepare("SELECT uid, deferred FROM retries").all(), [{ uid: 1, deferred: 1 }])
      db.prepare("UPDATE retries SET next_at = 0").run()
      db.close()
      const made = yield* runCli(["--once"], env)
      assert.strictEqual(made.code, 0, made.stdout + made.stderr)
      assert.notInclude(made.stderr, warning)
      assert.include(made.stdout, "moved INBOX#1 → Banque")
    }), 60_000)

  it.live("--once exits 3 while messages could not be sorted; they are retried after a delay, not at every run", () =>
    Effect.gen(function*() {
      const user = freshUser("fail")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }, { source: workEmail(2) }]))
      const env = cliEnv(bridge, user, { PROTON_LUMO_CONFIG: refusedTarget })
      const first = yield* runCli(["--once"], env)
      assert.strictEqual(first.code, 3, first.stdout + first.stderr)
      assert.match(first.stderr, /not sorted INBOX#1 \(move failed\)/)
      assert.include(first.stderr, "1 message could not be sorted")
      assert.include(first.stdout, "moved INBOX#2 → Folders/Travail")
      // A folder made for the sorter's moves is said (one the user renamed or deleted comes back this way).
      assert.include(first.stdout, "created the folder Folders/Travail: it was not on the server")
      const second = yield* runCli(["--once"], env)
      assert.strictEqual(second.code, 3)
      assert.notInclude(second.stderr, "not sorted INBOX#1")
      assert.include(second.stdout, "INBOX: 1 messages that failed before wait for their next try")
    }), 60_000)

  it.live("a category whose folder is the Trash is warned about at start", () =>
    Effect.gen(function*() {
      const letters = defaultCategories["NEWSLETTER"]
      if (letters === undefined) return assert.fail("the shipped categories have no NEWSLETTER")
      const env = cliEnv(bridge, freshUser("trash"), {
        PROTON_LUMO_CONFIG: configWith({ ...defaultCategories, NEWSLETTER: { ...letters, folder: "Trash" } })
      })
      const run = yield* runCli(["--once", "--dry-run"], env)
      assert.strictEqual(run.code, 0, run.stdout + run.stderr)
      assert.include(run.stderr, `category NEWSLETTER: its folder "Trash" is your Trash folder`)
      assert.notInclude(run.stderr, "category PRO:")
    }), 60_000)

  it.live("two categories naming one folder are warned about at start: the mail there is learned as the first's", () =>
    Effect.gen(function*() {
      const letters = defaultCategories["NEWSLETTER"]
      const social = defaultCategories["SOCIAL"]
      if (letters === undefined || social === undefined) return assert.fail("the shipped categories have no NEWSLETTER or SOCIAL")
      const env = cliEnv(bridge, freshUser("shared"), {
        // NEWSLETTER comes after SOCIAL in the file.
        PROTON_LUMO_CONFIG: configWith({ ...defaultCategories, NEWSLETTER: { ...letters, folder: social.folder } })
      })
      const run = yield* runCli(["--once", "--dry-run"], env)
      assert.strictEqual(run.code, 0, run.stdout + run.stderr)
      assert.include(
        run.stderr,
        `category NEWSLETTER: its folder "${social.folder}" is category SOCIAL's too: the learned model learns the mail there ` +
          "as SOCIAL's, never as NEWSLETTER's (give each category a folder of its own)"
      )
      assert.notInclude(run.stderr, "category SOCIAL:")
    }), 60_000)

  it.live("the service does not retry a failing message at every IDLE wake-up", () =>
    Effect.gen(function*() {
      const user = freshUser("fail-idle")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      const service = startCli([], cliEnv(bridge, user, { PROTON_LUMO_CONFIG: refusedTarget, PROTON_LUMO_POLL_INTERVAL: "1" }))
      yield* promise(() => service.waitFor(/not sorted INBOX#1/))
      for (let n = 2; n <= 5; n++) {
        yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: workEmail(n) }]))
        yield* promise(() => service.waitFor(new RegExp(`moved INBOX#${n} `)))
      }
      yield* Effect.sleep("2 seconds")
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
      assert.strictEqual(occurrences(service.output(), /not sorted INBOX#1 /), 1, service.output())
    }), 60_000)
})

describe("settings a careless user gets wrong", () => {
  it.live("a source folder that does not exist: exit 1 naming it, before any folder is sorted; a folder named twice is sorted once", () =>
    Effect.gen(function*() {
      const user = freshUser("folders")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      const missing = yield* runCli(["--once"], cliEnv(bridge, user, { PROTON_LUMO_FOLDERS: "INBOX,Nonexistent" }))
      assert.strictEqual(missing.code, 1)
      assert.include(missing.stderr, "cannot sort folder \"Nonexistent\": it does not exist on the server; nothing was sorted")
      assert.include(missing.stderr, "PROTON_LUMO_FOLDERS names \"Nonexistent\", which cannot be sorted")
      assert.notMatch(missing.stdout, /moved INBOX#/, missing.stdout)
      const twice = yield* runCli(["--once"], cliEnv(bridge, user, { PROTON_LUMO_FOLDERS: "INBOX, inbox,INBOX" }))
      assert.strictEqual(twice.code, 0, twice.stderr)
      assert.strictEqual(occurrences(twice.stdout, /Performance Metrics: INBOX/), 1)
    }))

  it.live("--once says how many messages are left beyond the per-pass limit, and how to sort them", () =>
    Effect.gen(function*() {
      const user = freshUser("remaining")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [1, 2, 3, 4, 5].map((n) => ({ source: personalEmail(n) }))))
      const run = yield* runCli(["--once"], cliEnv(bridge, user, { PROTON_LUMO_MAX_EMAILS_PER_FOLDER: "3" }))
      assert.strictEqual(run.code, 0, run.stderr)
      assert.match(run.stdout, /INBOX: 2 more unsorted messages wait .* run --once again, raise that setting, or run the service/)
    }))

  it.live("PROTON_LUMO_IMAP_TLS=tls on a STARTTLS port: a plain hint, no OpenSSL text", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["--once"], cliEnv(bridge, freshUser(), { PROTON_LUMO_IMAP_TLS: "tls" }))
      assert.strictEqual(run.code, 1)
      assert.include(run.stderr, "set PROTON_LUMO_IMAP_TLS=starttls")
      assert.notMatch(run.stderr, /SSL routines|ssl3_get_record|^\s+at /m)
    }))

  it.live("DEBUG shows the IMAP commands sent, without the password or message text; INFO does not", () =>
    Effect.gen(function*() {
      const user = freshUser("debug")
      const secretBody = "the body text nobody should log 4242"
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", [{ source: rawEmail({ subject: "Virement compte", body: `Virement. ${secretBody}` }) }])
      )
      const debug = yield* runCli(["--once", "--dry-run"], cliEnv(bridge, user, { PROTON_LUMO_LOG_LEVEL: "DEBUG" }))
      assert.strictEqual(debug.code, 0, debug.stderr)
      assert.match(debug.stdout, /DEBUG IMAP > .*UID FETCH 1 \(UID FLAGS INTERNALDATE RFC822\.SIZE BODY\.PEEK\[\]<0\.262144>\)/)
      // The client's ID names ProtonLumoAI alone, not with the IMAP library's version and vendor.
      assert.match(debug.stdout, /DEBUG IMAP > \d+ ID \("name" "ProtonLumoAI"\)$/m)
      assert.match(debug.stdout, /DEBUG IMAP > .*EXAMINE INBOX/)
      assert.notInclude(debug.stdout + debug.stderr, bridge.password)
      assert.notInclude(debug.stdout + debug.stderr, secretBody)
      const info = yield* runCli(["--once", "--dry-run"], cliEnv(bridge, user))
      assert.notInclude(info.stdout, "IMAP >")
    }))

  it.live("a dry run opens folders read-only (EXAMINE), never SELECT", () =>
    Effect.gen(function*() {
      const user = freshUser("examine")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      yield* promise(() => recordCommands(bridge, user))
      const [report] = yield* sortOnceLive(bridge, user, { settings: { dryRun: true } })
      assert.strictEqual(report?.moved, 1)
      const commands = yield* promise(() => sentCommands(bridge, user))
      assert.isTrue(commands.some((command) => /^EXAMINE INBOX/i.test(command)), commands.join("\n"))
      assert.deepStrictEqual(commands.filter((command) => /^SELECT\b/i.test(command)), [])
    }))
})

describe("a server that stops answering", () => {
  it.live("after the greeting: given up on within the connect limit, as a server that stopped answering", () =>
    Effect.gen(function*() {
      // Implicit TLS with the test Dovecot's own certificate; it greets and logs in, then says nothing more.
      const stalled = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<{ port: number; close: () => void }>((resolve) => {
            const server = createTlsServer({
              cert: readFileSync(bridge.caFile),
              key: readFileSync(join(dirname(bridge.caFile), "key.pem"))
            }, (socket) => {
              socket.on("error", () => undefined)
              socket.write("* OK [CAPABILITY IMAP4rev1] ready\r\n")
              socket.on("data", (data: Buffer) => {
                const [tag = "*", command = ""] = data.toString("latin1").split(" ")
                if (/^(CAPABILITY|ID|LOGIN)/i.test(command)) socket.write(`${tag} OK [CAPABILITY IMAP4rev1] done\r\n`)
              })
            })
            server.listen(0, "127.0.0.1", () =>
              resolve({
                port: (server.address() as AddressInfo).port, // node:tls boundary: a TCP listener has an AddressInfo
                close: () => server.close()
              }))
          })
        ),
        (server) => Effect.sync(server.close)
      )
      const started = Date.now()
      const failure = yield* Effect.flip(Effect.scoped(Layer.build(Mailbox.layerImap({
        host: "127.0.0.1",
        port: stalled.port,
        user: "someone",
        password: Redacted.make("pw"),
        tls: "tls",
        caFile: Option.some(bridge.caFile),
        tlsVerify: true
      }, { connectWithin: Duration.seconds(2) }))))
      assert.include(failure.message, "the server stopped answering while connecting")
      assert.isBelow(Date.now() - started, 15_000)
    }))
})

describe("the service's lifecycle", () => {
  it.live("mail left in place is looked at again, once, after categories.json changes", () =>
    Effect.gen(function*() {
      const user = freshUser("recheck")
      const config = configWith(defaultCategories)
      const env = cliEnv(bridge, user, { PROTON_LUMO_CONFIG: config })
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: rawEmail({ subject: "A zebra", body: "zebra" }) }]))
      const first = yield* runCli(["--once"], env)
      assert.match(first.stdout, /left INBOX#1 in place/, first.stdout + first.stderr)
      const unchanged = yield* runCli(["--once"], env)
      assert.notMatch(unchanged.stdout, /INBOX#1/)
      writeFileSync(join(config, "categories.json"), JSON.stringify({
        ...defaultCategories,
        ZEBRA: { name: "Zebra", folder: "Folders/Zebra", keywords: ["zebra"], confidence_threshold: 0.5, priority: 9, description: "Zebras" }
      }))
      const changed = yield* runCli(["--once"], env)
      assert.include(changed.stdout, "INBOX: categories.json has changed: the 1 message(s) left here before are looked at again")
      assert.match(changed.stdout, /moved INBOX#1 → Folders\/Zebra/)
      assert.deepStrictEqual(yield* subjects(bridge, user, "Folders/Zebra"), ["A zebra"])
    }))

  it.live("SIGHUP reloads categories.json; an invalid edit is reported and the running settings kept", () =>
    Effect.gen(function*() {
      const user = freshUser("hup")
      const config = configWith(defaultCategories)
      const service = startCli([], cliEnv(bridge, user, { PROTON_LUMO_CONFIG: config, PROTON_LUMO_POLL_INTERVAL: "1" }))
      yield* promise(() => service.waitFor(/sorting INBOX:/))
      writeFileSync(join(config, "categories.json"), "{ not json")
      service.signal("SIGHUP")
      yield* promise(() => service.waitFor(/still sorting with the settings in force/))
      writeFileSync(join(config, "categories.json"), JSON.stringify({
        ...defaultCategories,
        ZEBRA: {
          name: "Zebra",
          folder: "Folders/Zebra",
          keywords: ["zebra"],
          confidence_threshold: 0.5,
          priority: 9,
          description: "Zebras"
        }
      }))
      service.signal("SIGHUP")
      yield* promise(() => service.waitFor(/settings reloaded; restarting with them/))
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: rawEmail({ subject: "A zebra", body: "zebra" }) }]))
      yield* promise(() => service.waitFor(/moved INBOX#1 → Folders\/Zebra/))
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
    }), 60_000)

  it.live("SIGHUP reads the settings file (PROTON_LUMO_ENV_FILE) again", () =>
    Effect.gen(function*() {
      const user = freshUser("hup-env")
      const envFile = join(mkdtempSync(join(tmpdir(), "plai-env-")), "settings.env")
      writeFileSync(envFile, "PROTON_LUMO_POLL_INTERVAL=600\n")
      const service = startCli([], { ...cliEnv(bridge, user), PROTON_LUMO_ENV_FILE: envFile })
      yield* promise(() => service.waitFor(/sorting INBOX: .*everything every 10m; 1 IMAP connection \(/))
      // A log level the next start would refuse is refused now, not taken in silence.
      writeFileSync(envFile, "PROTON_LUMO_POLL_INTERVAL=30\nPROTON_LUMO_LOG_LEVEL=LOUD\n")
      service.signal("SIGHUP")
      yield* promise(() => service.waitFor(/PROTON_LUMO_LOG_LEVEL.*; still sorting with the settings in force/))
      writeFileSync(envFile, "PROTON_LUMO_POLL_INTERVAL=30\n")
      service.signal("SIGHUP")
      yield* promise(() => service.waitFor(/settings reloaded; restarting with them[\s\S]*everything every 30s/))
      assert.notMatch(service.output(), /every 30s[\s\S]*LOUD|settings reloaded[\s\S]*settings reloaded/)
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
    }), 60_000)

  it.live("a certificate swapped under the running service: one plain ERROR, retries, and it resumes once re-pinned", () =>
    Effect.gen(function*() {
      const { base, instance } = yield* ownDovecot("plai-cert-")
      const user = freshUser("cert")
      // The user's exported copy of the certificate, as Bridge's export would be.
      const pinnedDir = join(base, "exported")
      mkdirSync(pinnedDir)
      const pinned = join(pinnedDir, "cert.pem")
      copyFileSync(instance.caFile, pinned)
      const service = startCli([], cliEnv(instance, user, { PROTON_LUMO_IMAP_CA_FILE: pinned, PROTON_LUMO_POLL_INTERVAL: "1" }))
      yield* promise(() => service.waitFor(/sorting INBOX:/))
      yield* promise(() => renewCertificate(instance))
      yield* promise(() => service.waitFor(/ERROR .*the server's certificate \(SHA-256 [0-9A-F:]+…\) is not the one pinned/))
      // It keeps trying, and says so, without repeating the ERROR for the same certificate.
      yield* promise(() => service.waitFor(/attempt 3 failed/, 20_000))
      assert.strictEqual(occurrences(service.output(), /ERROR .*is not the one pinned/), 1, service.output())
      copyFileSync(instance.caFile, pinned)
      yield* promise(() => service.waitFor(/the IMAP server is back, \d+ s after the connection was found lost/, 30_000))
      yield* promise(() => appendMessages(instance, user, "INBOX", [{ source: bankEmail(1) }]))
      yield* promise(() => service.waitFor(/moved INBOX#1 /))
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
    }), 90_000)
})
