/**
 * `npm run bench:category-added -- --corpus DIR`: a category added for a folder of filed mail, to a
 * model that learned the user's other folders. For each Enron user and three of their folders
 * (the biggest, the second and the fourth), the learned model's database (LearnedModel, a SQLite
 * file) first learns every other folder's training mail in one scan, then that folder's in a
 * later scan, its first read; its moves at 0.9 on the user's new mail are graded (precision,
 * coverage, and the moves into the added folder). Beside it, the same folder's mail taught one
 * message after another to the same model (FolderModel in process: what the learned model did
 * before a folder's history trained it afresh), and the model trained on everything at once.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { extractFeatures } from "../src/classify/features.ts"
import { type FolderGuess, FolderModel } from "../src/classify/FolderModel.ts"
import { Database } from "../src/services/Database.ts"
import { type HeldMessage, LearnedModel } from "../src/services/LearnedModel.ts"
import { corpusArgument, enronDirectory, enronUsers, type LabelledMail, loadEnronUser } from "./bench/learn-corpus.ts"

const THRESHOLD = 0.9
const MIN_EXAMPLES = 3

const corpus = corpusArgument("bench:category-added")

const scratch = mkdtempSync(join(tmpdir(), "plai-category-added-"))

/** The held messages and the update of one scan of `mail` (UIDs from `firstUid`), as the learning scan gives them. */
const scanOf = (mail: ReadonlyArray<LabelledMail>, firstUid: number) => {
  const held: Array<HeldMessage> = mail.map((m, index) => ({
    folder: m.label,
    uidValidity: 1n,
    uid: firstUid + index,
    fingerprint: m.key,
    label: m.label,
    date: m.date,
    features: extractFeatures(m.parsed)
  }))
  const folders = [...new Set(mail.map((m) => m.label))]
  return {
    held,
    update: {
      folders: folders.map((folder) => ({ folder, uidValidity: 1n, uidNext: firstUid + mail.length, messages: mail.length })),
      unlearn: [],
      learn: held.map((m) => ({ example: { held: { folder: m.folder, uid: m.uid }, label: m.label }, repeats: 1 })),
      add: held.map((m) => ({ folder: m.folder, uid: m.uid, fingerprint: m.fingerprint, label: m.label, times: 1 })),
      depart: [],
      remove: [],
      corrections: [],
      release: folders
    }
  }
}

/** The learned model's guesses after a scan of `others`, then the first read of `added`'s folder. */
const throughTheService = (others: ReadonlyArray<LabelledMail>, added: ReadonlyArray<LabelledMail>, test: ReadonlyArray<LabelledMail>) => {
  const dir = mkdtempSync(join(scratch, "data-"))
  const program = Effect.gen(function*() {
    const model = yield* LearnedModel
    for (const scan of [scanOf(others, 1), scanOf(added, others.length + 1)]) {
      yield* model.hold(scan.held)
      yield* model.apply(scan.update)
    }
    return yield* model.guess(test.map((m) => extractFeatures(m.parsed)))
  })
  return Effect.runPromise(Effect.scoped(Effect.provide(program, Layer.provide(LearnedModel.layer, Database.layerFile(dir)))))
}

/** `mail` as FolderModel's examples. */
const features = (mail: ReadonlyArray<LabelledMail>) => mail.map((m) => ({ features: extractFeatures(m.parsed), label: m.label }))

/** Precision and coverage at THRESHOLD, and the moves into `added` (right / all). */
const graded = (guesses: ReadonlyArray<FolderGuess>, test: ReadonlyArray<LabelledMail>, added: string): string => {
  let moved = 0
  let right = 0
  let into = 0
  let intoRight = 0
  guesses.forEach((guess, index) => {
    if (guess.label === undefined || guess.confidence < THRESHOLD || guess.examples < MIN_EXAMPLES) return
    const truth = test[index]?.label
    moved++
    if (guess.label === truth) right++
    if (guess.label !== added) return
    into++
    if (truth === added) intoRight++
  })
  return `${(right / Math.max(1, moved)).toFixed(3)} · ${(moved / test.length).toFixed(2)} · ${intoRight} / ${into}`
}

console.log(`Measured ${new Date().toISOString()}. Command: \`npm run bench:category-added -- --corpus DIR\`.`)
console.log("")
console.log(`A category added for a folder of filed mail, each cell: precision · coverage of the moves at ${THRESHOLD} on the new mail · moves into the added folder (right / all).`)
console.log("")
console.log("| user | folder added (messages / all) | taught one by one (before) | learned model now (first read: trained afresh) | trained on everything at once |")
console.log("|---|---|---|---|---|")
const directory = await enronDirectory(corpus, scratch)
for (const user of await enronUsers(directory)) {
  const { train, test } = await loadEnronUser(directory, user)
  const sizes = new Map<string, number>()
  for (const m of train) sizes.set(m.label, (sizes.get(m.label) ?? 0) + 1)
  const ranked = [...sizes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  const testFeatures = test.map((m) => extractFeatures(m.parsed))
  const atOnce = FolderModel.train(features(train))
  for (const rank of [0, 1, 3]) {
    const folder = ranked[rank]?.[0]
    if (folder === undefined) continue
    const others = train.filter((m) => m.label !== folder)
    const added = train.filter((m) => m.label === folder)
    const taught = FolderModel.train(features(others))
    for (const { features: f, label } of features(added)) {
      taught.observe(f, label)
      taught.learn(f, label)
    }
    taught.recalibrate()
    const now = await throughTheService(others, added, test)
    console.log(
      `| ${user} | ${folder} (${added.length} / ${train.length}) | ${graded(testFeatures.map((f) => taught.guess(f)), test, folder)} | ` +
        `${graded(now, test, folder)} | ${graded(testFeatures.map((f) => atOnce.guess(f)), test, folder)} |`
    )
  }
}
rmSync(scratch, { recursive: true, force: true })
