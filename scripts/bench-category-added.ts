/**
 * `npm run bench:category-added -- --corpus DIR`: a category added for a folder of filed mail, to a
 * model that learned the user's other folders. For each Enron user and three of their folders
 * (the biggest, the second and the fourth), the learned model's database (LearnedModel, a SQLite
 * file) first learns every other folder's training mail in one scan, then that folder's in a
 * later scan, its first read; its moves at 0.9 on the user's new mail are graded (precision,
 * coverage, and the moves into the added folder). Beside it, the same folder's mail taught one
 * message after another to the same model (FolderModel in process: what the learned model did
 * before a folder's history trained it afresh), and the model trained on everything at once.
 *
 * Then a new folder the user fills with recent mail, at once, in two goes (2 messages, then the
 * rest in a later pass; or half, then all but one of the rest), or 2 a pass (with nothing else learned, or among 10 of the other folders'
 * newest messages learned each pass): the same folders' newest 20 and 80 messages, dated after
 * everything the model learned, so not a history to train afresh from; the learned model teaches
 * them one by one, rehearsing the other folders' mail, against the same messages taught alone
 * (before) and the model trained on everything at once.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { extractFeatures, type Features } from "../src/classify/features.ts"
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
  // The date a record keeps decides whether a first read is a folder's history (see LearnedModel).
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

/** The learned model's guesses after a scan of each of `scans` in turn (the other folders', then the added folder's). */
const throughTheService = (scans: ReadonlyArray<ReadonlyArray<LabelledMail>>, test: ReadonlyArray<LabelledMail>) => {
  const dir = mkdtempSync(join(scratch, "data-"))
  const program = Effect.gen(function*() {
    const model = yield* LearnedModel
    let firstUid = 1
    for (const mail of scans) {
      const scan = scanOf(mail, firstUid)
      firstUid += mail.length
      yield* model.hold(scan.held)
      yield* model.apply(scan.update)
    }
    return yield* model.guess(test.map((m) => extractFeatures(m.parsed)))
  })
  return Effect.runPromise(Effect.scoped(Effect.provide(program, Layer.provide(LearnedModel.layer, Database.layerFile(dir)))))
}

/** `mail` taught one message after another to a model trained on `others` (FolderModel in process). */
const taughtAlone = (others: ReadonlyArray<LabelledMail>, added: ReadonlyArray<LabelledMail>): FolderModel => {
  const model = FolderModel.train(features(others))
  for (const { features: f, label } of features(added)) {
    model.observe(f, label)
    model.learn(f, label)
  }
  model.recalibrate()
  return model
}

/** `mail` dated one minute apart after `after`, in its order: filed now, newer than all learned. */
const recent = (mail: ReadonlyArray<LabelledMail>, after: number): ReadonlyArray<LabelledMail> =>
  mail.map((m, index) => ({ ...m, date: after + (index + 1) * 60_000 }))

const NEW_FOLDER_SIZES = [20, 80] as const

/** `mail` two messages at a time, as a user who files a couple into a new folder between passes. */
const pairs = (mail: ReadonlyArray<LabelledMail>): ReadonlyArray<ReadonlyArray<LabelledMail>> =>
  Array.from({ length: Math.ceil(mail.length / 2) }, (_, index) => mail.slice(2 * index, 2 * index + 2))

/**
 * `filed` two at a time, each pass also learning 10 more of the other folders' messages (their
 * newest, dated as new mail filed or sorted then): a new folder filled slowly while other mail
 * keeps being learned.
 */
