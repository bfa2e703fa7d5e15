/**
 * `evaluate`: how well the learned model would sort this user's mail, before it moves anything.
 *
 * It reads what the learning scan reads (the newest messages of each category folder, labelled
 * with their category, and read mail older than STAY_AFTER_DAYS left in the source folders,
 * labelled STAY), trains a fresh model on the oldest 70% of all of it (in date order) and asks
 * it about the newest 30%: mail it has never seen, arriving as new mail does. By date, not at
 * random: a random split would let the model learn a thread's later messages and be tested on its
 * earlier ones. One cut through all folders, not one per folder: a folder's own newest 30% may be
 * years old (a project that ended), older than much of what the model learned, and no new mail
 * will go there; graded on such mail, the figures were 15 to 19 points of precision below what
 * the sorter then did on two Enron users (one cut: within 3 on all four). A folder with almost
 * nothing before the cut (fewer than MIN_EXAMPLES: one made recently) is cut by its own dates: the
 * sorter has learned it by now, and tested only, it would count as a folder no model could know. So
 * is a spam folder: servers empty it (Proton after 30 days), so its mail is the newest whatever the
 * user's filing; one cut graded it on a model that had learned 12 of its 280 messages (an outside
 * review), where the sorter learns them all. (A rule by share, any folder with less than a fifth
 * of its mail before the cut, also caught the Enron users' folders of projects started during the
 * years: on one of them evaluate's precision was then 5 points under the sorter's first pass, 3
 * with one cut.)
 *
 * Mail the sorter put in a category folder and left there is left out: the user did not file it
 * (the CLI gives the journal's moves; the saved model is not used).
 *
 * Nothing changes: the mailbox it is given should be read-only (EXAMINE, BODY.PEEK).
 */
import { Array as Arr, Clock, Effect, Option } from "effect"
import { evaluate, type Evaluation } from "../classify/evaluation.ts"
import { extractFeatures, type Features } from "../classify/features.ts"
import { type Example, FolderModel, STAY } from "../classify/FolderModel.ts"
import { categoryFolders } from "../domain/Category.ts"
import type { ParsedEmail } from "../domain/Email.ts"
import { NothingToEvaluate } from "../domain/Errors.ts"
import { oldestFirst } from "../domain/LearningOrder.ts"
import { escapeControls } from "../domain/Terminal.ts"
import { Categories } from "../services/Categories.ts"
import type { JournalEntry } from "../services/Journal.ts"
import { confidenceFloor, decisive, kept, MIN_EXAMPLES, movable, requiredConfidence, withUsual } from "../services/LearnedClassifier.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { trackProgress } from "../services/Progress.ts"
import { Settings } from "../services/Settings.ts"
import { STAY_AFTER_DAYS } from "./learn.ts"
import { readMessages } from "./readFolder.ts"

/** The oldest share of the mail the model learns; the rest it is tested on. */
export const TRAIN_SHARE = 0.7

/** A folder read: its label (category id, or STAY) and how many of its messages were read. */
export interface EvaluatedFolder {
  readonly path: string
  readonly label: string
  readonly messages: number
}

export interface EvaluationReport {
  readonly evaluation: Evaluation
  readonly folders: ReadonlyArray<EvaluatedFolder>
  /** category id → its folder, for the categories evaluated. */
  readonly categoryFolders: ReadonlyMap<string, string>
  readonly trained: number
  readonly tested: number
  /**
   * Whether the model could calibrate its confidence (it needs about 100 messages to learn from, of
   * two kinds at least): without, every confidence is 0 and nothing would move.
   */
  readonly calibrated: boolean
  /** How many kinds of mail it learned: categories, and mail that stays. */
  readonly kinds: number
  /** Messages that could not be parsed (left out). */
  readonly unreadable: number
  /** Messages in a category folder that the sorter put there and left (left out: not the user's filing). */
  readonly placedBySorter: number
  /** Category folders that are not on the server (nothing to learn from), with their category ids. */
  readonly missing: ReadonlyArray<{ readonly path: string; readonly label: string }>
  /** Categories naming the folder of one before them: its mail is learned as that one's (`as`), never as theirs. */
  readonly sharing: ReadonlyArray<{ readonly path: string; readonly label: string; readonly as: string }>
  /**
   * An LLM is configured with PROTON_LUMO_LLM_SKIP_KEPT=false: it is asked about all the model
   * leaves, so what it would leave without asking is not shown (set by the command; absent: shown).
   */
  readonly llmAsksKept?: boolean
}

