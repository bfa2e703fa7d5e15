/**
 * Crash recovery: a journal entry still pending means the process stopped between writing the
 * entry and hearing the server's answer. Before a folder is sorted, its pending entries are
 * checked against the server in a few round trips: one SEARCH of the source folder for all of
 * them, and per target folder one lookup of their messages by Message-ID *and* fingerprint (UIDs
 * in the target are new, and a Message-ID alone may belong to another message):
 *
 * - in the target and gone from the source: the move happened → done;
 * - in both, for a move: the COPY + EXPUNGE fallback stopped halfway → the source copy (exactly
 *   that UID) is removed → done; for a label that is what a label is → done, and settled;
 * - only in the source: the command never ran → failed, and the message is sorted again;
 * - in neither: someone else moved or deleted it → failed, with a note.
 *
 * In the target means a message the server numbered from the target's UIDNEXT as it was when the
 * move was journaled: a copy the user filed there before, with the same Message-ID and the same
 * beginning, is not ours (taken for ours, the new message would be expunged from the source). And
 * on a server with MOVE no move is ever half done: in both folders, the command never ran.
 *
 * Without a Message-ID, the source UID alone tells whether the message is still there.
 */
import { Array as Arr, Effect, Option } from "effect"
import type { FolderRef } from "../domain/Email.ts"
import type { MailboxFailure, StateError } from "../domain/Errors.ts"
import { Journal, type JournalEntry, type Settlement } from "../services/Journal.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { SortState } from "../services/SortState.ts"

type WithMessageId = JournalEntry & { readonly messageId: string }

const hasMessageId = (entry: JournalEntry): entry is WithMessageId => entry.messageId !== undefined

/**
 * The ids of the entries whose message is in their target folder, numbered there after the entry
 * was journaled (checked per target, in batches).
 */
const foundInTargets = (entries: ReadonlyArray<WithMessageId>) =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const found = new Set<number>()
    for (const [target, group] of Object.entries(Arr.groupBy(entries, (entry) => entry.target))) {
      // The crash may have come before the target folder was even created.
      const folder = yield* mailbox.openFolder(target).pipe(
        Effect.map(Option.some),
        Effect.catchTag("FolderNotFound", () => Effect.succeedNone)
      )
      if (Option.isNone(folder)) continue
      const uids = yield* mailbox.findMessages(
        folder.value,
        group.map((entry) => ({ messageId: entry.messageId, fingerprint: entry.fingerprint }))
      )
      group.forEach((entry, index) => {
        const before = entry.targetBefore
        // Renumbered since (a new UIDVALIDITY): which copy is ours cannot be told, so none is.
        const ours = (uid: number) => before === undefined || (before.uidValidity === folder.value.uidValidity && uid >= before.uidNext)
        if ((uids[index] ?? []).some(ours)) found.add(entry.id)
      })
    }
    return found
  })

/** Settles every pending journal entry of `folder` against what the server holds. */
export const recoverFolder = (folder: FolderRef): Effect.Effect<number, MailboxFailure | StateError, Mailbox | Journal | SortState> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const journal = yield* Journal
    const pending = yield* journal.pending(folder.path)
    if (pending.length === 0) return 0
    const present = new Set(yield* mailbox.searchUids(folder, { unseenOnly: false }))
    const inSource = (entry: JournalEntry) => entry.sourceUidValidity === folder.uidValidity && present.has(entry.sourceUid)
    const inTarget = yield* foundInTargets(pending.filter(hasMessageId))
    const atomic = yield* mailbox.movesAtomically

    const settlements: Array<Settlement> = []
    const halfMoved: Array<number> = []
    const labelled: Array<number> = []
    for (const entry of pending) {
      const source = inSource(entry)
      if (entry.messageId === undefined) {
        settlements.push(
          source && entry.action === "move"
            ? { ids: [entry.id], state: "failed", note: "interrupted before the move; sorted again" }
            : { ids: [entry.id], state: "done", note: "recovered without a Message-ID" }
        )
      } else if (!inTarget.has(entry.id)) {
        const note = source ? "interrupted before the command; sorted again" : "no longer in either folder"
        settlements.push({ ids: [entry.id], state: "failed", note })
      } else if (source && entry.action === "move" && atomic) {
        settlements.push({ ids: [entry.id], state: "failed", note: "interrupted before the move; sorted again" })
      } else {
        if (source) (entry.action === "move" ? halfMoved : labelled).push(entry.sourceUid)
        settlements.push({ ids: [entry.id], state: "done", note: "recovered after an interruption" })
      }
    }
    if (Arr.isReadonlyArrayNonEmpty(halfMoved)) yield* mailbox.remove(folder, halfMoved)
    yield* (yield* SortState).settle(folder, labelled)
    yield* journal.settle(settlements)
    yield* Effect.logWarning(`${folder.path}: checked ${pending.length} moves interrupted by a crash: ${outcomeText(settlements)}`)
    return pending.length
  })

/** What the check found, so that a user reading the warning knows whether anything is amiss. */
const outcomeText = (settlements: ReadonlyArray<Settlement>): string => {
  const done = settlements.filter((settlement) => settlement.state === "done").length
  const again = settlements.filter((settlement) => settlement.state === "failed" && settlement.note?.endsWith("sorted again")).length
  const gone = settlements.length - done - again
  return [
    `${done} had been made (recorded as done)`,
    `${again} had not (${again === 1 ? "the message is where it was, and is" : "the messages are where they were, and are"} sorted again)`,
    ...(gone > 0 ? [`${gone} no longer in either folder (moved or deleted by someone else: see history)`] : [])
  ].join(", ")
}