const amongOthers = (others: ReadonlyArray<LabelledMail>, filed: ReadonlyArray<LabelledMail>, newest: number) => {
  const passes = Math.ceil(filed.length / 2)
  const later = others.slice(-10 * passes)
  const scans: Array<ReadonlyArray<LabelledMail>> = [others.slice(0, others.length - later.length)]
  for (let index = 0; index < passes; index++) {
    const mine = filed.slice(2 * index, 2 * index + 2)
    const theirs = recent(later.slice(10 * index, 10 * index + 10), newest + index * 12 * 60_000)
    scans.push([...theirs, ...mine.map((m, n) => ({ ...m, date: newest + (index * 12 + 10 + n) * 60_000 }))])
  }
  return scans
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

const guessesOf = (model: FolderModel, test: ReadonlyArray<Features>) => test.map((f) => model.guess(f))

const history: Array<string> = []
const newFolder: Array<string> = []
const directory = await enronDirectory(corpus, scratch)
for (const user of await enronUsers(directory)) {
  const { train, test } = await loadEnronUser(directory, user)
  const sizes = new Map<string, number>()
  for (const m of train) sizes.set(m.label, (sizes.get(m.label) ?? 0) + 1)
  const ranked = [...sizes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  const testFeatures = test.map((m) => extractFeatures(m.parsed))
  const atOnce = FolderModel.train(features(train))
  const newest = Math.max(...train.map((m) => m.date))
  for (const rank of [0, 1, 3]) {
    const folder = ranked[rank]?.[0]
    if (folder === undefined) continue
    const others = train.filter((m) => m.label !== folder)
    const added = train.filter((m) => m.label === folder)
    const now = await throughTheService([others, added], test)
    history.push(
      `| ${user} | ${folder} (${added.length} / ${train.length}) | ${graded(guessesOf(taughtAlone(others, added), testFeatures), test, folder)} | ` +
        `${graded(now, test, folder)} | ${graded(guessesOf(atOnce, testFeatures), test, folder)} |`
    )
    for (const size of NEW_FOLDER_SIZES) {
      if (added.length < size) continue
      const filed = recent(added.slice(-size), newest)
      const alone = graded(guessesOf(taughtAlone(others, filed), testFeatures), test, folder)
      const together = graded(guessesOf(FolderModel.train(features([...others, ...filed])), testFeatures), test, folder)
      // At once, in two goes (the first 2 or half, then the rest in a later pass), and 2 a pass.
      const fillings: ReadonlyArray<readonly [string, ReadonlyArray<ReadonlyArray<LabelledMail>>]> = [
        [`${size}`, [others, filed]],
        [`2, then ${size - 2}`, [others, filed.slice(0, 2), filed.slice(2)]],
        // A second go smaller than the first (it brings fewer messages than the model knew of the class).
        [`${size / 2}, then ${size / 2 - 1}`, [others, filed.slice(0, size / 2), filed.slice(size / 2, size - 1)]],
        [`2 a pass, ${size / 2} passes`, [others, ...pairs(filed)]],
        [`${size}, 2 a pass among 10 others`, amongOthers(others, filed, newest)]
      ]
      for (const [goes, scans] of fillings) {
        newFolder.push(`| ${user} | ${folder} | ${goes} | ${alone} | ${graded(await throughTheService(scans, test), test, folder)} | ${together} |`)
      }
    }
  }
}
rmSync(scratch, { recursive: true, force: true })

console.log(`Measured ${new Date().toISOString()}. Command: \`npm run bench:category-added -- --corpus DIR\`.`)
console.log("")
console.log(`Each cell: precision · coverage of the moves at ${THRESHOLD} on the new mail · moves into the added folder (right / all).`)
console.log("")
console.log("A category added for a folder of filed mail:")
console.log("")
console.log("| user | folder added (messages / all) | taught one by one (before) | learned model now (first read: trained afresh) | trained on everything at once |")
console.log("|---|---|---|---|---|")
for (const line of history) console.log(line)
console.log("")
console.log(
  "A new folder filled with its newest messages, dated after everything the model learned: at once, in two goes, or 2 a pass " +
    "(alone, or among 10 of the other folders' newest messages learned each pass):"
)
console.log("")
console.log("| user | folder | messages filed | taught one by one (before) | learned model now (rehearsing the other folders) | trained on everything at once |")
console.log("|---|---|---|---|---|---|")
for (const line of newFolder) console.log(line)
