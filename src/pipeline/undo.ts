/**
 * Undo: puts back exactly the messages a run (or everything since a time) moved. Each is found
 * again by what the journal recorded of it: the UID the server gave it in the target (COPYUID),
 * while the target keeps its UIDVALIDITY; otherwise its Message-ID *and* fingerprint. Never by
 * Message-ID alone, which a message the user filed by hand may share; an entry from before
 * fingerprints were recorded is put back only when its Message-ID is unique in the target. At
 * most one message per entry. A label is removed from the label folder. A move the user corrected
 * is left alone.
 *
 * The restored message is recorded as settled in its folder, so the sorter leaves it alone (unless
 * `settle` is false: then the next pass sorts it again), and is handed to `afterPutBack` (the CLI's
 * teaches the learned model, as if the user had moved it back by hand) before its entry is marked
 * undone. Safe to interrupt and to repeat: an entry is marked
 * undone only once the server confirmed its message is back, and a message already back is
 * recognised as such.
 */
import { Array as Arr, Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { FolderStatus } from "../domain/Email.ts"
import type { MailboxFailure, StateError } from "../domain/Errors.ts"
import { escapeControls } from "../domain/Terminal.ts"
import { MESSAGE_ID_SHOWN, shorten } from "../domain/Text.ts"
import { Journal, type JournalEntry, type JournalQuery } from "../services/Journal.ts"
import { LearnedModel } from "../services/LearnedModel.ts"
import { Mailbox, type MessageKey } from "../services/Mailbox.ts"
import { SortState } from "../services/SortState.ts"

export interface UndoReport {
  /** Messages this undo put back (or, for labels, removed from the label). */
  readonly restored: number
  /** Messages that were back where they came from already (an interrupted undo, or the user). */
  readonly alreadyBack: number
  /** Entries whose message is in neither folder any more, or cannot be told apart from another. */
  readonly notFound: number
  /** Moves the user corrected (refiled, or moved back): left alone, the message is where they put it. */
  readonly corrected: number
}

type Group = NonEmptyReadonlyArray<JournalEntry>

const keyOf = (entry: JournalEntry): ReadonlyArray<MessageKey> =>
  entry.messageId === undefined ? [] : [{ messageId: entry.messageId, fingerprint: entry.fingerprint }]

/**
 * Per entry id, the UID of its message in `folder`: the recorded one if it is still there, else
 * the one found by Message-ID and fingerprint, each message claimed by one entry at most; UIDs in
 * `passOver` are as good as not there.
 */
const locate = (
  folder: FolderStatus,
  entries: ReadonlyArray<JournalEntry>,
  recorded: boolean,
  passOver: ReadonlySet<number> = new Set()
) =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const located = new Map<number, number>()
    const claimed = new Set<number>(passOver)
    const claim = (entry: JournalEntry, uid: number | undefined) => {
      if (uid === undefined || claimed.has(uid)) return
      located.set(entry.id, uid)
      claimed.add(uid)
    }
    const placed = recorded ? entries.filter((entry) => entry.placed?.uidValidity === folder.uidValidity) : []
    if (placed.length > 0) {
      const present = new Set(yield* mailbox.searchUids(folder, { unseenOnly: false }))
      for (const entry of placed) if (entry.placed !== undefined && present.has(entry.placed.uid)) claim(entry, entry.placed.uid)
    }
    const rest = entries.filter((entry) => !located.has(entry.id) && entry.messageId !== undefined)
    if (rest.length === 0) return located
    const found = yield* mailbox.findMessages(folder, rest.flatMap(keyOf))
    rest.forEach((entry, index) => {
      const candidates = (found[index] ?? []).filter((uid) => !claimed.has(uid))
      // Without a fingerprint only an unambiguous Message-ID identifies the message.
      claim(entry, entry.fingerprint !== undefined || candidates.length === 1 ? candidates[0] : undefined)
    })
    return located
  })

