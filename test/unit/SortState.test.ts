/** The durable store: state and journal in SQLite, as the CLI keeps them. */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import Sqlite from "better-sqlite3"
import { Effect, Layer, Option } from "effect"
import { Database } from "../../src/services/Database.ts"
import { Journal, type NewJournalEntry } from "../../src/services/Journal.ts"
import { SortState } from "../../src/services/SortState.ts"
import { fileStorage } from "../support/layers.ts"
import { captureWarnings } from "../support/logs.ts"

const inbox = { path: "INBOX", uidValidity: 42n }

const entry = (uid: number, runId = "run-1"): NewJournalEntry => ({
  runId,
  messageId: `<m${uid}@example.com>`,
  fingerprint: `f${uid}`,
  source: "INBOX",
  sourceUid: uid,
  sourceUidValidity: 42n,
  target: "Folders/Travail",
  action: "move",
  category: "PRO",
  confidence: 0.9,
  classifier: "keyword",
  reason: "keywords: projet"
})

describe("the state database", () => {
  it.effect("keeps settled UIDs across a restart, in owner-only files", () =>
    Effect.gen(function*() {
      const dataDir = join(mkdtempSync(join(tmpdir(), "state-")), "nested", "data")
      yield* SortState.use((state) => state.settle(inbox, [1, 2, 3, 7])).pipe(Effect.provide(fileStorage(dataDir)))
      assert.strictEqual(statSync(dataDir).mode & 0o777, 0o700)
      for (const file of readdirSync(dataDir)) assert.strictEqual(statSync(join(dataDir, file)).mode & 0o777, 0o600, file)
      const reloaded = yield* SortState.use((state) => state.handled(inbox, [1, 2, 3, 7, 8])).pipe(
        Effect.provide(fileStorage(dataDir))
      )
      assert.deepStrictEqual([...reloaded.uids].sort((a, b) => a - b), [1, 2, 3, 7])
    }))

  it.effect("a data folder made before, open to other users, is warned about once opened (its files are 0600 still)", () =>
    Effect.gen(function*() {
      const dataDir = join(mkdtempSync(join(tmpdir(), "state-")), "data")
      mkdirSync(dataDir)
      chmodSync(dataDir, 0o755)
      const warnings = captureWarnings()
      yield* Effect.scoped(Layer.build(Database.layerFile(dataDir))).pipe(Effect.provide(warnings.layer))
      assert.deepStrictEqual(warnings.lines, [`the data folder ${dataDir} is open to other users (mode 755; its files are not): chmod 700 ${dataDir}`])
      assert.strictEqual(statSync(join(dataDir, "protonlumo.db")).mode & 0o777, 0o600)
      chmodSync(dataDir, 0o700)
      const quiet = captureWarnings()
      yield* Effect.scoped(Layer.build(Database.layerFile(dataDir))).pipe(Effect.provide(quiet.layer))
      assert.deepStrictEqual(quiet.lines, [])
    }))

  it.effect("forgets UIDs no longer in the folder, and every UID when UIDVALIDITY changes", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "state-"))
      const storage = fileStorage(dataDir)
      yield* SortState.use((state) => state.settle(inbox, [5, 6, 9])).pipe(Effect.provide(storage))
      const pruned = yield* SortState.use((state) => state.handled(inbox, [6, 9])).pipe(Effect.provide(storage))
      assert.deepStrictEqual([...pruned.uids].sort(), [6, 9])
      const afterDelete = yield* SortState.use((state) => state.handled(inbox, [5, 6, 9])).pipe(Effect.provide(storage))
      assert.deepStrictEqual([...afterDelete.uids].sort(), [6, 9])
      const renumbered = yield* SortState.use((state) => state.handled({ path: "INBOX", uidValidity: 43n }, [5, 6, 9])).pipe(
        Effect.provide(storage)
      )
      assert.strictEqual(renumbered.uids.size, 0)
      const back = yield* SortState.use((state) => state.handled(inbox, [6, 9])).pipe(Effect.provide(storage))
      assert.strictEqual(back.uids.size, 0)
    }))

  it.effect("mail left in place under other categories is handled no more; labelled or failed mail still is", () =>
    Effect.gen(function*() {
      const storage = fileStorage(mkdtempSync(join(tmpdir(), "state-")))
      const handled = yield* SortState.use((state) =>
        Effect.gen(function*() {
          yield* state.settle(inbox, [1], "categories-a")
          // The LLM's answer that no category fits: asked of it again (ParsedEmail.reasked).
          yield* state.settle(inbox, [2, 4], "categories-a", true)
          yield* state.settle(inbox, [3])
          return [yield* state.handled(inbox, [1, 2, 3], "categories-a"), yield* state.handled(inbox, [1, 2, 3], "categories-b")]
        })
      ).pipe(Effect.provide(storage))
      assert.deepStrictEqual(handled.map((h) => [[...h.uids].sort(), h.reopened, [...h.reasked]]), [[[1, 2, 3], 0, []], [[3], 2, [2]]])
      // Waiting for a retry, a message is not settled: not counted as reopened pass after pass.
      const retried = yield* SortState.use((state) =>
        Effect.andThen(state.retryLater(inbox, [1]), state.handled(inbox, [1, 2, 3], "categories-b"))
      ).pipe(Effect.provide(storage))
      assert.deepStrictEqual([[...retried.uids].sort(), retried.reopened], [[3], 1])
    }))

  it.effect("mail the LLM said no category fits is listed as such across a restart, under its categories, until it leaves, is retried or the folder is renumbered", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "state-"))
      yield* SortState.use((state) =>
        Effect.gen(function*() {
          yield* state.settle(inbox, [1, 2], "categories-a")
          yield* state.settle(inbox, [5, 3, 4], "categories-a", true)
        })
      ).pipe(Effect.provide(fileStorage(dataDir)))
      const listed = yield* SortState.use((state) =>
        Effect.gen(function*() {
          const before = yield* state.llmSaidNone(inbox)
          // 4 left the folder (handled forgets it), 5 waits for a retry.
          yield* state.handled(inbox, [1, 2, 3, 5], "categories-a")
          yield* state.retryLater(inbox, [5])
          const after = yield* state.llmSaidNone(inbox)
          const renumbered = yield* state.llmSaidNone({ path: "INBOX", uidValidity: 43n })
          return { before: before.map((left) => left.uid), after, renumbered }
        })
      ).pipe(Effect.provide(Layer.fresh(fileStorage(dataDir))))
      assert.deepStrictEqual(listed, { before: [3, 4, 5], after: [{ uid: 3, categories: "categories-a" }], renumbered: [] })
    }))

  it.effect("a dry run reads what is stored and keeps what it settles or defers in memory, never in the file", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "state-"))
      yield* SortState.use((state) => state.settle(inbox, [1], "categories-a")).pipe(Effect.provide(fileStorage(dataDir)))
      const dryRun = SortState.layerDryRun.pipe(Layer.provide(Database.layerFile(dataDir)))
      const storedNow = SortState.use((state) =>
        Effect.all([state.handled(inbox, [1, 2, 3, 4, 5], "categories-a"), state.waiting(inbox, [1, 2, 3, 4, 5])])
      ).pipe(Effect.provide(fileStorage(dataDir)))
      const seen = yield* SortState.use((state) =>
        Effect.gen(function*() {
          yield* state.settle(inbox, [2, 3], "categories-a")
          yield* state.retryLater(inbox, [4], true)
          const same = yield* state.handled(inbox, [1, 2, 3, 4, 5], "categories-a")
          const waiting = yield* state.waiting(inbox, [1, 2, 3, 4, 5])
          const stored = yield* storedNow
          // categories.json edited: what it listed is looked at again, as stored mail is.
          const edited = yield* state.handled(inbox, [1, 2, 3, 4, 5], "categories-b")
          // A new UIDVALIDITY: nothing it remembers holds.
          const renumbered = yield* state.handled({ path: "INBOX", uidValidity: 43n }, [2, 3], "categories-a")
          return { same, waiting, stored, edited, renumbered }
        })
      ).pipe(Effect.provide(dryRun))
      assert.deepStrictEqual([...seen.same.uids].sort(), [1, 2, 3])
      assert.deepStrictEqual([[...seen.waiting.uids], seen.waiting.failed], [[4], 0])
      assert.deepStrictEqual([[...seen.stored[0].uids], seen.stored[1].uids.size], [[1], 0])
      assert.deepStrictEqual([seen.edited.uids.size, seen.edited.reopened], [0, 3])
      assert.strictEqual(seen.renumbered.uids.size, 0)
    }))

  it.effect("a database written by a newer version is refused, by every way in, and left byte for byte", () =>
    Effect.gen(function*() {
      const written = mkdtempSync(join(tmpdir(), "state-"))
      yield* Effect.scoped(Layer.build(Database.layerFile(written)))
      // The newer version still running: its change is in the write-ahead log, not yet in the file.
      const writer = new Sqlite(join(written, "protonlumo.db"))
      writer.pragma("wal_autocheckpoint = 0")
      const known = Number(writer.pragma("user_version", { simple: true }))
      writer.pragma(`user_version = ${known + 3}`)
      const dataDir = mkdtempSync(join(tmpdir(), "state-"))
      for (const name of ["protonlumo.db", "protonlumo.db-wal"]) copyFileSync(join(written, name), join(dataDir, name))
      writer.close()
      const file = join(dataDir, "protonlumo.db")
      const bytes = readFileSync(file)
      for (const layer of [Database.layerFile(dataDir), Database.layerSnapshot(dataDir), Database.layerReadOnly(dataDir)]) {
        const refused = yield* Effect.flip(Effect.scoped(Layer.build(layer)))
        assert.include(refused.message, `written by a newer version of ProtonLumoAI (database version ${known + 3}; this one knows up to ${known})`)
        assert.include(refused.message, "PROTON_LUMO_DATA")
      }
      // Not even the newer version's log folded in, as a writable handle does when it closes.
      assert.isTrue(readFileSync(file).equals(bytes))
    }))
})