/** A message read, as the model sees it: its features, not its text (thousands are held at once). */
interface LabelledMessage {
  /** The folder it was read in. */
  readonly folder: string
  readonly label: string
  readonly date: number | undefined
  readonly features: Features
}

/** How many of `n` messages, oldest first, are learned: the oldest TRAIN_SHARE, in whole messages (180 learn 126, not 125.99…). */
const learnedCount = (n: number): number => Math.floor(n * TRAIN_SHARE + 1e-9)

/** The cut of `messages` by date: the oldest to learn, the newest to test. */
const cutByDate = (messages: ReadonlyArray<LabelledMessage>) => {
  const ordered = oldestFirst(messages, (message) => message.date)
  const cut = learnedCount(ordered.length)
  return { train: ordered.slice(0, cut), test: ordered.slice(cut) }
}

/**
 * One cut by date through all the mail; a folder with fewer than MIN_EXAMPLES messages before it
 * (made recently), or one `ownDates` names (a spam folder), cut by its own dates. The mail to learn
 * in date order, oldest first.
 */
const splitByDate = (messages: ReadonlyArray<LabelledMessage>, ownDates: (folder: string) => boolean) => {
  const overall = cutByDate(messages)
  const learnedIn = new Map<string, number>()
  for (const message of overall.train) learnedIn.set(message.folder, (learnedIn.get(message.folder) ?? 0) + 1)
  const recent = (message: LabelledMessage) => (learnedIn.get(message.folder) ?? 0) < MIN_EXAMPLES || ownDates(message.folder)
  const own = Object.values(Arr.groupBy(messages.filter(recent), (message) => message.folder)).map(cutByDate)
  return {
    train: oldestFirst([...overall.train.filter((m) => !recent(m)), ...own.flatMap((cut) => cut.train)], (m) => m.date),
    test: [...overall.test.filter((m) => !recent(m)), ...own.flatMap((cut) => cut.test)]
  }
}

/** Reads the newest `learnMaxPerFolder` messages in `path` (all, or the read mail old enough to stay). */
const readFolder = Effect.fnUntraced(function*(path: string, stayOnly: boolean, now: number) {
  const mailbox = yield* Mailbox
  const settings = yield* Settings
  const folder = yield* mailbox.openFolder(path)
  const uids = yield* mailbox.searchUids(
    folder,
    // Mail flagged \Deleted is on its way out: not an example of anything.
    stayOnly ? { seenBefore: new Date(now - STAY_AFTER_DAYS * 86_400_000) } : { unseenOnly: false, undeleted: true }
  )
  const newest = uids.slice(-settings.learnMaxPerFolder)
  // Read in chunks, as the learning scan reads: a big mailbox takes a while, and says how far it is.
  const tracker = yield* trackProgress(`evaluating: reading ${escapeControls(path)}`, newest.length, "read")
  const emails: Array<ParsedEmail> = []
  let unreadable = 0
  for (const chunk of Arr.chunksOf(newest, settings.fetchChunkSize)) {
    const part = yield* readMessages(folder, chunk)
    emails.push(...part.read)
    unreadable += part.unreadable.length
    yield* tracker.advance(chunk.length)
  }
  return { emails, unreadable }
}, Effect.scoped)

/** A message the sorter moved or labelled, as the journal recorded it. */
export type SortedMessage = Pick<JournalEntry, "target" | "fingerprint" | "messageId">

const placedKey = (fingerprint: string | undefined, messageId: string | undefined, folder: string) =>
  `${fingerprint}\u0000${messageId}\u0000${folder}`

/**
 * Whether the sorter put `email` in `folder` (moved or labelled it there): left there, it is not
 * the user's filing. The learning scan learns the LLM's moves once they stood, but graded on the
 * sorter's moves, the model would be graded on its own answers (its misfiles counted right).
 */
const placedBySorter = (sorted: ReadonlyArray<SortedMessage>) => {
  const placed = new Set(sorted.map((move) => placedKey(move.fingerprint, move.messageId, move.target)))
  return (folder: string, email: ParsedEmail): boolean => placed.has(placedKey(email.fingerprint, email.messageId, folder))
}

