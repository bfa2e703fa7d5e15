/**
 * `npm run bench:model-writes -- --corpus DIR`: how many bytes the learned model's saving writes
 * while a service learns a little on every pass. One Enron user's filed mail (lokay-m, the 70% by
 * Date) is learned at once into a database file, then its new mail in PASSES passes of
 * PER_PASS messages each, as the sorter's moves that stood are; the process's written bytes
 * (/proc/self/io write_bytes: what reached the disk, the database and its WAL) are printed for
 * those passes, and for the end of the run (the model saved whole).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { extractFeatures } from "../src/classify/features.ts"
import { Database } from "../src/services/Database.ts"
import { LearnedModel, type LearningUpdate } from "../src/services/LearnedModel.ts"
import { corpusArgument, enronDirectory, type LabelledMail, loadEnronUser } from "./bench/learn-corpus.ts"

const PASSES = 10
const PER_PASS = 10

const corpus = corpusArgument("bench:model-writes")

const written = (): number => Number(/write_bytes: (\d+)/.exec(readFileSync("/proc/self/io", "utf8"))?.[1] ?? Number.NaN)
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`

const scratch = mkdtempSync(join(tmpdir(), "plai-model-writes-"))
const user = await loadEnronUser(await enronDirectory(corpus, scratch), "lokay-m")
const lessons = (mail: ReadonlyArray<LabelledMail>): LearningUpdate => ({
  folders: [],
  unlearn: [],
  learn: mail.map((m) => ({ example: { features: extractFeatures(m.parsed), label: m.label }, repeats: 1 })),
  add: [],
  depart: [],
  remove: [],
  corrections: [],
  release: []
})

const figures = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const passes = yield* Effect.scoped(Effect.gen(function*() {
    const model = yield* LearnedModel
    yield* model.apply(lessons(user.train))
    const before = written()
    for (let pass = 0; pass < PASSES; pass++) yield* model.apply(lessons(user.test.slice(pass * PER_PASS, (pass + 1) * PER_PASS)))
    return { bytes: written() - before, end: written() }
  }).pipe(Effect.provide(Layer.fresh(Layer.provide(LearnedModel.layer, Database.layerFile(scratch))))))
  return { ...passes, atEnd: written() - passes.end }
})))
rmSync(scratch, { recursive: true, force: true })
console.log(`lokay-m: ${user.train.length} filed messages learned, then ${PASSES} passes of ${PER_PASS} lessons each`)
console.log(`written by the ${PASSES} passes: ${megabytes(figures.bytes)}; at the end of the run (the model saved whole): ${megabytes(figures.atEnd)}`)
