/**
 * Never lose, duplicate or misfile mail, against real Dovecot: kill -9 during a long run, a
 * server restart mid-run, a UIDVALIDITY change, SIGTERM timing, IDLE pickup, undo.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { inject } from "vitest"
import { Journal } from "../../src/services/Journal.ts"
import { occurrences, runCli, startCli } from "../support/cli.ts"
import { ownDovecot, restartDovecot } from "../support/dovecot.ts"
import { bankEmail, personalEmail, travelEmail, workEmail } from "../support/emails.ts"
import { appendMessages, type DovecotInstance, folderState, freshUser, mailboxState, withClient } from "../support/imap.ts"
import { corpus, truthFolder, truthOf } from "../support/corpus.ts"
import { fakeLlmServer, oracle } from "../support/fakeLlmServer.ts"
import { defaultCategories, fileStorage } from "../support/layers.ts"
import { messageIdOf } from "../support/placement.ts"
import { sortOnceLive } from "../support/live.ts"
import type { SortSettings } from "../../src/services/Settings.ts"

const bridge = inject("dovecot").bridge

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

interface Seeded {
  readonly source: string
  readonly flags: ReadonlyArray<string>
  readonly messageId: string
  readonly folder: string
}

const kinds: ReadonlyArray<readonly [(n: number) => string, string]> = [
  [bankEmail, "Folders/Administratif/Banque"],
  [workEmail, "Folders/Travail"],
  [travelEmail, "Folders/Voyages"],
  [personalEmail, "INBOX"]
]
const flagSets: ReadonlyArray<ReadonlyArray<string>> = [[], ["\\Seen"], ["\\Flagged"], ["\\Flagged", "\\Seen"], ["\\Answered"]]

/** `n` messages: three sortable kinds and one that stays, with varied flags. */
const mixed = (n: number): ReadonlyArray<Seeded> =>
  Array.from({ length: n }, (_, i) => {
    const [make, folder] = kinds[i % kinds.length] ?? kinds[0] ?? [bankEmail, "INBOX"]
    const source = make(i)
    return { source, flags: flagSets[Math.floor(i / 4) % flagSets.length] ?? [], messageId: messageIdOf(source), folder }
  })

const seed = (instance: DovecotInstance, user: string, messages: ReadonlyArray<Seeded>) =>
  promise(() => appendMessages(instance, user, "INBOX", messages.map((m) => ({ source: m.source, flags: [...m.flags] }))))

/** Every message exactly once, in its folder, with its flags; returns what is wrong, if anything. */
const misplaced = (instance: DovecotInstance, user: string, messages: ReadonlyArray<Seeded>) =>
  Effect.map(promise(() => mailboxState(instance, user)), (state) => {
    const found = new Map<string, Array<string>>()
    for (const [folder, list] of Object.entries(state)) {
      for (const message of list) {
        const id = message.messageId ?? "?"
        found.set(id, [...(found.get(id) ?? []), `${folder} ${message.flags.join(" ")}`.trim()])
      }
    }
    const problems: Array<string> = []
    for (const message of messages) {
      const expected = `${message.folder} ${[...message.flags].sort().join(" ")}`.trim()
      const where = found.get(message.messageId) ?? []
      if (where.length !== 1 || where[0] !== expected) problems.push(`${message.messageId}: ${where.join(" | ") || "lost"} ≠ ${expected}`)
    }
    const total = [...found.values()].reduce((sum, places) => sum + places.length, 0)
    if (total !== messages.length) problems.push(`${total} messages on the server, ${messages.length} seeded`)
    return problems
  })

const serviceEnv = (instance: DovecotInstance, user: string, dataDir: string, extra: Record<string, string> = {}) => ({
  PROTON_BRIDGE_HOST: instance.host,
  PROTON_BRIDGE_PORT: String(instance.port),
  PROTON_USERNAME: user,
  PROTON_PASSWORD: instance.password,
  PROTON_LUMO_IMAP_CA_FILE: instance.caFile,
  PROTON_LUMO_DATA: dataDir,
  PROTON_LUMO_UNSEEN_ONLY: "false",
  PROTON_LUMO_METRICS_ENABLED: "false",
  ...extra
})