/**
 * Trains on the older mail of the user's folders, tests on the newest, and returns the figures.
 * Changes nothing. `sorted`: the sorter's moves, oldest first (the journal's, when there is one).
 */
export const evaluateMailbox = Effect.fn("evaluateMailbox")(function*(sorted: ReadonlyArray<SortedMessage> = []) {
  const now = yield* Clock.currentTimeMillis
  const mailbox = yield* Mailbox
  const categories = yield* Categories
  const settings = yield* Settings
  const listed = yield* mailbox.listFolders
  yield* categories.noteServerFolders(listed)
  const existing = new Set(listed.filter((folder) => folder.selectable).map((folder) => folder.path))
  const labels = categoryFolders(categories.all, existing)
  const scans: Array<{ readonly path: string; readonly label: string }> = [...labels].map(([path, label]) => ({ path, label }))
  for (const path of settings.folders) {
    if (labels.has(path)) continue
    if (existing.has(path) || path.toUpperCase() === "INBOX") scans.push({ path, label: STAY })
    else yield* Effect.logWarning(`${escapeControls(path)} (PROTON_LUMO_FOLDERS) is not on the server: none of its mail is evaluated`)
  }

  const folders: Array<EvaluatedFolder> = []
  const messages: Array<LabelledMessage> = []
  const filed = new Set<string>()
  const seen = new Set<string>()
  let unreadable = 0
  let bySorter = 0
  const sorterPlaced = placedBySorter(sorted)
  for (const scan of scans) {
    const read = yield* readFolder(scan.path, scan.label === STAY, now)
    unreadable += read.unreadable
    const filedByUser = read.emails.filter((email) => scan.label === STAY || !sorterPlaced(scan.path, email))
    bySorter += read.emails.length - filedByUser.length
    // One message in two places (a copy, or a Bridge label) is counted once, where it was first
    // filed: and mail also in a category folder is not mail that stays (as in the learning scan).
    const fresh = filedByUser.filter((email) => !seen.has(email.fingerprint))
    for (const email of fresh) {
      seen.add(email.fingerprint)
      if (scan.label !== STAY) filed.add(email.fingerprint)
      messages.push({ folder: scan.path, label: scan.label, date: email.date, features: extractFeatures(email) })
    }
    folders.push({ path: scan.path, label: scan.label, messages: fresh.length })
  }
  if (filed.size === 0) return yield* new NothingToEvaluate({ folders: [...labels.keys()], placedBySorter: bySorter })

  const spamFolders = new Set([...labels].flatMap(([path, id]) => (categories.find(id).pipe(Option.exists((c) => c.spam)) ? [path] : [])))
  const { train, test } = splitByDate(messages, (folder) => spamFolders.has(folder))
  const examples = (part: ReadonlyArray<LabelledMessage>): Array<Example> =>
    part.map((message) => ({ features: message.features, label: message.label }))
  const model = FolderModel.train(examples(train))
  const find = (id: string) => Option.getOrUndefined(categories.find(id))
  const results = examples(test).map((example) => {
    const guess = withUsual(model.guess(example.features), find)
    return {
      truth: example.label,
      guess: guess.label,
      confidence: guess.confidence,
      moves: decisive(guess, find) !== undefined,
      movable: movable(guess),
      kept: kept(guess)
    }
  })

  // A category whose folder holds no mail has nothing to show: it is listed as read, not evaluated.
  const filedIn = new Set(folders.filter((folder) => folder.label !== STAY && folder.messages > 0).map((folder) => folder.label))
  const evaluated = [...labels.values()].flatMap((id) => {
    const category = find(id)
    return category === undefined || !filedIn.has(id)
      ? []
      : [{ id, threshold: requiredConfidence(category), floor: confidenceFloor(category) }]
  })
  const report: EvaluationReport = {
    evaluation: evaluate(results, evaluated),
    folders,
    categoryFolders: new Map([...labels].map(([path, id]) => [id, path])),
    trained: train.length,
    tested: test.length,
    calibrated: model.calibrated,
    kinds: model.classes.length,
    unreadable,
    placedBySorter: bySorter,
    missing: categories.all
      .filter((category) => !existing.has(category.folder))
      .map((category) => ({ path: category.folder, label: category.id })),
    sharing: categories.all.flatMap((category) => {
      const as = labels.get(category.folder)
      return as === undefined || as === category.id ? [] : [{ path: category.folder, label: category.id, as }]
    })
  }
  return report
})
