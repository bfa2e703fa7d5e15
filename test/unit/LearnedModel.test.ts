/** The learned model's memory: saved in the database, restored as it was, and a dry run's copy forgotten. */
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import Sqlite from "better-sqlite3"
import { Effect, Layer } from "effect"
import { extractFeatures, type Features } from "../../src/classify/features.ts"
import { type FolderGuess, FolderModel, STAY } from "../../src/classify/FolderModel.ts"
import { Database } from "../../src/services/Database.ts"
import { LearnedModel, type LearnedModelApi, type LearningUpdate } from "../../src/services/LearnedModel.ts"
import { captureLogs } from "../support/logs.ts"
import { parsedEmail } from "../support/parsedEmail.ts"

const mail = (uid: number, fromAddress: string, words: string) =>
  parsedEmail({ uid, fromAddress, subject: words, body: `${words} ${uid % 7}` })

/** 100 messages from two senders into PRO and VOYAGES, 50 that stay. */
const lessons: LearningUpdate = (() => {
  const messages = Array.from({ length: 150 }, (_, uid) =>
    uid % 3 === 0
      ? { email: mail(uid, "boss@corp.example", "meeting agenda report"), label: "PRO" }
      : uid % 3 === 1
      ? { email: mail(uid, "trains@rail.example", "ticket seat platform"), label: "VOYAGES" }
      : { email: mail(uid, "mum@home.example", "dinner sunday photos"), label: STAY })
  return {
    folders: [{ folder: "Folders/Travail", uidValidity: 7n, uidNext: 151, messages: 150 }],
    unlearn: [],
    learn: messages.map(({ email, label }) => ({ example: { features: extractFeatures(email), label }, repeats: 1 })),
    add: messages.map(({ email, label }) => ({ folder: "Folders/Travail", uid: email.uid, fingerprint: email.fingerprint, label, times: 1 })),
    depart: [],
    remove: [],
    corrections: [{ journalId: 1, nowIn: "Folders/Voyages", kind: "refiled" }],
    release: []
  }
})()

const probe = extractFeatures(mail(1000, "boss@corp.example", "meeting agenda report"))

/** `lessons` with each record keeping its features and date (the message's UID), as a scan's records do. */
const keptLessons: LearningUpdate = {
  ...lessons,
  add: lessons.add.map((record, index) => {
    const example = lessons.learn[index]?.example
    return { ...record, date: record.uid, ...(example !== undefined && "features" in example ? { features: example.features } : {}) }
  })
}

/**
 * `count` newsletters in Folders/News from UID `first` on, held as a scan reads them, and the update
 * that learns them (a category added for a folder of filed mail), dated among the older mail.
 */
const newsletters = (count: number, first = 2000) => {
  const messages = Array.from({ length: count }, (_, i) => mail(first + i, "digest@letters.example", "weekly digest report photos"))
  const held = messages.map((email, i) => ({
    folder: "Folders/News",
    uidValidity: 9n,
    uid: email.uid,
    fingerprint: email.fingerprint,
    label: "NEWS",
    date: 4 * (first - 2000 + i) + 0.5,
    features: extractFeatures(email)
  }))
  const update: LearningUpdate = {
    folders: [{ folder: "Folders/News", uidValidity: 9n, uidNext: first + count, messages: first - 2000 + count }],
    unlearn: [],
    learn: messages.map((email) => ({ example: { held: { folder: "Folders/News", uid: email.uid }, label: "NEWS" }, repeats: 1 })),
    add: messages.map((email) => ({ folder: "Folders/News", uid: email.uid, fingerprint: email.fingerprint, label: "NEWS", times: 1 })),
    depart: [],
    remove: [],
    corrections: [],
    release: ["Folders/News"]
  }
  return { held, update }
}

/** The model trained afresh on these examples, in date order: what a first read of a folder must give. */
const trainedAfresh = (examples: ReadonlyArray<{ readonly features?: Features | undefined; readonly label: string; readonly times: number; readonly date?: number | undefined }>) =>
  FolderModel.train(
    examples.flatMap((e) => (e.features === undefined ? [] : [{ features: e.features, label: e.label, times: e.times, date: e.date ?? 0 }]))
      .toSorted((a, b) => a.date - b.date)
  )

/** A scan of `news` (`newsletters`): its messages held, then learned. */
const scanned = (model: LearnedModelApi, news: ReturnType<typeof newsletters>) => Effect.andThen(model.hold(news.held), model.apply(news.update))

