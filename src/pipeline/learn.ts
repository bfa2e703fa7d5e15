/**
 * The learning scan, at the start of every pass: what is new in the category folders is learned
 * as that category, read mail left in the source folders (and mail the LLM left there) as mail that
 * stays (STAY), and messages the user took out of where they were learned (or where the sorter put
 * them) are corrections.
 *
 * Only UIDs not learned yet are read (headers and the first 16 KiB, BODY.PEEK: nothing becomes
 * \Seen); a folder with a new UIDVALIDITY is read again, its messages recognised by fingerprint
 * and not learned twice. The LLM's moves are learned like the user's filing once a later pass
 * still finds them where it put them (one the user moves elsewhere is then taken back, unlearned,
 * and learned where the user put it), but for those into a folder the user took that sender's mail
 * out of; the learned model's own are only asked about, and keywords' are left alone.
 */
import { Array as Arr, Clock, Duration, Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { extractFeatures } from "../classify/features.ts"
import { STAY } from "../classify/FolderModel.ts"
import type { FolderRef, FolderStatus, ParsedEmail } from "../domain/Email.ts"
import { isConnectionLoss } from "../domain/Errors.ts"
import { categoryFolders, labelOfFolder } from "../domain/Category.ts"
import { isLabel } from "../domain/Folders.ts"
import { learningOrder } from "../domain/LearningOrder.ts"
import { countCorrections } from "../domain/Telemetry.ts"
import { Categories } from "../services/Categories.ts"
import { KEYWORD_CLASSIFIER } from "../services/KeywordClassifier.ts"
import { LEARNED_CLASSIFIER } from "../services/LearnedClassifier.ts"
import { Journal, type JournalEntry } from "../services/Journal.ts"
import {
  type HeldExample,
  type HeldMessage,
  type HeldRecord,
  type KnownRecord,
  LearnedModel,
  type LearnedRecord,
  type LearningUpdate,
  type Lesson,
  type NewCorrection,
  type RecordKey,
  type ScannedFolder,
  type TakenOut,
  type Unlesson
} from "../services/LearnedModel.ts"
import { Mailbox, type MessageKey } from "../services/Mailbox.ts"
import { trackProgress } from "../services/Progress.ts"
import { Settings } from "../services/Settings.ts"
import { SortState } from "../services/SortState.ts"
import { readMessages } from "./readFolder.ts"

/** Read mail younger than this may still be on its way elsewhere: not yet an example of what stays. */
export const STAY_AFTER_DAYS = 3

/** A correction is learned this many times: the user's word outweighs the habit of many examples. */
export const CORRECTION_REPEATS = 3

export interface LearnReport {
  readonly learned: number
  readonly stays: number
  readonly corrections: number
  readonly elapsedMillis: number
  /** False for a scan cut short by its reading time (a big first scan): it goes on next pass, nothing learned yet. */
  readonly complete: boolean
  /** Folders it could not read (`"path" (why)`), left for the next pass: the others were read. */
  readonly unreadFolders: ReadonlyArray<string>
}

/** The window of the correction rate. */
export const RATE_DAYS = 30

/**
 * Of the sorter's moves in the last 30 days (`days`), how many the user corrected: the truest
 * accuracy figure a user has.
 */
export const correctionCounts = Effect.fn("correctionCounts")(function*() {
  const since = (yield* Clock.currentTimeMillis) - RATE_DAYS * 86_400_000
  const corrected = new Set((yield* (yield* LearnedModel).corrections(since)).map((correction) => correction.journalId))
  // A move undone with --no-learn taught nothing and counts for nothing: as if it had never been.
  const moves = (yield* (yield* Journal).movesSince(since)).filter((move) => !move.undone || corrected.has(move.id))
  return { days: RATE_DAYS, moves: moves.length, corrected: moves.filter((move) => corrected.has(move.id)).length }
})

/** `correctionCounts` in words: "3 of 120 moves in the last 30 days corrected (2.5%)". */
export const correctionRateText = ({ days, moves, corrected }: { readonly days: number; readonly moves: number; readonly corrected: number }) =>
  `${corrected} of ${moves} moves in the last ${days} days corrected` + (moves === 0 ? "" : ` (${((100 * corrected) / moves).toFixed(1)}%)`)

export const correctionRate = Effect.fn("correctionRate")(function*() {
  return correctionRateText(yield* correctionCounts())
})

/** One folder to read: its label, what is new in it, and which learned messages left it. */
interface FolderScan {
  readonly folder: FolderStatus
  readonly label: string
  readonly fresh: ReadonlyArray<number>
  readonly gone: ReadonlyArray<LearnedRecord>
  /** The UIDs in the folder now, not flagged \Deleted (none when it was not searched: `unchanged`). */
  readonly present: ReadonlySet<number>
  /** Its UIDNEXT and message count were as last time: not searched, its records stand. */
  readonly unchanged: boolean
  /** A new UIDVALIDITY: every record is gone, its messages not (they come back as fresh ones). */
  readonly renewed: boolean
  /** The UIDs recorded as read already (a message moved back is recorded while it is sorted). */
  readonly recorded: ReadonlySet<number>
  /** Its UIDNEXT at the last scan (none when its UIDVALIDITY changed): what came since has a UID from there. */
  readonly uidNextBefore: number | undefined
}

/** A message read in a scan: where it was read, what it is learned as; its features stay held (HeldExample). */
type ScannedMessage = HeldRecord

/** The message's held features, learned as `label`. */
const heldExample = (message: ScannedMessage, label: string): HeldExample => ({
  held: { folder: message.folder, uid: message.uid },
  label
})

const keyOf = (record: Pick<LearnedRecord, "folder" | "uid">): string => `${record.folder}\u0000${record.uid}`

/**
 * A category folder whose UIDVALIDITY, UIDNEXT and message count are those of its last scan, all of
 * whose messages (up to the cap) were read then, has nothing new and lost nothing: no SEARCH needed.
 * (A source folder is searched every time: its mail becomes old enough, or read, without changing them.)
 */
const unchanged = (folder: FolderStatus, known: ScannedFolder, cap: number): boolean =>
  known.uidValidity === folder.uidValidity && known.uidNext === folder.uidNext && known.messages === folder.messages &&
  known.recorded >= Math.min(folder.messages, cap)

/**
 * What the source folder holds that stays, oldest first: mail the user read and left there
 * (STAY_AFTER_DAYS old at least), and mail the LLM said no category fits, under the categories of
 * now, left there since a pass before this one (learned as the LLM's moves that stood are: without
 * it, a model that learned only the LLM's moves knows no mail that stays, and files the next
 * personal message into a category).
 */
const staying = Effect.fnUntraced(function*(folder: FolderStatus, now: number, present: ReadonlyArray<number>, known: boolean) {
  const read = yield* (yield* Mailbox).searchUids(folder, { seenBefore: new Date(now - STAY_AFTER_DAYS * 86_400_000) })
  const here = new Set(present)
  const categories = (yield* Categories).key
  const leftByLlm = (yield* (yield* SortState).llmSaidNone(folder))
    .flatMap((left) => (left.categories === categories && here.has(left.uid) ? [left.uid] : []))
  // Learned as staying by a version that kept no features (mail moved back, or put back by undo,
  // unread maybe): read again, to be kept with them. Only under the UIDVALIDITY they were learned in.
  const withoutFeatures = known ? (yield* (yield* LearnedModel).withoutFeatures(folder.path)).filter((uid) => here.has(uid)) : []
  return [...new Set([...read, ...leftByLlm, ...withoutFeatures])].sort((a, b) => a - b)
})

const scanFolder = Effect.fnUntraced(function*(
  path: string,
  label: string,
  now: number,
  held: ReadonlyArray<Pick<HeldMessage, "folder" | "uidValidity" | "uid">>
) {
  const mailbox = yield* Mailbox
  const model = yield* LearnedModel
  const settings = yield* Settings
  // A category folder is asked for its STATUS, not SELECTed: on most passes nothing in it changed
  // (a service passes at every new message), and a SEARCH selects it when something did.
  const folder = label === STAY ? yield* mailbox.openFolder(path) : yield* mailbox.folderStatus(path)
  const known = yield* model.folder(folder.path)
  if (label !== STAY && unchanged(folder, known, settings.learnMaxPerFolder)) {
    const nothingNew: FolderScan = {
      folder,
      label,
      fresh: [],
      gone: [],
      present: new Set(),
      recorded: new Set(),
      unchanged: true,
      renewed: false,
      uidNextBefore: known.uidNext
    }
    return nothingNew
  }
  const recorded = yield* model.records(folder.path)
  // Mail flagged \Deleted is on its way out (a client without MOVE copies, then flags): not an example.
  const all = yield* mailbox.searchUids(folder, { unseenOnly: false, undeleted: true })
  const sameValidity = known.uidValidity === folder.uidValidity
  const candidates = label === STAY ? yield* staying(folder, now, all, sameValidity) : all
  const present = new Set(all)
  const learnedUids = new Set([
    ...(sameValidity ? recorded.map((record) => record.uid) : []),
    ...held.filter((m) => m.folder === folder.path && m.uidValidity === folder.uidValidity).map((m) => m.uid)
  ])
  const scan: FolderScan = {
    folder,
    label,
    fresh: candidates.slice(-settings.learnMaxPerFolder).filter((uid) => !learnedUids.has(uid)),
    // After a new UIDVALIDITY every old record is gone: its messages come back as fresh ones.
    gone: recorded.filter((record) => !sameValidity || !present.has(record.uid)),
    present,
    recorded: new Set(sameValidity ? recorded.map((record) => record.uid) : []),
    unchanged: false,
    renewed: !sameValidity,
    uidNextBefore: sameValidity ? known.uidNext : undefined
  }
  return scan
})

/** What a scanned message teaches; `consumed`: the records of where it was before, done with. */
interface Teaching {
  readonly lesson?: Lesson
  readonly unlearn?: Unlesson
  readonly correction?: NewCorrection
  readonly consumed: ReadonlyArray<KnownRecord>
  /** How many times it is learned where it is now (0: read, not learned). */
  readonly times: number
}

/**
 * What a scanned message teaches, given where it was learned before (`before`: records of the same
 * message, `gone` when it has left them) and what the sorter did with it (`moves`; `corrected`: the
 * moves the user already corrected).
 */
const lessonFor = (
  message: ScannedMessage,
  before: ReadonlyArray<KnownRecord>,
  moves: ReadonlyArray<JournalEntry>,
  corrected: ReadonlySet<number>,
  stillIn: (folder: string) => boolean,
  takenOut: TakenOut
): Teaching => {
  const left = before.filter((record) => record.gone)
  // The same message under another UID (a new UIDVALIDITY, or moved between folders of one class): known already.
  const same = left.find((record) => record.label === message.label)
  if (same !== undefined) return { consumed: [same], times: same.times }
  // Mail that also sits in a category folder (a label, a copy) is not mail that stays.
  if (message.label === STAY && before.some((record) => !record.gone && record.label !== STAY)) return { consumed: [], times: 0 }
  if (message.label === STAY && moves.some((move) => move.action === "label")) return { consumed: [], times: 0 }
  const sorted = moves.findLast((move) => move.action === "move")
  const previous = left.at(-1)
  // Where it was learned before is taken back, whatever it teaches now.
  const takeBack = previous === undefined
    ? { consumed: [] }
    : { unlearn: { example: heldExample(message, previous.label), times: previous.times }, consumed: [previous] }
  // Put here by keywords, and left there: not the user's filing. Learned, keywords' mistakes
  // would become the model's, and spread to all of a sender's mail (a feed's few items with
  // "like" in them filed as social, then every item after them).
  // Its category's folder under another name (the folder renamed, and categories.json with it) is where it was put.
  const placed = moves.findLast((move) => move.target === message.folder || move.category === message.label)
  if (placed?.classifier === KEYWORD_CLASSIFIER && !corrected.has(placed.id)) return { ...takeBack, times: 0 }
  // Put here by the learned model itself, and left there: asked about (how it stood counts for the
  // calibration, as a correction of it does), never learned. Learned, the model would teach itself
  // what it already thinks, mistakes included: with no one correcting, an outside soak test saw its
  // moves go from 94% right to 84%, most misfiles into the biggest folder at 0.98 and more.
  // So is the LLM's, into a folder the user took that sender's mail out of: the LLM may make the
  // same mistake again (the user's correction does not bind it), and learned, its repeat would
  // outweigh the correction (an outside review: 10 spam refiled out of Logistics, the LLM's copies
  // put back there and learned, the next 10 moved there by the learned model at 0.90 and more).
  const repeated = (move: JournalEntry) => move.sender !== undefined && takenOut.get(move.sender)?.has(move.target) === true
  if (placed !== undefined && !corrected.has(placed.id) && (placed.classifier === LEARNED_CLASSIFIER || repeated(placed))) {
    return { lesson: { example: heldExample(message, message.label), repeats: 0 }, ...takeBack, times: 0 }
  }
  // Taken out of where the sorter put it: found in another folder (two categories may share one)
  // of another category (not that folder renamed), and not still there too (a Bridge label the
  // user added is a copy).
  const undone = sorted !== undefined && sorted.target !== message.folder && sorted.category !== message.label &&
      !corrected.has(sorted.id) && !stillIn(sorted.target)
    ? sorted
    : undefined
  // Filed in another category folder, or taken back into a folder that is sorted (the one it came from or
  // another): a correction either way.
  const kind = undone === undefined ? undefined : message.label !== STAY ? "refiled" : "moved back"
  const correction: NewCorrection | undefined = undone === undefined || kind === undefined
    ? undefined
    : { journalId: undone.id, nowIn: message.folder, kind }
  const example = heldExample(message, message.label)
  const times = correction === undefined ? 1 : CORRECTION_REPEATS
  return {
    lesson: { example, repeats: times },
    ...takeBack,
    ...(correction === undefined ? {} : { correction }),
    times
  }
}

/**
 * The records (as keys) of messages read in this scan in one folder that are flagged \Deleted in
 * another, where they were learned: how a client without MOVE moves (a copy here, \Deleted
 * there). The folder they are leaving was not searched (its UIDNEXT and count did not change), so
 * its records still say they are there; the server is asked, for those folders only.
 */
const flaggedDeleted = Effect.fnUntraced(function*(
  messages: ReadonlyArray<ScannedMessage>,
  before: Readonly<Record<string, ReadonlyArray<KnownRecord>>>,
  scans: ReadonlyArray<FolderScan>
) {
  const mailbox = yield* Mailbox
  const unsearched = new Map(scans.filter((scan) => scan.unchanged).map((scan) => [scan.folder.path, scan.folder]))
  const claimed = messages.flatMap((message) =>
    (before[message.fingerprint] ?? []).filter((record) =>
      record.folder !== message.folder && unsearched.has(record.folder) && !record.gone
    )
  )
  const keys: Array<string> = []
  for (const [path, records] of Object.entries(Arr.groupBy(claimed, (record) => record.folder))) {
    const folder = unsearched.get(path)
    if (folder === undefined) continue
    const deleted = new Set(yield* mailbox.searchUids(folder, { deleted: true }))
    keys.push(...records.filter((record) => deleted.has(record.uid)).map(keyOf))
  }
  return keys
})

/**
 * The folder `path` as opened and, for each key, the UIDs holding that message there, not flagged
 * \Deleted; undefined when the folder is gone.
 */
const undeletedIn = Effect.fnUntraced(function*(path: string, keys: ReadonlyArray<MessageKey>) {
  const mailbox = yield* Mailbox
  const folder = yield* mailbox.openFolder(path).pipe(Effect.catchTag("FolderNotFound", () => Effect.succeed(undefined)))
  if (folder === undefined) return undefined
  const deleted = new Set(yield* mailbox.searchUids(folder, { deleted: true }))
  const found = yield* mailbox.findMessages(folder, keys)
  return { folder, uids: keys.map((_, index) => (found[index] ?? []).filter((uid) => !deleted.has(uid))) }
})

/**
 * The sorter's labels (Bridge's Labels/…: a copy) that the user took off: learned there once they
 * stood (or, the learned model's own, asked about there), gone from the label's folder now, and
 * the message still where it was labelled. Each counts against its category, as a message moved
 * back does; the message is read again where it is, for the model to take back what it learned of it.
 */
const labelsTakenOff = Effect.fnUntraced(function*(scans: ReadonlyArray<FolderScan>) {
  const journal = yield* Journal
  const goneLabels = scans.flatMap((scan) =>
    isLabel(scan.folder.path) && !scan.renewed ? scan.gone.filter((record) => record.fingerprint !== "") : []
  )
  if (goneLabels.length === 0) return []
  const labelled = (yield* journal.movesOf(goneLabels.map((record) => record.fingerprint))).filter((entry) => entry.action === "label")
  const matched = goneLabels.flatMap((record) => {
    const entry = labelled.findLast((e) => e.fingerprint === record.fingerprint && e.target === record.folder)
    // Keywords' labels are never learned, and taking one off is not counted either.
    const counted = record.times > 0 || entry?.classifier === LEARNED_CLASSIFIER
    return entry === undefined || entry.messageId === undefined || !counted ? [] : [{ record, entry, messageId: entry.messageId }]
  })
  const taken: Array<{ readonly record: LearnedRecord; readonly entry: JournalEntry; readonly email: ParsedEmail }> = []
  for (const [source, group] of Object.entries(Arr.groupBy(matched, ({ entry }) => entry.source))) {
    const there = yield* undeletedIn(source, group.map(({ record, messageId }) => ({ messageId, fingerprint: record.fingerprint })))
    if (there === undefined) continue
    const uids = there.uids.map((found) => found[0])
    const { read } = yield* readMessages(there.folder, uids.flatMap((uid) => uid ?? []))
    group.forEach(({ record, entry }, index) => {
      const email = read.find((candidate) => candidate.uid === uids[index])
      if (email !== undefined) taken.push({ record, entry, email })
    })
  }
  return taken
})

/**
 * The sorter's moves, not corrected yet, whose message left its category folder since the last
 * scan: its record there gone, or put there after that scan and not there now.
 */
const movesThatLeft = Effect.fnUntraced(function*(scans: ReadonlyArray<FolderScan>, corrected: ReadonlySet<number>) {
  const journal = yield* Journal
  const left: Array<JournalEntry> = []
  for (const scan of scans) {
    const since = scan.uidNextBefore
    if (scan.label === STAY || scan.unchanged || since === undefined || isLabel(scan.folder.path)) continue
    const gone = new Set(scan.gone.map((record) => record.uid))
    const hasLeft = (uid: number) => !scan.present.has(uid) && (uid >= since || gone.has(uid))
    const moves = yield* journal.movedInFrom(scan.folder, scan.gone.reduce((low, record) => Math.min(low, record.uid), since))
    left.push(...moves.filter((move) => move.placed !== undefined && hasLeft(move.placed.uid) && !corrected.has(move.id)))
  }
  const already = yield* (yield* LearnedModel).corrected(left.map((move) => move.id))
  return left.filter((move) => !already.has(move.id))
})

/**
 * Mail the user moved back, taken as such before anything is sorted (`returnedByUser`): of the
 * sorter's moves whose message left its category folder since the last scan, those found again
 * (by Message-ID and fingerprint) in a sorted folder (the one they came from, or another). Mail is
 * sorted newest first: found only when the sort reached it, the sender's next message (or a copy)
 * would be sorted first, into the folder the user just took it out of. Returns how many
 * corrections it made.
 */
const returnedSinceLastScan = Effect.fnUntraced(function*(scans: ReadonlyArray<FolderScan>, corrected: ReadonlySet<number>) {
  const left = (yield* movesThatLeft(scans, corrected)).filter((move) => move.messageId !== undefined)
  if (left.length === 0) return 0
  const keys = left.map((move) => ({ messageId: move.messageId ?? "", fingerprint: move.fingerprint }))
  for (const source of scans.filter((scan) => scan.label === STAY)) {
    const there = yield* undeletedIn(source.folder.path, keys)
    const uids = [...new Set(there?.uids.flat() ?? [])]
    if (there === undefined || uids.length === 0) continue
    const { read } = yield* readMessages(there.folder, uids)
    if (read.length > 0) yield* returnedByUser(there.folder, read)
  }
  return (yield* (yield* LearnedModel).corrected(left.map((move) => move.id))).size
})

/**
 * One learning scan over the category folders and the source folders `sources`. Nothing on the
 * server changes; the model and its records are saved in one transaction at the end.
 */
export interface LearnOptions {
  /**
   * Read for at most this long (the service: sorting is not kept waiting by a first scan of a big
   * mailbox); what is read is kept, the rest is read in the next passes, and it is all learned at
   * once when the scan is complete. Without it, everything is read in this pass.
   */
  readonly readFor?: Duration.Duration
}

/**
 * Reads what is new in the folders to scan, keeping it as it is read (a pass cut short loses
 * nothing). Returns the folders scanned, and whether everything new was read in time.
 */
const readNew = Effect.fnUntraced(function*(toScan: ReadonlyArray<readonly [string, string]>, started: number, options: LearnOptions) {
  const model = yield* LearnedModel
  const settings = yield* Settings
  const held = yield* model.heldKeys
  const deadline = options.readFor === undefined ? Infinity : started + Duration.toMillis(options.readFor)
  const scans: Array<FolderScan> = []
  const unreadFolders: Array<string> = []
  let unread = 0
  // At least one chunk is read in every pass, so that a scan cut short still moves on.
  let outOfTime = false
  for (const [path, label] of toScan) {
    // One folder that cannot be read (deleted meanwhile, its UIDVALIDITY changed) is left for the
    // next pass; the others are learned. A lost connection stops the scan.
    yield* Effect.gen(function*() {
      const scan = yield* scanFolder(path, label, started, held)
      if (scan.fresh.length > 500) yield* Effect.logInfo(`learning from ${path}: reading ${scan.fresh.length} messages`)
      const tracker = yield* trackProgress(`learning from ${path}`, scan.fresh.length, "read")
      for (const chunk of Arr.chunksOf(scan.fresh, settings.fetchChunkSize)) {
        if (outOfTime) {
          unread += chunk.length
          continue
        }
        const { read, unreadable } = yield* readMessages(scan.folder, chunk)
        if (unreadable.length > 0) {
          // Not an error of the pass (learning goes on without them), but said: INBOX's would be.
          yield* Effect.logWarning(
            `learning from "${path}": ${unreadable.length} message(s) could not be read (UID ${unreadable.slice(0, 5).join(", ")}` +
              `${unreadable.length > 5 ? ", …" : ""}); learned without them, not read again`
          )
        }
        yield* model.hold([
          ...read.map((email) => heldMessage(scan, email.uid, email)),
          ...unreadable.map((uid) => heldMessage(scan, uid, undefined))
        ])
        yield* tracker.advance(chunk.length)
        outOfTime = (yield* Clock.currentTimeMillis) >= deadline
      }
      // Only a folder read to the end (or to the end of the time) counts as scanned: one that failed
      // half-way keeps what it read, and is read on next pass.
      scans.push(scan)
    }).pipe(
      // The folder's progress stops showing when its reading ends, however it ends.
      Effect.scoped,
      Effect.catchIf(
        (error) => !isConnectionLoss(error),
        (error) =>
          Effect.sync(() => unreadFolders.push(`"${path}" (${error.message})`)).pipe(
            Effect.andThen(Effect.logWarning(`learning from "${path}": ${error.message}; tried again next pass`))
          )
      )
    )
  }
  return { scans, unread, unreadFolders }
})

const heldMessage = (scan: FolderScan, uid: number, email: ParsedEmail | undefined): HeldMessage => ({
  folder: scan.folder.path,
  uidValidity: scan.folder.uidValidity,
  uid,
  fingerprint: email?.fingerprint ?? "",
  label: scan.label,
  date: email?.date,
  features: email === undefined ? undefined : extractFeatures(email)
})

/** A folder whose category changed in categories.json: what was learned there follows (`LearnedModel.relabel`). */
const followRelabel = Effect.fnUntraced(function*(folder: string, label: string) {
  const relabelled = yield* (yield* LearnedModel).relabel(folder, label)
  if (relabelled === undefined) return
  yield* Effect.logInfo(
    relabelled.renamed.length > 0
      ? `learning: ${folder} is ${label}'s folder now: what was learned there as ${relabelled.renamed.join(", ")} is ${label}'s`
      : `learning: ${folder} is ${label}'s folder now: its ${relabelled.reread} message(s) learned otherwise are read again`
  )
})

/** A scan stopped by a signal says how far it got: what it read is kept, and it reads on next time. */
const reportScanStopped = Effect.gen(function*() {
  const read = yield* (yield* LearnedModel).heldCount
  yield* Effect.logInfo(
    `learning stopped before the scan of the folders was complete: the ${read} message(s) read so far are kept, ` +
      "and the scan goes on from there next time"
  )
}).pipe(Effect.catch((error) => Effect.logWarning(`learning stopped: ${error.message}`)))

/**
 * One learning scan over the category folders and the source folders `sources`. Nothing on the
 * server changes; the model and its records are saved in one transaction once all that is new has
 * been read.
 */
export const learnFromFolders = Effect.fn("learnFromFolders")(function*(
  sources: ReadonlyArray<string>,
  options: LearnOptions = {}
) {
  const started = yield* Clock.currentTimeMillis
  const mailbox = yield* Mailbox
  const model = yield* LearnedModel
  const journal = yield* Journal
  const categories = yield* Categories
  const existing = new Set((yield* mailbox.listFolders).filter((folder) => folder.selectable).map((folder) => folder.path))
  const labels = categoryFolders(categories.all, existing)
  for (const [folder, label] of labels) yield* followRelabel(folder, label)
  const toScan: Array<readonly [string, string]> = [
    ...labels,
    ...sources.filter((path) => existing.has(path) || path.toUpperCase() === "INBOX").map((path) => [path, STAY] as const)
  ]
  const { scans, unread, unreadFolders } = yield* readNew(toScan, started, options).pipe(Effect.onInterrupt(() => reportScanStopped))
  if (unread > 0) {
    yield* Effect.logInfo(
      `learning: ${unread} new message(s) still to read, next pass; what is read is kept, and learned once all is read`
    )
    yield* model.scanEnded(true)
    const waiting: LearnReport = {
      learned: 0,
      stays: 0,
      corrections: 0,
      elapsedMillis: (yield* Clock.currentTimeMillis) - started,
      complete: false,
      unreadFolders
    }
    return waiting
  }

  // What this scan and the ones cut short before it read, still where it was read.
  const current = new Map(scans.map((scan) => [scan.folder.path, scan]))
  const held = (yield* model.held).filter((m) => {
    const scan = current.get(m.folder)
    return scan !== undefined && scan.folder.uidValidity === m.uidValidity && scan.label === m.label &&
      scan.present.has(m.uid) && !scan.recorded.has(m.uid)
  })
  const messages = held.filter((m) => m.readable)
  const add: Array<LearnedRecord> = held.flatMap((m) =>
    m.readable ? [] : [{ folder: m.folder, uid: m.uid, fingerprint: "", label: "", times: 0 }]
  )

  const scanned = new Set(toScan.map(([path]) => path))
  const fingerprints = [...new Set(messages.map((message) => message.fingerprint))]
  const before = Arr.groupBy(yield* model.withFingerprints(fingerprints), (record) => record.fingerprint)
  const journaled = yield* journal.movesOf(fingerprints)
  const gone = new Set([
    ...scans.flatMap((scan) => scan.gone.map(keyOf)),
    ...yield* flaggedDeleted(messages, before, scans)
  ])
  const moves = Arr.groupBy(journaled, (entry) => entry.fingerprint ?? "")
  // Grows as this scan finds corrections: one move is corrected once, however many copies turn up.
  const corrected = new Set(yield* model.corrected(journaled.map((entry) => entry.id)))
  const takenOut = yield* model.takenOut

  const ordered = learningOrder(messages, (message) => message.date)
  // A message both in a category folder and in a source folder (a Bridge label, a copy) is filed, not staying.
  const filedNow = new Set(messages.filter((message) => message.label !== STAY).map((message) => message.fingerprint))
  // Where each message is now: read in this scan, or learned before and not gone.
  const readIn = new Set(messages.map((message) => `${message.fingerprint}\u0000${message.folder}`))
  const stillIn = (fingerprint: string) => (folder: string) =>
    readIn.has(`${fingerprint}\u0000${folder}`) ||
    (before[fingerprint] ?? []).some((record) => record.folder === folder && !record.gone && !gone.has(keyOf(record)))
  const lessons: Array<Lesson> = []
  const unlearn: Array<Unlesson> = []
  const corrections: Array<NewCorrection> = []
  const consumed = new Map<string, RecordKey>()
  for (const message of ordered) {
    // A record is taken back once, however many copies of its message turn up.
    // A record in a folder no longer scanned (renamed, or no category's any more) is as good as gone:
    // the message found elsewhere is known already, not learned twice.
    const priors = (before[message.fingerprint] ?? [])
      .filter((record) => !consumed.has(keyOf(record)))
      .map((record) => ({ ...record, gone: record.gone || gone.has(keyOf(record)) || !scanned.has(record.folder) }))
    const filedElsewhere = message.label === STAY && filedNow.has(message.fingerprint)
    const taught = filedElsewhere
      ? { consumed: [], times: 0 }
      : lessonFor(message, priors, moves[message.fingerprint] ?? [], corrected, stillIn(message.fingerprint), takenOut)
    if (taught.lesson !== undefined) lessons.push(taught.lesson)
    if (taught.unlearn !== undefined) unlearn.push(taught.unlearn)
    if (taught.correction !== undefined) {
      corrections.push(taught.correction)
      corrected.add(taught.correction.journalId)
    }
    for (const record of taught.consumed) consumed.set(keyOf(record), record)
    add.push({ folder: message.folder, uid: message.uid, fingerprint: message.fingerprint, label: message.label, times: taught.times })
  }
  // A label taken off counts against its category, as a message moved back; unless the message
  // turned up under another label or folder, which took it back already.
  for (const { record, entry, email } of yield* labelsTakenOff(scans)) {
    if (consumed.has(keyOf(record))) continue
    unlearn.push({ example: { features: extractFeatures(email), label: record.label }, times: record.times })
    consumed.set(keyOf(record), record)
    if (corrected.has(entry.id)) continue
    corrections.push({ journalId: entry.id, nowIn: entry.source, kind: "moved back" })
    corrected.add(entry.id)
  }

  const update: LearningUpdate = {
    folders: scans.map((scan) => ({
      folder: scan.folder.path,
      uidValidity: scan.folder.uidValidity,
      uidNext: scan.folder.uidNext,
      messages: scan.folder.messages
    })),
    unlearn,
    learn: lessons,
    add,
    depart: scans.flatMap((scan) => scan.gone),
    remove: [...consumed.values()],
    corrections,
    release: scans.map((scan) => scan.folder.path)
  }
  yield* model.apply(update)
  // Counted where each is recorded (mail moved back: `returnedByUser`), so none twice.
  yield* countCorrections(corrections.length)
  yield* model.scanEnded(false)
  // Each learned as staying, as a message moved back is. Not found now (a source folder that cannot
  // be read), it is found while it is sorted, as before.
  const returned = yield* returnedSinceLastScan(scans, corrected).pipe(
    Effect.catchIf(
      (error) => !isConnectionLoss(error),
      (error) => Effect.as(Effect.logWarning(`learning: looking for mail moved back: ${error.message}`), 0)
    )
  )
  const report: LearnReport = {
    learned: lessons.filter((lesson) => lesson.repeats > 0 && lesson.example.label !== STAY).length,
    stays: lessons.filter((lesson) => lesson.repeats > 0 && lesson.example.label === STAY).length + returned,
    corrections: corrections.length + returned,
    elapsedMillis: (yield* Clock.currentTimeMillis) - started,
    complete: true,
    unreadFolders
  }
  if (report.learned + report.stays + report.corrections > 0) {
    yield* Effect.logInfo(
      `learned ${report.learned} filed message(s) and ${report.stays} that stay, ${report.corrections} correction(s), ` +
        // "So far": mail moved back that cannot be looked for here (no Message-ID, a folder that
        // could not be scanned) is noticed while it is sorted, so the pass's last line may count more.
        `in ${(report.elapsedMillis / 1000).toFixed(1)} s; so far ${yield* correctionRate()}`
    )
  }
  return report
})

/**
 * Of these messages, each matched to the sorter's moves of messages like it (`moved`: oldest first,
 * the last one's target where it was put), those whose moved messages are all still in that folder
 * (and not flagged \Deleted, as a client that moves by COPY leaves them): copies, by UID. Where the
 * server said which UID each moved message got there (COPYUID), those UIDs are looked for; else
 * the copies found there are counted against the moves (two copies delivered and sorted, one taken
 * out: it is that one). A message without a Message-ID (or with one past what is read of it) cannot
 * be looked for: the UIDs its moves were given are asked for; with none known, which message is
 * the one moved cannot be told, and it is taken for a copy (new mail), never for a correction that
 * anyone could make by sending the same mail twice.
 */
const copiesOfMoved = Effect.fn("copiesOfMoved")(function*(
  matched: ReadonlyArray<{ readonly email: ParsedEmail; readonly moved: NonEmptyReadonlyArray<JournalEntry> }>
) {
  const copies = new Set<number>()
  const searchable = matched.filter(({ email }) => email.messageId !== undefined)
  for (const [target, group] of Object.entries(Arr.groupBy(searchable, ({ moved }) => Arr.lastNonEmpty(moved).target))) {
    const found = yield* undeletedIn(target, group.map(({ email }) => ({ messageId: email.messageId ?? "", fingerprint: email.fingerprint })))
    if (found === undefined) continue
    group.forEach(({ email, moved }, index) => {
      const there = new Set(found.uids[index])
      const movedThere = moved.filter((move) => move.target === target)
      const placed = movedThere.flatMap((move) =>
        move.placed !== undefined && move.placed.uidValidity === found.folder.uidValidity ? [move.placed.uid] : []
      )
      const allThere = placed.length === movedThere.length
        ? placed.every((uid) => there.has(uid))
        : there.size >= movedThere.length
      if (allThere) copies.add(email.uid)
    })
  }
  const unsearchable = matched.filter(({ email }) => email.messageId === undefined)
  for (const [target, group] of Object.entries(Arr.groupBy(unsearchable, ({ moved }) => Arr.lastNonEmpty(moved).target))) {
    const still = yield* placedStillIn(target, group.flatMap(({ moved }) => moved))
    group.forEach(({ email, moved }) => {
      const placed = moved.filter((move) => move.target === target).map((move) => move.placed)
      // Taken out: every move's place is known, and one of them no longer holds it.
      const known = placed.flatMap((where) => (where === undefined ? [] : [`${where.uidValidity}:${where.uid}`]))
      const takenOut = known.length === placed.length && known.some((where) => !still.has(where))
      if (!takenOut) copies.add(email.uid)
    })
  }
  return copies
})

/**
 * Of the UIDs these moves were given in `path` (COPYUID), those still there, not flagged \Deleted,
 * as `uidValidity:uid` (a UID of an older UIDVALIDITY is not there).
 */
const placedStillIn = Effect.fnUntraced(function*(path: string, moves: ReadonlyArray<JournalEntry>) {
  const mailbox = yield* Mailbox
  const folder = yield* mailbox.openFolder(path).pipe(Effect.catchTag("FolderNotFound", () => Effect.succeed(undefined)))
  const uids = moves.flatMap((move) =>
    move.target === path && move.placed !== undefined && move.placed.uidValidity === folder?.uidValidity ? [move.placed.uid] : []
  )
  if (folder === undefined || !Arr.isReadonlyArrayNonEmpty(uids)) return new Set<string>()
  const found = yield* mailbox.fetch(folder, uids, 1)
  return new Set(found.filter((message) => !message.flags.includes("\\Deleted")).map((message) => `${folder.uidValidity}:${message.uid}`))
})

/** How far the server's clock (INTERNALDATE) may be ahead of ours. */
const CLOCK_SKEW_MS = 10 * 60_000

/**
 * Whether `email` reached the server by `time` (epoch ms, ours; allowing for CLOCK_SKEW_MS), as a
 * message moved or taken back out of a folder did: a move or copy keeps its INTERNALDATE (RFC 3501,
 * RFC 6851). The same bytes delivered again later (a spammer's, once Spam was emptied) are new
 * mail, not the user's word. Unknown (no INTERNALDATE, no time), it may be.
 */
const receivedBy = (email: ParsedEmail, time: number | undefined): boolean =>
  email.internalDate === undefined || time === undefined || email.internalDate <= time + CLOCK_SKEW_MS

/**
 * Whether `email` can be the message `move` took: its INTERNALDATE, which a move keeps, is the one
 * journaled (to the second: IMAP's resolution). Journaled without one, it reached the server by
 * the move (`receivedBy`).
 */
const sameDelivery = (email: ParsedEmail, move: JournalEntry): boolean =>
  move.internalDate === undefined || email.internalDate === undefined
    ? receivedBy(email, move.at)
    : Math.abs(email.internalDate - move.internalDate) < 1000

/**
 * Of these messages just read in a source folder, those the sorter once moved to a category
 * folder: the user took them out of it (back where they came from, or into another folder that is
 * sorted), so they stay (never sorted again) and count against the category they were moved to,
 * which the model unlearns for them (when it had learned them there) and learns them as staying.
 * Those the user had filed in a category folder and took out of it stay too, uncounted.
 * `putBackByUndo`: `undo` put them back, and took labels off (a labelled message never leaves its
 * folder: only then is its label known to be wrong). Returns their UIDs, with the category each
 * was taken out of.
 *
 * A copy of a moved message is not the message: the same mail delivered twice, or sent again by
 * anyone to undo a move to Spam, while the one moved is still where the sorter put it (asked of
 * the server, for these few: the learning scan's records may be a pass old, or cut short).
 */
export const returnedByUser = Effect.fn("returnedByUser")(function*(
  folder: FolderRef,
  emails: ReadonlyArray<ParsedEmail>,
  putBackByUndo = false
) {
  const journal = yield* Journal
  const model = yield* LearnedModel
  const settings = yield* Settings
  const categories = yield* Categories
  // Moved out of whatever folder it was sorted from, and now in this one, which is sorted: the user
  // took it out of the category folder (a rescue from Spam into INBOX, say), wherever they put it.
  const moves = Arr.groupBy(
    (yield* journal.movesOf(emails.map((email) => email.fingerprint))).filter((move) =>
      // A labelled message stays where it was: only `undo` taking the label off says it was wrong.
      (move.action === "move" || (putBackByUndo && move.action === "label")) && move.target !== folder.path
    ),
    (move) => move.fingerprint ?? ""
  )
  const taken = new Set<number>()
  const matched = emails.flatMap((email) => {
    // The fingerprint covers the first 16 KiB only (a sender can make two messages share it): the
    // Message-ID must be the same too, and the delivery the one the sorter moved (not the same
    // bytes delivered again).
    const moved = (moves[email.fingerprint] ?? []).filter((entry) =>
      entry.messageId === email.messageId && (putBackByUndo || sameDelivery(email, entry))
    )
    if (!Arr.isReadonlyArrayNonEmpty(moved)) return []
    // Copies delivered and sorted together, then taken back together: each is its own move.
    const move = moved.findLast((entry) => !taken.has(entry.id)) ?? Arr.lastNonEmpty(moved)
    taken.add(move.id)
    return [{ email, moved, move }]
  })
  const copies = putBackByUndo ? new Set<number>() : yield* copiesOfMoved(matched)
  const all = matched.filter(({ email }) => !copies.has(email.uid))
  const back = new Map(all.map(({ email, move }) => [email.uid, move.category]))
  const learnedAt = yield* model.withFingerprints(emails.map((email) => email.fingerprint))
  // Filed by the user in a category folder, learned there, and taken out of it since (a rescue
  // from a Spam folder Proton filled, mail put back in INBOX as a reminder): the user's choice,
  // not sorted again. The learning scan learns it as staying once it is read and stays. Not what
  // `undo --no-learn` put back, to be sorted again.
  const takenOut = emails.flatMap((email) => {
    const left = learnedAt.find((record) =>
      record.fingerprint === email.fingerprint && record.gone && record.label !== STAY && receivedBy(email, record.goneAt)
    )
    // Known as the sorter's move, the journal says whether this is the message it moved.
    const sorted = (moves[email.fingerprint] ?? []).some((entry) => entry.messageId === email.messageId)
    return left === undefined || back.has(email.uid) || sorted ? [] : [{ email, label: left.label }]
  })
  // Asked of those only: on most passes there are none, and the journal is not read.
  const undone = new Set(
    (yield* journal.movesOf(takenOut.map(({ email }) => email.fingerprint), "undone")).map((entry) => `${entry.fingerprint}\u0000${entry.messageId}`)
  )
  for (const { email, label } of takenOut) {
    if (!undone.has(`${email.fingerprint}\u0000${email.messageId}`)) back.set(email.uid, label)
  }
  if (all.length === 0) return back
  // Learned as staying here already: this very message (folder and UID), which the learning scan
  // took as a correction (read mail old enough is read there too, and PROTON_LUMO_UNSEEN_ONLY=false
  // sorts it); or, once this move's correction is counted, the same message under an older UID of
  // this folder (a new UIDVALIDITY). It stays, and is neither learned nor counted twice.
  const corrected = yield* model.corrected(all.map(({ move }) => move.id))
  const returned = all.filter(({ email, move }) =>
    !learnedAt.some((record) =>
      record.folder === folder.path && record.label === STAY &&
      (record.uid === email.uid || (record.fingerprint === email.fingerprint && corrected.has(move.id)))
    )
  )
  if (returned.length === 0) return back
  const corrections = returned.flatMap(({ move }): ReadonlyArray<NewCorrection> =>
    corrected.has(move.id) ? [] : [{ journalId: move.id, nowIn: folder.path, kind: "moved back" }]
  )
  // With learning off, it is counted, and nothing is learned or recorded as learned.
  if (!settings.learn) {
    yield* model.apply({ folders: [], unlearn: [], learn: [], add: [], depart: [], remove: [], corrections, release: [] })
    yield* countCorrections(corrections.length)
    return back
  }
  /**
   * Where the model learned it in the folder it was moved to (present, or a tombstone): under that
   * folder's label, the first category naming it, which may not be the category it was moved as.
   */
  const learnedThere = (email: ParsedEmail, target: string) => {
    const label = labelOfFolder(categories.all, target)
    return learnedAt.filter((record) => record.fingerprint === email.fingerprint && record.label === label)
  }
  const movedBack = returned.map(({ email }) => ({ email, features: extractFeatures(email) }))
  const update: LearningUpdate = {
    folders: [],
    unlearn: returned.flatMap(({ email, move }) =>
      learnedThere(email, move.target).map((record) => ({
        example: { features: extractFeatures(email), label: record.label },
        times: record.times
      }))
    ),
    learn: movedBack.map(({ features }) => ({ example: { features, label: STAY }, repeats: CORRECTION_REPEATS })),
    add: movedBack.map(({ email, features }) => ({
      folder: folder.path,
      uid: email.uid,
      fingerprint: email.fingerprint,
      label: STAY,
      times: CORRECTION_REPEATS,
      features,
      date: email.date
    })),
    depart: [],
    remove: returned.flatMap(({ email, move }) => learnedThere(email, move.target)),
    corrections,
    release: []
  }
  yield* model.apply(update)
  yield* countCorrections(corrections.length)
  return back
})

/**
 * Messages `undo` put back in `folder` (by UID), or took a label off: what the user would have
 * taught by moving them back by hand (`returnedByUser`): the model takes back what it learned of
 * them where they were moved (or labelled), and learns that they stay. Without this, an undone move
 * the model had learned would be made again for the next message like it.
 */
export const learnUndone = Effect.fn("learnUndone")(function*(folder: FolderRef, uids: ReadonlyArray<number>) {
  const { read } = yield* readMessages(folder, uids)
  if (read.length > 0) yield* returnedByUser(folder, read, true)
})