describe("the journal", () => {
  it.effect("writes entries pending, settles them, and lists them oldest first", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      const ids = yield* journal.begin([entry(1), entry(2), entry(3)])
      assert.strictEqual(ids.length, 3)
      assert.deepStrictEqual((yield* journal.pending("INBOX")).map((e) => e.sourceUid), [1, 2, 3])
      yield* journal.settle([{ ids: ids.slice(0, 2), state: "done" }, { ids: ids.slice(2), state: "failed", note: "refused" }])
      assert.deepStrictEqual(yield* journal.pending("INBOX"), [])
      const listed = yield* journal.list({})
      assert.deepStrictEqual(listed.map((e) => [e.sourceUid, e.state, e.note]), [[1, "done", undefined], [2, "done", undefined], [
        3,
        "failed",
        "refused"
      ]])
      assert.deepStrictEqual(listed[0]?.messageId, "<m1@example.com>")
      assert.strictEqual(listed[0]?.sourceUidValidity, 42n)
      assert.deepStrictEqual((yield* journal.list({ limit: 1 })).map((e) => e.sourceUid), [3])
    }).pipe(Effect.provide(fileStorage(mkdtempSync(join(tmpdir(), "journal-"))))))

  it.effect("knows the last run that moved something, and filters by run and by time", () =>
    Effect.gen(function*() {
      const journal = yield* Journal
      assert.isTrue(Option.isNone(yield* journal.lastRun))
      yield* Effect.flatMap(journal.begin([entry(1, "run-a")]), (ids) => journal.settle([{ ids, state: "done" }]))
      yield* Effect.flatMap(journal.begin([entry(2, "run-b")]), (ids) => journal.settle([{ ids, state: "done" }]))
      yield* Effect.flatMap(journal.begin([entry(3, "run-c")]), (ids) => journal.settle([{ ids, state: "failed" }]))
      assert.deepStrictEqual(yield* journal.lastRun, Option.some("run-b"))
      assert.deepStrictEqual((yield* journal.list({ runId: "run-a" })).map((e) => e.sourceUid), [1])
      // The test clock stands at 0: every entry was written at 0.
      assert.strictEqual((yield* journal.list({ since: 0 })).length, 3)
      assert.deepStrictEqual(yield* journal.list({ since: 1 }), [])
      assert.deepStrictEqual((yield* journal.list({ states: ["failed"] })).map((e) => e.sourceUid), [3])
    }).pipe(Effect.provide(fileStorage(mkdtempSync(join(tmpdir(), "journal-"))))))
})