/** The entry's message as a log line names it. */
const named = (entry: JournalEntry): string =>
  entry.messageId === undefined ? `${entry.source}#${entry.sourceUid}` : shorten(entry.messageId, MESSAGE_ID_SHOWN)

const logBack = (entry: JournalEntry, how: string) =>
  Effect.logInfo(`${how} ${escapeControls(named(entry))} → ${entry.source} ` +
    `(was ${entry.action === "label" ? "labelled" : "moved to"} ${entry.target})`)

/** Puts back the located messages of one group (same source, target and action); the entries restored. */
const putBack = (group: Group, target: FolderStatus, located: ReadonlyMap<number, number>) =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const [first, ...rest] = [...located.values()]
    if (first === undefined) return { restored: [], sourceUids: [] }
    const { source, action } = group[0]
    if (action === "label") {
      yield* mailbox.remove(target, [first, ...rest]).pipe(Effect.uninterruptible)
      return { restored: group.filter((entry) => located.has(entry.id)), sourceUids: [] }
    }
    const receipt = yield* mailbox.move(target, [first, ...rest], source).pipe(Effect.uninterruptible)
    const back = new Map(receipt.moved.map((message) => [message.uid, message.targetUid]))
    const restored = group.filter((entry) => back.has(located.get(entry.id) ?? -1))
    const sourceUids = restored.flatMap((entry) => back.get(located.get(entry.id) ?? -1) ?? [])
    return { restored, sourceUids: sourceUids.length === restored.length ? sourceUids : undefined }
  })

/** What is done with messages once they are back in their source folder, by UID. */
export type AfterPutBack<R> = (folder: FolderStatus, uids: ReadonlyArray<number>) => Effect.Effect<void, never, R>

/** How many an undo put back, and found back already, so far. */
interface UndoTally {
  restored: number
  alreadyBack: number
}

/** Puts back one group of entries that share source, target and action, counted in `tally`. */
const undoGroup = <R>(group: Group, afterPutBack: AfterPutBack<R>, settle: boolean, tally: UndoTally) =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const journal = yield* Journal
    const state = yield* SortState
    const { source, target, action } = group[0]
    const targetFolder = yield* mailbox.openFolder(target)
    const sourceFolder = yield* mailbox.openFolder(source)
    // Back in the source already (an undo cut short on a server without MOVE, between its COPY and
    // its EXPUNGE; or the user): recognised there by Message-ID and fingerprint, not copied again.
    // An entry without a fingerprint is looked for there only when it is not in the target: a
    // Message-ID alone may be another message's.
    const printed = action === "move" ? group.filter((entry) => entry.fingerprint !== undefined) : []
    const backFirst = yield* locate(sourceFolder, printed, false)
    const rest = group.filter((entry) => !backFirst.has(entry.id))
    // A message flagged \Deleted is not one to move: the user deleted it.
    const deleted = new Set(action === "move" ? yield* mailbox.searchUids(targetFolder, { deleted: true }) : [])
    const located = yield* locate(targetFolder, rest, true, deleted)
    // From the first message put back to the journal's record of it, one step: a stop waits for
    // it, so what an interrupted undo says it put back is what it did.
    return yield* Effect.uninterruptible(Effect.gen(function*() {
      const { restored, sourceUids } = yield* putBack(group, targetFolder, located)
      // The server did not say where restored messages went (no UIDPLUS): they are looked up.
      const restoredUids = sourceUids ?? [...(yield* locate(sourceFolder, restored, false, new Set(backFirst.values()))).values()]
      const bare = action === "move" ? rest.filter((entry) => entry.fingerprint === undefined && !located.has(entry.id)) : []
      const claimed = new Set([...backFirst.values(), ...restoredUids])
      const back = new Map([...backFirst, ...(yield* locate(sourceFolder, bare, false, claimed))])
      const alreadyBack = group.filter((entry) => back.has(entry.id))

      if (settle) yield* state.settle(sourceFolder, [...restoredUids, ...back.values()])
      // A label taken off: its message never left the source, where it keeps its UID.
      const unlabelled = restored.filter((entry) => entry.sourceUidValidity === sourceFolder.uidValidity).map((entry) => entry.sourceUid)
      yield* afterPutBack(sourceFolder, action === "move" ? [...restoredUids, ...back.values()] : unlabelled)
      yield* journal.settle([
        { ids: restored.map((entry) => entry.id), state: "undone", note: `put back in ${source}` },
        { ids: alreadyBack.map((entry) => entry.id), state: "undone", note: `found back in ${source}` }
      ])
      yield* Effect.forEach(restored, (entry) => logBack(entry, "put back"), { discard: true })
      yield* Effect.forEach(alreadyBack, (entry) => logBack(entry, "already back:"), { discard: true })
      yield* finishHalfMoved(targetFolder, alreadyBack)
      tally.restored += restored.length
      tally.alreadyBack += alreadyBack.length
    }))
  })