/** The probes' guesses of a model trained on `keptLessons`, then taught these newsletters one by one, alone. */
const taughtAlone = (batches: ReadonlyArray<ReturnType<typeof newsletters>>) => {
  const alone = trainedAfresh(keptLessons.add)
  for (const batch of batches) {
    for (const { features, label } of newsExamples(batch)) {
      alone.observe(features, label)
      alone.learn(features, label)
    }
  }
  alone.recalibrate()
  return probes.map((features) => alone.guess(features))
}

/**
 * Taught alone, a new folder's mail wears down what the model knew of the others (the message that
 * stays: 0.97 → 0.91); rehearsed, each of their probes keeps its answer, surer than alone.
 */
const assertRehearsed = (before: ReadonlyArray<FolderGuess>, after: ReadonlyArray<FolderGuess>, alone: ReadonlyArray<FolderGuess>) => {
  assert.isBelow(alone[1]?.confidence ?? 1, (before[1]?.confidence ?? 0) - 0.05)
  for (const index of [0, 1, 3]) {
    assert.strictEqual(after[index]?.label, before[index]?.label)
    assert.isAbove(after[index]?.confidence ?? 0, (alone[index]?.confidence ?? 1) + 0.02)
  }
}

/** What `newsletters` teaches, as examples. */
const newsExamples = (news: ReturnType<typeof newsletters>) => news.held.map((m) => ({ ...m, times: 1 }))

const probes = [probe, ...["dinner sunday photos", "weekly digest report photos", "ticket seat platform"].map((words, i) =>
  extractFeatures(mail(3000 + i, i === 0 ? "mum@home.example" : "someone@else.example", words)))]

const withModel = <A, E>(database: ReturnType<typeof Database.layerFile>, use: Effect.Effect<A, E, LearnedModel>) =>
  Effect.scoped(Effect.provide(use, Layer.provide(LearnedModel.layer, database)))

/** The database file and its write-ahead log, in bytes. */
const onDisk = (file: string): number => statSync(file).size + statSync(`${file}-wal`).size

/** `count` messages of `folder` held with these features, as a scan reads them. */
const heldIn = (folder: string, count: number, features: ReturnType<typeof wordsOnce>) =>
  Array.from({ length: count }, (_, uid) => ({ folder, uidValidity: 7n, uid, fingerprint: `f${uid}`, label: "PRO", date: uid, features }))

/** Features of `size` different words, each once. */
const wordsOnce = (size: number) => ({
  keys: new Uint32Array(size).map((_, i) => i),
  counts: new Uint8Array(size).fill(1),
  weights: new Uint8Array(size).fill(1)
})

/** The passes as they were before they kept the last that handled mail (SQL: that migration undone). */
const passesBefore = `ALTER TABLE passes DROP COLUMN handled_at; ALTER TABLE passes DROP COLUMN handled_moved;
  ALTER TABLE passes DROP COLUMN handled_left; ALTER TABLE passes DROP COLUMN handled_failed;`

/** The learned records as they were before they kept features (SQL). */
const learnedBefore = `CREATE TABLE before_learned (folder TEXT NOT NULL, uid INTEGER NOT NULL, fingerprint TEXT NOT NULL,
    label TEXT NOT NULL, times INTEGER NOT NULL, gone_at INTEGER, PRIMARY KEY (folder, uid)) WITHOUT ROWID;
  INSERT INTO before_learned SELECT folder, uid, fingerprint, label, times, gone_at FROM learned;
  DROP TABLE learned; ALTER TABLE before_learned RENAME TO learned;
  CREATE INDEX learned_fingerprint ON learned (fingerprint);`