/** Until INBOX holds only what stays there. */
const untilSorted = (instance: DovecotInstance, user: string, messages: ReadonlyArray<Seeded>, timeoutMillis = 60_000) =>
  promise(async () => {
    const staying = messages.filter((m) => m.folder === "INBOX").length
    const started = Date.now()
    while ((await folderState(instance, user, "INBOX")).length > staying) {
      if (Date.now() - started > timeoutMillis) throw new Error("the mailbox was not sorted in time")
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
  })

const pendingEntries = (dataDir: string) =>
  Journal.use((journal) => journal.list({ states: ["pending"] })).pipe(Effect.provide(fileStorage(dataDir)))

const moves = (output: string) => occurrences(output, /moved INBOX#\d+ /)

/**
 * Keywords sort a thousand of these in about a second: an LLM answering in 250 ms, asked for
 * every message, keeps a run going long enough for a kill or a signal to land in its middle.
 */
const pacedLlm = Effect.gen(function*() {
  const truth = (subject: string) =>
    subject.startsWith("Virement") ? "BANQUE" : subject.startsWith("Réunion") ? "PRO" : subject.startsWith("Votre billet") ? "VOYAGES" : "NONE"
  const llm = yield* fakeLlmServer((request) => ({ ...oracle(truth)(request), delayMillis: 250 }))
  return { PROTON_LUMO_LLM_BASE_URL: llm.baseUrl, PROTON_LUMO_LLM_MODEL: "test-model", PROTON_LUMO_LLM_SKIP_CONFIDENT: "false" }
})

describe("exactly once, whatever happens", () => {
  it.live("kill -9 four times during a run over 1,000 messages: each one ends up once, in its place, flags intact", () =>
    Effect.gen(function*() {
      const user = freshUser("kill")
      const messages = mixed(1000)
      yield* seed(bridge, user, messages)
      const dataDir = mkdtempSync(join(tmpdir(), "plai-kill-"))
      const env = serviceEnv(bridge, user, dataDir, {
        PROTON_LUMO_MAX_EMAILS_PER_FOLDER: "100",
        PROTON_LUMO_POLL_INTERVAL: "1",
        ...(yield* pacedLlm)
      })
      let killed = 0
      for (const after of [40, 130, 75, 160]) {
        const service = startCli([], env)
        // The model sorts hundreds at once: the runs before may have left fewer than `after` to move.
        yield* Effect.race(promise(() => service.waitFor((output) => moves(output) >= after)), untilSorted(bridge, user, messages))
        assert.strictEqual(yield* promise(() => service.stop("SIGKILL")), null)
        killed += 1
      }
      const last = startCli([], env)
      // Up and running before it is asked to stop (the killed ones may have sorted everything) …
      yield* promise(() => last.waitFor(/ProtonLumoAI on /))
      yield* untilSorted(bridge, user, messages)
      // … and it settles what they left pending.
      yield* Effect.repeat(pendingEntries(dataDir), {
        until: (pending) => pending.length === 0,
        schedule: Schedule.spaced("300 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))
      })
      assert.strictEqual(yield* promise(() => last.stop("SIGTERM")), 0)
      assert.strictEqual(killed, 4)
      assert.deepStrictEqual(yield* misplaced(bridge, user, messages), [])
      assert.deepStrictEqual(yield* pendingEntries(dataDir), [])
      const done = yield* Journal.use((journal) => journal.list({ states: ["done"] })).pipe(Effect.provide(fileStorage(dataDir)))
      assert.strictEqual(done.length, messages.filter((m) => m.folder !== "INBOX").length)
    }), 180_000)

  it.live("the IMAP server restarts mid-run: the service says why each attempt failed, reconnects and completes", () =>
    Effect.gen(function*() {
      const { instance } = yield* ownDovecot("plai-restart-")
      const user = freshUser("restart")
      // An LLM answering in 300 ms keeps the run going for a few seconds: the restart lands in its middle.
      const emails = corpus(600, 41)
      const llm = yield* fakeLlmServer((request) => ({ ...oracle(truthOf(emails))(request), delayMillis: 300 }))
      const messages: ReadonlyArray<Seeded> = emails.map((email) => ({
        source: email.source,
        flags: [],
        messageId: email.messageId,
        folder: truthFolder(email.truth)
      }))
      yield* seed(instance, user, messages)
      const dataDir = mkdtempSync(join(tmpdir(), "plai-restart-data-"))
      const service = startCli([], serviceEnv(instance, user, dataDir, {
        PROTON_LUMO_POLL_INTERVAL: "1",
        PROTON_LUMO_MAX_EMAILS_PER_FOLDER: "1000",
        PROTON_LUMO_LLM_BASE_URL: llm.baseUrl,
        PROTON_LUMO_LLM_MODEL: "test-model"
      }))
      yield* promise(() => service.waitFor((output) => moves(output) >= 60))
      yield* promise(() => restartDovecot(instance, 1500))
      assert.isBelow(moves(service.output()), 500, "the run ended before the restart")
      yield* untilSorted(instance, user, messages)
      yield* promise(() => service.waitFor(/the IMAP server is back, \d+ s after the connection was found lost/))
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
      // One outage: every failed attempt says why, numbered from 1 once.
      assert.strictEqual(occurrences(service.output(), /attempt 1 failed, next in 2s/), 1, service.output())
      assert.deepStrictEqual(yield* misplaced(instance, user, messages), [])
      assert.deepStrictEqual(yield* pendingEntries(dataDir), [])
    }), 120_000)

  it.live("SIGTERM while busy: exits 0 within 10 s, says what it did, the move in flight finished, nothing pending or lost", () =>
    Effect.gen(function*() {
      const user = freshUser("term")
      const messages = mixed(800)
      yield* seed(bridge, user, messages)
      const dataDir = mkdtempSync(join(tmpdir(), "plai-term-"))
      const service = startCli([], serviceEnv(bridge, user, dataDir, { PROTON_LUMO_METRICS_ENABLED: "true", ...(yield* pacedLlm) }))
      yield* promise(() => service.waitFor((output) => moves(output) >= 30))
      const started = Date.now()
      const code = yield* promise(() => service.stop("SIGTERM"))
      assert.strictEqual(code, 0)
      assert.isBelow(Date.now() - started, 10_000)
      // The pass cut short still reports what it moved, and its metrics.
      const stopped = /INBOX: stopped before the end of the pass: (\d+) moved, \d+ left, \d+ failed so far[^\n]*\n📊 Performance Metrics: INBOX/
        .exec(service.output())
      assert.isNotNull(stopped, service.output().slice(-3000))
      assert.deepStrictEqual(yield* pendingEntries(dataDir), [])
      // Whatever was not sorted yet is still in INBOX with its flags; a restart finishes the job.
      const rerun = yield* runCli(["--once"], serviceEnv(bridge, user, dataDir, { PROTON_LUMO_MAX_EMAILS_PER_FOLDER: "1000" }))
      assert.strictEqual(rerun.code, 0, rerun.stderr)
      assert.deepStrictEqual(yield* misplaced(bridge, user, messages), [])
    }), 120_000)
})

/** One pass of the pipeline, with state in `dataDir`; every message a candidate. */
const sortOnce = (instance: DovecotInstance, user: string, dataDir: string, settings: Partial<SortSettings> = {}) =>
  sortOnceLive(instance, user, { dataDir, settings: { unseenOnly: false, ...settings } })

describe("UIDVALIDITY", () => {
  it.live("a folder recreated under a new UIDVALIDITY is rescanned: old UIDs never stand for new messages", () =>
    Effect.gen(function*() {
      const user = freshUser("uidv")
      const dataDir = mkdtempSync(join(tmpdir(), "plai-uidv-"))
      yield* promise(() => appendMessages(bridge, user, "Incoming", [1, 2, 3, 4, 5].map((n) => ({ source: personalEmail(n) }))))
      const [first] = yield* sortOnce(bridge, user, dataDir, { folders: ["Incoming"] })
      assert.deepStrictEqual([first?.processed, first?.left], [5, 5])
      const uidValidity = (path: string) =>
        promise(() =>
          withClient(bridge, user, async (client) => {
            const status = await client.status(path, { uidValidity: true })
            return status === false ? undefined : status.uidValidity
          })
        )
      const before = yield* uidValidity("Incoming")
      // The folder is deleted and recreated (as a server rebuilding its index does): UIDs 1–5 are now other messages.
      yield* promise(() => withClient(bridge, user, async (client) => void (await client.mailboxDelete("Incoming"))))
      yield* promise(() => appendMessages(bridge, user, "Incoming", [1, 2, 3, 4, 5].map((n) => ({ source: bankEmail(n) }))))
      assert.notStrictEqual(yield* uidValidity("Incoming"), before)
      const [second] = yield* sortOnce(bridge, user, dataDir, { folders: ["Incoming"] })
      assert.deepStrictEqual([second?.processed, second?.moved], [5, 5])
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Incoming"))).length, 0)
    }))
})

describe("the service on IDLE", () => {
  it.live("new mail is sorted within about two seconds of its arrival, without waiting for the poll", () =>
    Effect.gen(function*() {
      const user = freshUser("idle")
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: personalEmail(0) }]))
      const dataDir = mkdtempSync(join(tmpdir(), "plai-idle-"))
      const service = startCli([], serviceEnv(bridge, user, dataDir, { PROTON_LUMO_POLL_INTERVAL: "600" }))
      yield* promise(() => service.waitFor(/left INBOX#1 in place/))
      const latencies: Array<number> = []
      for (let n = 1; n <= 5; n++) {
        const started = Date.now()
        yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(n) }]))
        yield* promise(() => service.waitFor((output) => moves(output) >= n, 10_000))
        latencies.push(Date.now() - started)
      }
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
      assert.isTrue(latencies.every((latency) => latency < 3000), `latencies ${latencies.join(", ")} ms`)
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Folders/Administratif/Banque"))).length, 5)
    }), 60_000)
})

