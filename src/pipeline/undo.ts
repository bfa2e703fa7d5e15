/**
 * Undo: puts back what a run (or everything since a time) moved, finding each message by its
 * Message-ID since its UID changed with the move. A label is removed from the label folder. The
 * restored message is recorded as settled in its folder, so the sorter leaves it alone. Safe to
 * interrupt and to repeat: an entry is marked undone only once the message is back, and a
 * message already back is recognised as such.
 */
import { Array as Arr, Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { MailboxFailure, StateError } from "../domain/Errors.ts"
import { Journal, type JournalEntry, type JournalQuery } from "../services/Journal.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { SortState } from "../services/SortState.ts"

export interface UndoReport {
  readonly restored: number
  /** Entries whose message is in neither folder any more (moved or deleted since), or has no Message-ID. */
  readonly skipped: number
}

/** Puts back one group of entries that share source, target and action. */
const undoGroup = (entries: NonEmptyReadonlyArray<JournalEntry>) =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const journal = yield* Journal
    const state = yield* SortState
    const [{ source, target, action }] = entries
    const targetFolder = yield* mailbox.openFolder(target)
    const found: Array<number> = []
    for (const entry of entries) {
      if (entry.messageId !== undefined) found.push(...(yield* mailbox.findByMessageId(targetFolder, entry.messageId)))
    }
    const [first, ...rest] = found
    if (first !== undefined) {
      yield* (action === "label"
        ? mailbox.remove(targetFolder, [first, ...rest])
        : Effect.asVoid(mailbox.move(targetFolder, [first, ...rest], source))).pipe(Effect.uninterruptible)
    }
    const sourceFolder = yield* mailbox.openFolder(source)
    let restored = 0
    for (const entry of entries) {
      if (entry.messageId === undefined) continue
      const back = yield* mailbox.findByMessageId(sourceFolder, entry.messageId)
      if (back.length === 0) continue
      yield* state.settle(sourceFolder, back)
      yield* journal.settle([{ ids: [entry.id], state: "undone", note: `put back in ${source}` }])
      restored += 1
      yield* Effect.logInfo(`put back ${entry.messageId} → ${source} (was ${action === "label" ? "labelled" : "moved to"} ${target})`)
    }
    return restored
  })

export const undo = (query: JournalQuery): Effect.Effect<UndoReport, MailboxFailure | StateError, Journal | Mailbox | SortState> =>
  Effect.gen(function*() {
    const journal = yield* Journal
    const entries = yield* journal.list({ ...query, states: ["done"] })
    const groups = Object.values(Arr.groupBy(entries, (entry) => `${entry.source}\u0000${entry.target}\u0000${entry.action}`))
    let restored = 0
    for (const group of groups) {
      restored += yield* undoGroup(group).pipe(
        Effect.catchTag("FolderNotFound", (error) => Effect.as(Effect.logWarning(`${error.message}; skipped`), 0))
      )
    }
    return { restored, skipped: entries.length - restored }
  })