describe("the learned model's memory", () => {
  it.effect("what it learned is saved (0600 file, no text) and answers the same after a restart", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const before = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.apply(lessons)
        return (yield* model.guess([probe]))[0]
      }))
      assert.strictEqual(before?.label, "PRO")
      assert.isAbove(before?.confidence ?? 0, 0.9)
      assert.strictEqual(statSync(join(dir, "protonlumo.db")).mode & 0o777, 0o600)
      const after = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        assert.deepStrictEqual(yield* model.folder("Folders/Travail"), { uidValidity: 7n, uidNext: 151, messages: 150, recorded: 150 })
        assert.deepStrictEqual((yield* model.corrections(0)).map((c) => c.nowIn), ["Folders/Voyages"])
        return (yield* model.guess([probe]))[0]
      }))
      assert.deepStrictEqual(after, before)
    }))

  it.effect("a saved model that cannot be read (bytes overwritten) is an error saying what to do, not a decoding error alone", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      yield* withModel(Database.layerFile(dir), Effect.flatMap(LearnedModel, (model) => model.apply(lessons)))
      yield* Effect.scoped(Effect.provide(
        Effect.flatMap(Effect.service(Database), (database) => database.use((db) => db.exec("UPDATE model SET outcomes = 'not json'"))),
        Database.layerFile(dir)
      ))
      const failure = yield* Effect.flip(withModel(Database.layerFile(dir), Effect.asVoid(Effect.service(LearnedModel))))
      assert.include(failure.message, "the learned model saved in it is damaged")
      assert.include(failure.message, "move it aside to start afresh")
    }))

  it.effect("the header boost chosen when trained from scratch is saved with the model, and read back", () =>
    Effect.gen(function*() {
      // Filed by sender; the newest fifth of each sender's mail talks of the next sender's topic.
      const topic = (t: number) => Array.from({ length: 40 }, (_, n) => `t${t}w${n % 20}`).join(" ")
      const messages = Array.from({ length: 600 }, (_, uid) => {
        const folder = uid % 10
        const email = parsedEmail({ uid, fromAddress: `p${folder}@company${folder}.example`, subject: `note ${uid}`, body: topic(uid < 480 ? folder : (folder + 1) % 10) })
        return { email, label: `F${folder}` }
      })
      const bySender: LearningUpdate = {
        ...lessons,
        corrections: [],
        learn: messages.map(({ email, label }) => ({ example: { features: extractFeatures(email), label }, repeats: 1 })),
        add: messages.map(({ email, label }) => ({ folder: "Folders/Travail", uid: email.uid, fingerprint: email.fingerprint, label, times: 1 }))
      }
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const asked = extractFeatures(parsedEmail({ uid: 9999, fromAddress: "p3@company3.example", subject: "note", body: topic(4) }))
      const before = yield* withModel(Database.layerFile(dir), Effect.flatMap(LearnedModel, (model) =>
        Effect.andThen(model.apply(bySender), model.guess([asked]))))
      const db = new Sqlite(join(dir, "protonlumo.db"), { readonly: true })
      const options: unknown = JSON.parse(String(db.prepare("SELECT options FROM model WHERE id = 1").pluck().get()))
      db.close()
      assert.strictEqual(Reflect.get(Object(options), "headerBoost"), 1)
      const after = yield* withModel(Database.layerFile(dir), Effect.flatMap(LearnedModel, (model) => model.guess([asked])))
      assert.deepStrictEqual(after, before)
      assert.strictEqual(after[0]?.label, "F3")
    }))

  it.effect("what a pass learns for itself (the LLM's answers) guesses for the mail that waited for them, is never saved, and is gone when the next pass begins or the model learns for good", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      // A sender it has never seen, in words of its own: the model has no opinion of it worth moving on.
      const stranger = (uid: number) => extractFeatures(mail(uid, "news@paper.example", "headline column editorial"))
      const sure = (guess: FolderGuess | undefined) => guess?.label === "VOYAGES" && guess.confidence >= 0.9
      const saved = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.apply(lessons)
        const before = (yield* model.guess([stranger(3000)]))[0]
        assert.isFalse(sure(before))
        yield* model.learnForPass([1, 2, 3].map((uid) => ({ features: stranger(3000 + uid), label: "VOYAGES" })))
        assert.isTrue(sure((yield* model.guessForPass([stranger(3004)]))[0]))
        // Only mail that waited for those answers is looked at by the pass's copy: the first screen is the saved model's.
        assert.deepStrictEqual((yield* model.guess([stranger(3000)]))[0], before)
        // The durable model's classes and counts are not the pass's.
        assert.deepStrictEqual((yield* model.classes).find((c) => c.label === "VOYAGES")?.examples, 50)
        yield* model.forgetPass
        assert.deepStrictEqual((yield* model.guessForPass([stranger(3000)]))[0], before)
        yield* model.learnForPass([{ features: stranger(3001), label: "VOYAGES" }, { features: stranger(3002), label: "VOYAGES" }, { features: stranger(3003), label: "VOYAGES" }])
        // Learning for good (a scan's update) starts from the saved model, without the pass's lessons.
        yield* model.apply({ ...lessons, learn: [], add: [], corrections: [], folders: [] })
        assert.deepStrictEqual((yield* model.guessForPass([stranger(3000)]))[0], before)
        yield* model.learnForPass([{ features: stranger(3001), label: "VOYAGES" }])
        return before
      }))
      const restarted = yield* withModel(Database.layerFile(dir), Effect.flatMap(Effect.service(LearnedModel), (model) => model.guess([stranger(3000)])))
      assert.deepStrictEqual(restarted[0], saved)
    }))

  it.effect("a dry run's copy learns in memory and leaves the saved model as it was", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      yield* withModel(Database.layerFile(dir), Effect.asVoid(Effect.service(LearnedModel)))
      const copy = yield* withModel(Database.layerSnapshot(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.apply(lessons)
        return (yield* model.guess([probe]))[0]?.label
      }))
      assert.strictEqual(copy, "PRO")
      const saved = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        return { classes: yield* model.classes, records: (yield* model.records("Folders/Travail")).length }
      }))
      assert.deepStrictEqual(saved, { classes: [], records: 0 })
    }))

  it.effect("each lesson is first asked of the model, and how that turned out is kept to calibrate on", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const saved = (key: string) => {
        const db = new Sqlite(join(dir, "protonlumo.db"), { readonly: true })
        const row: unknown = db.prepare("SELECT outcomes FROM model").pluck().get()
        db.close()
        return typeof row === "string" ? row.split(`"${key}":`).length - 1 : -1
      }
      const inLog = () => {
        const db = new Sqlite(join(dir, "protonlumo.db"), { readonly: true })
        const messages = Number(db.prepare("SELECT coalesce(sum(messages), 0) FROM model_log").pluck().get())
        db.close()
        return messages
      }
      yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.apply(lessons)
        // Trained from scratch: the newest fifth was held out and asked about, each guess's class kept.
        assert.strictEqual(saved("right"), 30)
        assert.strictEqual(saved("top"), 30)
        assert.strictEqual(saved("truth"), 30)
        // Twelve more, as the sorter's own moves that stood are learned: each one graded first. Kept in
        // the log, not by writing the whole model again.
        yield* model.apply({ ...lessons, folders: [], add: [], corrections: [], learn: lessons.learn.slice(0, 12) })
        assert.deepStrictEqual([saved("right"), inLog()], [30, 12])
        // Loaded now (after a crash, say), the saved model is taught the log again: the very same model.
        const seen = (learned: typeof LearnedModel.Service) =>
          Effect.all({ classes: learned.classes, guesses: learned.guess(lessons.learn.flatMap(({ example }) => "features" in example ? [example.features] : [])) })
        const here = yield* seen(model)
        // A fresh instance: provided again, the layer would be shared with the one in use.
        const loaded = yield* Effect.scoped(
          Effect.provide(Effect.flatMap(Effect.service(LearnedModel), seen), Layer.provide(Layer.fresh(LearnedModel.layer), Database.layerFile(dir)))
        )
        assert.deepStrictEqual(loaded, here)
      }))
      // Let go (the end of a run), it is saved whole, the log emptied.
      assert.deepStrictEqual([saved("right"), inLog()], [42, 0])
      // Outcomes saved before their class was kept are read as they are, and calibrate the common curve.
      const db = new Sqlite(join(dir, "protonlumo.db"))
      const stored: unknown = db.prepare("SELECT outcomes FROM model").pluck().get()
      const withoutTop = typeof stored === "string" ? stored.replace(/,"top":"(?:[^"\\]|\\.)*"/g, "") : ""
      assert.strictEqual(withoutTop.split(`"right":`).length - 1, 42)
      assert.notInclude(withoutTop, "top")
      db.prepare("UPDATE model SET outcomes = ?").run(withoutTop)
      db.close()
      const guess = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        return (yield* model.guess([probe]))[0]
      }))
      assert.strictEqual(guess?.label, "PRO")
      assert.isAbove(guess?.confidence ?? 0, 0.5)
    }))

  it.effect("a big scan's held features are given back to the disk once learned, as the database would keep their space", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const file = join(dir, "protonlumo.db")
      // 500 messages of 100 KB of features each: 50 MB held while the scan reads.
      const big = wordsOnce(17_000)
      yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        // Another folder's: the messages learned keep their own features (about 1 KB each, see MIN_BURST).
        yield* model.hold(heldIn("Folders/Archives", 500, big))
        const held = onDisk(file)
        assert.isAbove(held, 40 * 2 ** 20)
        yield* model.apply({ ...lessons, release: ["Folders/Archives"] })
      }))
      assert.isBelow(statSync(file).size, 10 * 2 ** 20)
    }))

  it.effect("held features take about their own size in the database, not a page each", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const file = join(dir, "protonlumo.db")
      // 2,000 messages of 170 features (1 KB each, a typical message's): 2 MB held.
      const typical = wordsOnce(170)
      yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        const before = onDisk(file)
        yield* model.hold(heldIn("Folders/Travail", 2000, typical))
        // In a WITHOUT ROWID table each row spilled 4 KB to an overflow page: 10 MB.
        assert.isBelow(onDisk(file) - before, 3 * 2 ** 20)
      }))
    }))

  it.effect("messages held before the upgrade that moved the held features out of a WITHOUT ROWID table are held after it", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const [first] = lessons.learn
      const features = first !== undefined && "features" in first.example ? first.example.features : undefined
      yield* withModel(Database.layerFile(dir), Effect.flatMap(Effect.service(LearnedModel), (model) =>
        model.hold([{ folder: "Folders/Travail", uidValidity: 7n, uid: 1, fingerprint: "f1", label: "PRO", date: 1, features }])))
      const db = new Sqlite(join(dir, "protonlumo.db"))
      const version = Number(db.pragma("user_version", { simple: true }))
      db.exec(`CREATE TABLE before (folder TEXT NOT NULL, uid INTEGER NOT NULL, uid_validity TEXT NOT NULL,
                 fingerprint TEXT NOT NULL, label TEXT NOT NULL, date INTEGER, features BLOB, PRIMARY KEY (folder, uid)) WITHOUT ROWID;
               INSERT INTO before SELECT * FROM pending; DROP TABLE pending; ALTER TABLE before RENAME TO pending;
               ALTER TABLE journal DROP COLUMN sender; ALTER TABLE handled DROP COLUMN categories;
               ALTER TABLE journal DROP COLUMN target_uid_next; DROP TABLE model_log; ALTER TABLE handled DROP COLUMN llm_none;
               ALTER TABLE token_budget DROP COLUMN problems; ALTER TABLE token_budget DROP COLUMN last_problem;
               ALTER TABLE token_budget DROP COLUMN last_problem_at; ALTER TABLE passes DROP COLUMN kept;
               ALTER TABLE journal DROP COLUMN internal_date; ALTER TABLE model DROP COLUMN sender_runs;
               DROP TABLE learning_scans; ${learnedBefore} ${passesBefore}`)
      // Back to before that upgrade, fifteen migrations ago: the next adds indexes (and may run again),
      // the three after it a column each, then the model's log, one more column, the LLM's
      // problems, the passes' mail left without the LLM, the learned messages' features and the
      // passes' last to handle mail (undone above), an index on the learned messages' dates (gone
      // with the table), the journal's received dates, the senders' runs, and the learning scans.
      db.pragma(`user_version = ${version - 15}`)
      db.close()
      const held = yield* withModel(Database.layerFile(dir), Effect.flatMap(Effect.service(LearnedModel), (model) => model.held))
      assert.deepStrictEqual(held.map((m) => [m.folder, m.uid, m.readable]), [["Folders/Travail", 1, true]])
    }))

  it.effect("a scan's lessons name its held messages: their features are read from the database as they are learned, and teach the same model", () =>
    Effect.gen(function*() {
      const inHand = yield* withModel(Database.layerFile(mkdtempSync(join(tmpdir(), "learned-"))), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.apply(lessons)
        return yield* model.guess([probe])
      }))
      const fromHeld = yield* withModel(Database.layerFile(mkdtempSync(join(tmpdir(), "learned-"))), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.hold(lessons.learn.map(({ example }, uid) => ({
          folder: "Folders/Travail", uidValidity: 7n, uid, fingerprint: `f${uid}`, label: example.label, date: uid,
          features: "features" in example ? example.features : undefined
        })))
        assert.deepStrictEqual((yield* model.held).map((m) => m.readable), lessons.learn.map(() => true))
        yield* model.apply({
          ...lessons,
          learn: lessons.learn.map(({ example, repeats }, uid) => ({ example: { held: { folder: "Folders/Travail", uid }, label: example.label }, repeats })),
          release: ["Folders/Travail"]
        })
        assert.deepStrictEqual(yield* model.held, [])
        return yield* model.guess([probe])
      }))
      assert.deepStrictEqual(fromHeld, inHand)
    }))

  it.effect("a lesson whose held features are missing fails the update, which leaves the model as it was", () =>
    withModel(Database.layerFile(mkdtempSync(join(tmpdir(), "learned-"))), Effect.gen(function*() {
      const model = yield* LearnedModel
      const missing = { example: { held: { folder: "Folders/Travail", uid: 1 }, label: "PRO" }, repeats: 1 }
      const failed = yield* Effect.flip(model.apply({ ...lessons, learn: [...lessons.learn, missing] }))
      assert.include(failed.message, "Folders/Travail #1")
      assert.deepStrictEqual(yield* model.classes, [])
      assert.deepStrictEqual(yield* model.records("Folders/Travail"), [])
    })))

  it.effect("a folder read for the first time with a history (a category added for filed mail) trains it afresh from all it learned, by date", () =>
    withModel(Database.layerFile(mkdtempSync(join(tmpdir(), "learned-"))), Effect.gen(function*() {
      const model = yield* LearnedModel
      yield* model.apply(keptLessons)
      const news = newsletters(30)
      yield* scanned(model, news)
      const guesses = yield* model.guess(probes)
      const afresh = trainedAfresh([...keptLessons.add, ...newsExamples(news)])
      assert.deepStrictEqual(guesses, probes.map((features) => afresh.guess(features)))
      // The personal mail stays, as it does in the model trained afresh.
      assert.isUndefined(guesses[1]?.label)
      assert.strictEqual(yield* model.heldCount, 0)
    })))

  it.effect("a folder that becomes a category's, its mail read again as that category, trains it afresh too", () =>
    withModel(Database.layerFile(mkdtempSync(join(tmpdir(), "learned-"))), Effect.gen(function*() {
      const model = yield* LearnedModel
      yield* model.apply(keptLessons)
      // Kept where it was (a source folder's mail, learned as staying), one message at a time.
      const kept = newsletters(30)
      const asStaying = (m: (typeof kept.held)[number]) => ({ ...m, label: STAY })
      yield* model.hold(kept.held.map(asStaying))
      yield* model.apply({
        ...kept.update,
        learn: kept.update.learn.map((lesson) => ({ ...lesson, example: { ...lesson.example, label: STAY } })),
        add: kept.update.add.map((record) => ({ ...record, label: STAY }))
      })
      // Now NEWS's folder: taken back as staying, learned as NEWS.
      const news = newsletters(30)
      yield* model.hold(news.held)
      yield* model.apply({
        ...news.update,
        unlearn: kept.held.map((m) => ({ example: { held: { folder: m.folder, uid: m.uid }, label: STAY }, times: 1 })),
        remove: kept.held.map((m) => ({ folder: m.folder, uid: m.uid }))
      })
      const afresh = trainedAfresh([...keptLessons.add, ...newsExamples(news)])
      assert.deepStrictEqual(yield* model.guess(probes), probes.map((features) => afresh.guess(features)))
    })))

  it.effect("fewer than MIN_BURST messages of a new folder, or more of a folder read before, are taught one by one", () =>
    withModel(Database.layerFile(mkdtempSync(join(tmpdir(), "learned-"))), Effect.gen(function*() {
      const model = yield* LearnedModel
      yield* model.apply(keptLessons)
      const few = newsletters(2)
      yield* scanned(model, few)
      const taught = yield* model.guess(probes)
      assert.notDeepEqual(taught, probes.map((features) => trainedAfresh([...keptLessons.add, ...newsExamples(few)]).guess(features)))
      const more = newsletters(30, 2002)
      yield* scanned(model, more)
      const examples = [...keptLessons.add, ...newsExamples(few), ...newsExamples(more)]
      assert.notDeepEqual(yield* model.guess(probes), probes.map((features) => trainedAfresh(examples).guess(features)))
      assert.deepStrictEqual((yield* model.classes).map((known) => [known.label, known.examples]), [["PRO", 50], ["VOYAGES", 50], [STAY, 50], ["NEWS", 32]])
    })))

  it.effect("new mail filed into a new folder (newer than all it learned) is taught one by one, rehearsing the other folders' mail", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const recent = newsletters(30, 2100)
      const { before, after } = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.apply(keptLessons)
        const first = yield* model.guess(probes)
        // Dated after everything learned: new filing, not a history to train afresh from.
        yield* scanned(model, recent)
        assert.strictEqual((yield* model.classes).find((known) => known.label === "NEWS")?.examples, 30)
        const rehearsed = yield* model.guess(probes)
        // Kept as rehearsed: a start after a crash here (a second instance, while this one is open
        // and has not saved whole) answers the same, the log holding the rehearsals with the lessons.
        const restarted = Layer.fresh(Layer.provide(LearnedModel.layer, Database.layerFile(dir)))
        assert.deepStrictEqual(yield* Effect.scoped(Effect.provide(Effect.flatMap(Effect.service(LearnedModel), (other) => other.guess(probes)), restarted)), rehearsed)
        return { before: first, after: rehearsed }
      }))
      assertRehearsed(before, after, taughtAlone([recent]))
    }))

  it.effect("a new folder filled in two goes, or after the sorter moved a message there, is rehearsed too", () =>
    Effect.gen(function*() {
      const model = yield* LearnedModel
      yield* model.apply(keptLessons)
      const before = yield* model.guess(probes)
      // The sorter's own move into it: recorded, not learned (times 0).
      const [moved] = newsletters(1, 2099).update.add
      yield* model.apply({ ...newsletters(1, 2099).update, learn: [], add: moved === undefined ? [] : [{ ...moved, times: 0 }] })
      // Then 2 filed by the user, then 17 more in a later pass: the class more than doubles.
      const first = newsletters(2, 2100)
      const more = newsletters(17, 2102)
      yield* scanned(model, first)
      yield* scanned(model, more)
      assertRehearsed(before, yield* model.guess(probes), taughtAlone([first, more]))
    }).pipe(Effect.provide(Layer.provide(LearnedModel.layer, Database.layerFile(mkdtempSync(join(tmpdir(), "learned-")))))))

  it.effect("a new folder filled two messages a pass, with nothing else learned, is rehearsed once it is most of the model's last lessons", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const pairs = Array.from({ length: 15 }, (_, pass) => newsletters(2, 2100 + 2 * pass))
      const { before, after } = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        yield* model.apply(keptLessons)
        const first = yield* model.guess(probes)
        for (const pair of pairs) yield* scanned(model, pair)
        const rehearsed = yield* model.guess(probes)
        // Small passes are logged, not saved whole, rehearsals included: a second instance replays them.
        const file = new Sqlite(join(dir, "protonlumo.db"), { readonly: true })
        const log = file.prepare("SELECT lessons FROM model_log").pluck().all().join("\n")
        file.close()
        assert.include(log, `"rehearsal":true`)
        const restarted = Layer.fresh(Layer.provide(LearnedModel.layer, Database.layerFile(dir)))
        assert.deepStrictEqual(yield* Effect.scoped(Effect.provide(Effect.flatMap(Effect.service(LearnedModel), (other) => other.guess(probes)), restarted)), rehearsed)
        return { before: first, after: rehearsed }
      }))
      assertRehearsed(before, after, taughtAlone(pairs))
    }))

  it.effect("a first read of a folder while messages learned before their features were kept are not read again yet is taught one by one", () =>
    withModel(Database.layerFile(mkdtempSync(join(tmpdir(), "learned-"))), Effect.gen(function*() {
      const model = yield* LearnedModel
      yield* model.apply(lessons)
      const news = newsletters(30)
      yield* scanned(model, news)
      const afresh = trainedAfresh([...keptLessons.add, ...newsExamples(news)])
      assert.notDeepEqual(yield* model.guess(probes), probes.map((features) => afresh.guess(features)))
      assert.strictEqual((yield* model.classes).find((known) => known.label === "NEWS")?.examples, 30)
    })))

  it.effect("after the upgrade that keeps learned messages' features, those learned before are read again (the model keeps what it learned); an LLM's journaled words are let go", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      yield* withModel(Database.layerFile(dir), Effect.flatMap(Effect.service(LearnedModel), (model) => model.apply(lessons)))
      const db = new Sqlite(join(dir, "protonlumo.db"))
      const version = Number(db.pragma("user_version", { simple: true }))
      // The six newest migrations undone: the learned messages' features, the passes' last to handle
      // mail, the index on the learned messages' dates (gone with the table), the journal's received
      // dates, the senders' runs, and the learning scans.
      db.exec(`${learnedBefore} ${passesBefore} ALTER TABLE journal DROP COLUMN internal_date; ALTER TABLE model DROP COLUMN sender_runs;
               DROP TABLE learning_scans;`)
      db.pragma(`user_version = ${version - 6}`)
      // An LLM's move journaled with its own words, as versions before kept them.
      db.prepare(
        `INSERT INTO journal (run_id, at, source, source_uid, source_uid_validity, target, action, category, confidence, classifier, reason, state)
         VALUES ('r', 0, 'INBOX', 1, '1', 'Folders/Travail', 'move', 'PRO', 0.9, 'llm:x', 'it says: my PIN is 4242', 'done')`
      ).run()
      db.close()
      const logs = captureLogs(["Info"])
      const upgraded = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        const [first] = lessons.add
        return {
          classes: (yield* model.classes).length,
          present: (yield* model.records("Folders/Travail")).length,
          tombstones: (yield* model.withFingerprints(first === undefined ? [] : [first.fingerprint])).map((record) => [record.label, record.times, record.gone])
        }
      })).pipe(Effect.provide(logs.layer))
      assert.deepStrictEqual(upgraded, { classes: 3, present: 0, tombstones: [["PRO", 1, true]] })
      // Said, so that the next pass reading the folders again is no surprise; once.
      assert.deepStrictEqual(logs.lines, [
        `upgraded ${join(dir, "protonlumo.db")} from database version ${version - 6} to ${version}; ` +
        "the 150 messages the learned model knows are read again once, to keep their hashed features (nothing is learned twice)"
      ])
      yield* withModel(Database.layerFile(dir), Effect.flatMap(Effect.service(LearnedModel), (model) => model.classes)).pipe(Effect.provide(logs.layer))
      assert.lengthOf(logs.lines, 1)
      const upgradedDb = new Sqlite(join(dir, "protonlumo.db"))
      assert.deepStrictEqual(upgradedDb.prepare("SELECT classifier, reason FROM journal").all(), [{ classifier: "llm:x", reason: "" }])
      upgradedDb.close()
    }))

  it.effect("a model saved before it kept where each sender's latest mail went follows that over the mail it learned, when loaded", () =>
    Effect.gen(function*() {
      // A club's mail filed in VOYAGES, then a folder made for it with the latest (dated after the rest).
      const club = Array.from({ length: 21 }, (_, n) => mail(200 + n, "club@trips.example", "ticket seat platform"))
      const update: LearningUpdate = {
        ...keptLessons,
        learn: [...keptLessons.learn, ...club.map((email, n) => ({ example: { features: extractFeatures(email), label: n < 20 ? "VOYAGES" : "CLUB" }, repeats: 1 }))],
        add: [...keptLessons.add, ...club.map((email, n) => ({
          folder: "Folders/Travail", uid: email.uid, fingerprint: email.fingerprint, label: n < 20 ? "VOYAGES" : "CLUB", times: 1, date: email.uid, features: extractFeatures(email)
        }))]
      }
      const asked = extractFeatures(mail(999, "club@trips.example", "ticket seat platform"))
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      const before = yield* withModel(Database.layerFile(dir), Effect.flatMap(LearnedModel, (model) => Effect.andThen(model.apply(update), model.guess([asked]))))
      assert.deepStrictEqual([before[0]?.label, before[0]?.confidence, before[0]?.examples, before[0]?.habit?.label], ["CLUB", 2 / 23, 21, "VOYAGES"])
      const db = new Sqlite(join(dir, "protonlumo.db"))
      db.exec("UPDATE model SET sender_runs = NULL")
      db.close()
      const after = yield* withModel(Database.layerFile(dir), Effect.flatMap(LearnedModel, (model) => model.guess([asked])))
      assert.deepStrictEqual(after, before)
      // Saved with them: not followed again at the next start.
      const saved = new Sqlite(join(dir, "protonlumo.db"), { readonly: true })
      assert.include(String(saved.prepare("SELECT sender_runs FROM model").pluck().get()), "[")
      saved.close()
    }))

  it.effect("a model saved with other features (an older version) is forgotten, and its mail learned again", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "learned-"))
      yield* withModel(Database.layerFile(dir), Effect.flatMap(Effect.service(LearnedModel), (model) => model.apply(lessons)))
      const db = new Sqlite(join(dir, "protonlumo.db"))
      const options: unknown = db.prepare("SELECT options FROM model").pluck().get()
      assert.include(String(options), `"features":`)
      db.prepare("UPDATE model SET options = ?").run(String(options).replace(/"features":\d+,/, ""))
      db.close()
      const reopened = yield* withModel(Database.layerFile(dir), Effect.gen(function*() {
        const model = yield* LearnedModel
        return { classes: yield* model.classes, records: (yield* model.records("Folders/Travail")).length }
      }))
      assert.deepStrictEqual(reopened, { classes: [], records: 0 })
    }))
})