describe("undo", () => {
  it.live("undo --last-run restores the original placement exactly, and is safe to repeat", () =>
    Effect.gen(function*() {
      const user = freshUser("undo")
      const messages = mixed(60)
      yield* seed(bridge, user, messages)
      const before = yield* promise(() => mailboxState(bridge, user))
      const placementOf = (state: typeof before) =>
        Object.entries(state).flatMap(([folder, list]) => list.map((m) => `${folder} ${m.messageId} ${m.flags.join(" ")}`)).sort()
      const dataDir = mkdtempSync(join(tmpdir(), "plai-undo-"))
      const env = serviceEnv(bridge, user, dataDir)
      assert.strictEqual((yield* runCli(["--once"], env)).code, 0)
      assert.deepStrictEqual(yield* misplaced(bridge, user, messages), [])
      const undone = yield* runCli(["undo", "--last-run"], env)
      assert.strictEqual(undone.code, 0, undone.stderr)
      assert.include(undone.stdout, "Put back 45 of 45 messages.")
      assert.deepStrictEqual(placementOf(yield* promise(() => mailboxState(bridge, user))), placementOf(before))
      const again = yield* runCli(["undo", "--last-run"], env)
      assert.include(again.stdout, "Nothing left to put back: 0 messages.")
      const history = yield* runCli(["history", "--limit", "100"], env)
      assert.strictEqual(occurrences(history.stdout, / undone \(put back in INBOX\)/), 45)
      // The sorter leaves what was put back alone.
      assert.strictEqual((yield* runCli(["--once"], env)).code, 0)
      assert.deepStrictEqual(placementOf(yield* promise(() => mailboxState(bridge, user))), placementOf(before))
    }), 60_000)
})