/**
 * Messages back in the source already whose original is still in the target (an undo cut short
 * between its COPY and its EXPUNGE): that move is finished by expunging exactly those UIDs, as the
 * same message, byte for byte in its first 16 KiB, is in the source. Only for entries with a
 * fingerprint: a Message-ID alone may be another message's; and only on a server without MOVE,
 * where such a half move can happen: with MOVE, a copy in both folders is one the user made, and
 * kept. When the server will not, the originals are left as they are.
 */
const finishHalfMoved = (target: FolderStatus, back: ReadonlyArray<JournalEntry>) =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    if (yield* mailbox.movesAtomically) return
    const printed = back.filter((entry) => entry.fingerprint !== undefined)
    const originals = [...(yield* locate(target, printed, true)).values()]
    if (!Arr.isReadonlyArrayNonEmpty(originals)) return
    yield* mailbox.remove(target, originals).pipe(Effect.uninterruptible)
  }).pipe(
    Effect.catch((error) =>
      Effect.logWarning(`${escapeControls(target.path)}: the originals of messages back already were left: ${error.message}`)
    )
  )

/**
 * `settle`: what is put back is left alone by the sorter from then on (`undo`: the moves were
 * wrong); without it, the next pass sorts it again, as if the run had never been
 * (`undo --no-learn`: after trying the sorter out, or fixing categories.json).
 */
export const undo = <R = never>(
  query: JournalQuery,
  afterPutBack: AfterPutBack<R> = () => Effect.void,
  settle = true
): Effect.Effect<UndoReport, MailboxFailure | StateError, Journal | LearnedModel | Mailbox | SortState | R> =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const listed = yield* journal.list({ ...query, states: ["done"] })
    // A move the user corrected is not the sorter's to undo: found again by Message-ID and
    // fingerprint, the message the user filed (back into that folder, even) would be moved.
    const corrected = yield* (yield* LearnedModel).corrected(listed.map((entry) => entry.id))
    const entries = listed.filter((entry) => !corrected.has(entry.id))
    const groups = Object.values(Arr.groupBy(entries, (entry) => `${entry.source}\u0000${entry.target}\u0000${entry.action}`))
    const tally: UndoTally = { restored: 0, alreadyBack: 0 }
    const everyGroup = Effect.forEach(groups, (group) =>
      undoGroup(group, afterPutBack, settle, tally).pipe(
        Effect.catchTag("FolderNotFound", (error) => Effect.logWarning(`${error.message}; skipped`))
      ), { discard: true })
    // Stopped (SIGINT, SIGTERM) between two groups: what was done is said, and the rest waits for the next undo.
    yield* Effect.onInterrupt(everyGroup, () =>
      Effect.logWarning(
        `undo stopped: ${tally.restored} of ${entries.length} messages put back so far; run it again to put back the rest`
      ))
    return { ...tally, notFound: entries.length - tally.restored - tally.alreadyBack, corrected: corrected.size }
  })
