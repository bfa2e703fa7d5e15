/**
 * Crash recovery: a journal entry still pending means the process stopped between writing the
 * entry and hearing the server's answer. Before a folder is sorted, each of its pending entries
 * is checked against the server, by Message-ID (UIDs in the target are new):
 *
 * - in the target and gone from the source: the move happened → done;
 * - in both, for a move: the COPY + EXPUNGE fallback stopped halfway → the source copy (exactly
 *   that UID) is removed → done; for a label that is what a label is → done, and settled;
 * - only in the source: the command never ran → failed, and the message is sorted again;
 * - in neither: someone else moved or deleted it → failed, with a note.
 *
 * Without a Message-ID, the source UID alone tells whether the message is still there.
 */
import { Effect } from "effect"
import type { FolderRef } from "../domain/Email.ts"
import type { MailboxFailure, StateError } from "../domain/Errors.ts"
import { Journal, type JournalEntry } from "../services/Journal.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { SortState } from "../services/SortState.ts"

const recoverEntry = (folder: FolderRef, entry: JournalEntry) =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const journal = yield* Journal
    const state = yield* SortState
    const sameFolder = entry.sourceUidValidity === folder.uidValidity
    const present = sameFolder ? yield* mailbox.searchUids(folder, { unseenOnly: false }) : []
    const sourceUidThere = present.includes(entry.sourceUid)
    if (entry.messageId === undefined) {
      return yield* sourceUidThere && entry.action === "move"
        ? journal.settle([{ ids: [entry.id], state: "failed", note: "interrupted before the move; sorted again" }])
        : journal.settle([{ ids: [entry.id], state: "done", note: "recovered without a Message-ID" }])
    }
    const messageId = entry.messageId
    // The crash may have come before the target folder was even created.
    const inTarget = yield* mailbox.openFolder(entry.target).pipe(
      Effect.flatMap((target) => mailbox.findByMessageId(target, messageId)),
      Effect.map((uids) => uids.length > 0),
      Effect.catchTag("FolderNotFound", () => Effect.succeed(false))
    )
    const inSource = sourceUidThere && (yield* mailbox.findByMessageId(folder, entry.messageId)).includes(entry.sourceUid)
    if (!inTarget) {
      const note = inSource ? "interrupted before the command; sorted again" : "no longer in either folder"
      return yield* journal.settle([{ ids: [entry.id], state: "failed", note }])
    }
    if (inSource && entry.action === "move") yield* mailbox.remove(folder, [entry.sourceUid])
    if (inSource && entry.action === "label") yield* state.settle(folder, [entry.sourceUid])
    yield* journal.settle([{ ids: [entry.id], state: "done", note: "recovered after an interruption" }])
  })

/** Settles every pending journal entry of `folder` against what the server holds. */
export const recoverFolder = (folder: FolderRef): Effect.Effect<number, MailboxFailure | StateError, Mailbox | Journal | SortState> =>
  Effect.gen(function*() {
    const pending = yield* (yield* Journal).pending(folder.path)
    for (const entry of pending) yield* recoverEntry(folder, entry)
    if (pending.length > 0) yield* Effect.logWarning(`${folder.path}: checked ${pending.length} moves interrupted by a crash`)
    return pending.length
  })