describe("undo cut short on a server without MOVE", () => {
  // What a kill -9 of undo leaves between its UID COPY and its STORE \Deleted, or between that and its UID EXPUNGE.
  const cuts = [
    { after: "UID COPY", flagged: false },
    { after: "STORE \\Deleted", flagged: true }
  ] as const
  for (const { after, flagged } of cuts) {
    it.live(`cut after its ${after}: the message copied back is back already, its original is expunged, not copied again`, () =>
      Effect.gen(function*() {
        const nomove = inject("dovecot").nomove
        const user = freshUser("undo-cut")
        yield* promise(() => appendMessages(nomove, user, "INBOX", [{ source: bankEmail(1) }, { source: bankEmail(2) }]))
        const env = serviceEnv(nomove, user, mkdtempSync(join(tmpdir(), "plai-undo-cut-")))
        assert.strictEqual((yield* runCli(["--once"], env)).code, 0)
        const bank = "Folders/Administratif/Banque"
        yield* promise(() =>
          withClient(nomove, user, async (client) => {
            await client.mailboxOpen(bank)
            const [first] = await client.search({ all: true }, { uid: true }) || []
            if (first === undefined) throw new Error("nothing was sorted")
            await client.messageCopy(String(first), "INBOX", { uid: true })
            if (flagged) await client.messageFlagsAdd(String(first), ["\\Deleted"], { uid: true })
          })
        )
        const undone = yield* runCli(["undo", "--last-run"], env)
        assert.strictEqual(undone.code, 0, undone.stderr)
        assert.include(undone.stdout, "Put back 1 of 2 messages; 1 was back already.")
        const state = yield* promise(() => mailboxState(nomove, user))
        assert.deepStrictEqual(state[bank], [])
        assert.deepStrictEqual((state["INBOX"] ?? []).map((m) => m.flags.includes("\\Deleted")), [false, false])
        assert.strictEqual(new Set((state["INBOX"] ?? []).map((m) => m.messageId)).size, 2)
        // Neither is sorted again.
        assert.strictEqual((yield* runCli(["--once"], env)).code, 0)
        assert.strictEqual((yield* promise(() => folderState(nomove, user, "INBOX"))).length, 2)
      }), 60_000)
  }
})

describe("Proton Bridge semantics, on Dovecot laid out like Bridge", () => {
  it.live("a Labels/… category copies (the message stays in INBOX); nothing is created outside Folders/ and Labels/", () =>
    Effect.gen(function*() {
      const user = freshUser("labels")
      const dataDir = mkdtempSync(join(tmpdir(), "plai-labels-"))
      const work = workEmail(1)
      const bank = bankEmail(2)
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: work, flags: ["\\Flagged"] }, { source: bank }]))
      const categories = {
        PRO: { ...defaultCategories["PRO"], name: "PRO", folder: "Labels/Travail", keywords: ["réunion", "projet"], confidence_threshold: 0.7, priority: 1, description: "" },
        BANQUE: { ...defaultCategories["BANQUE"], name: "BANQUE", folder: "Banque", keywords: ["virement", "compte"], confidence_threshold: 0.7, priority: 1, description: "" }
      }
      const [report] = yield* sortOnceLive(bridge, user, { dataDir, categories })
      // The bank statement stays: its folder cannot be made on Bridge (left, not a move that fails).
      assert.deepStrictEqual([report?.moved, report?.left, report?.failed], [1, 1, 0])
      const inbox = yield* promise(() => folderState(bridge, user, "INBOX"))
      assert.deepStrictEqual(inbox.map((m) => [m.messageId, m.flags]).sort(), [[messageIdOf(bank), []], [messageIdOf(work), ["\\Flagged"]]].sort())
      const labelled = yield* promise(() => folderState(bridge, user, "Labels/Travail"))
      assert.deepStrictEqual(labelled.map((m) => [m.messageId, m.flags]), [[messageIdOf(work), ["\\Flagged"]]])
      const folders = yield* promise(() => withClient(bridge, user, async (client) => (await client.list()).map((box) => box.path)))
      assert.notInclude(folders, "Banque")
    }))
})
