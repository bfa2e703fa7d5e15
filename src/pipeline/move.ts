/**
 * Move stage: per group of decisions, one command per destination carrying all of that
 * destination's UIDs (never one per message): `UID MOVE` to a folder, `UID COPY` to a Bridge
 * label (`Labels/…`: the message keeps its folder). Missing folders are created first, parents
 * included.
 *
 * Exactly once: each move is journaled as pending *before* its command is sent and settled when
 * the server has answered; a crash in between leaves a pending entry that the next pass checks on
 * the server (see recover.ts). A round of commands in flight is never interrupted: a shutdown
 * waits for its answers. What the round settled (left, labelled) is made durable before the next.
 * In a dry run nothing is sent to the server and nothing is recorded.
 */
import { Array as Arr, Effect, Result, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { Decision, FolderRef, Outcome } from "../domain/Email.ts"
import type { MailboxFailure, StateError } from "../domain/Errors.ts"
import { senderOf } from "../classify/features.ts"
import { isLabel } from "../domain/Folders.ts"
import type { Categories } from "../services/Categories.ts"
import { Journal, type NewJournalEntry, type Settlement } from "../services/Journal.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import type { SortState } from "../services/SortState.ts"
import { type FolderAbort, isFolderAbort } from "./fetch.ts"
import { persistSettled, type Reporter } from "./report.ts"

type MoveDecision = Extract<Decision, { readonly _tag: "Move" }>
/** A destination and the moves going there. */
type MoveGroup = readonly [string, NonEmptyReadonlyArray<MoveDecision>]

const movedOutcome = (move: MoveDecision, dryRun: boolean): Outcome => ({
  _tag: "Moved",
  uid: move.email.uid,
  subject: move.email.subject,
  from: move.email.from,
  to: move.category.folder,
  action: isLabel(move.category.folder) ? "label" : "move",
  categoryId: move.category.id,
  confidence: move.confidence,
  classifier: move.classifier,
  stage: move.stage,
  dryRun,
  ...(move.twinOf === undefined ? {} : { twinOf: move.twinOf })
})

const journalEntry = (
  folder: FolderRef,
  runId: string,
  target: string,
  move: MoveDecision,
  targetBefore: NewJournalEntry["targetBefore"]
): NewJournalEntry => ({
  runId,
  messageId: move.email.messageId,
  fingerprint: move.email.fingerprint,
  source: folder.path,
  sourceUid: move.email.uid,
  sourceUidValidity: folder.uidValidity,
  target,
  action: isLabel(target) ? "label" : "move",
  category: move.category.id,
  confidence: move.confidence,
  classifier: move.classifier,
  reason: move.reason,
  sender: senderOf(move.email),
  internalDate: move.email.internalDate,
  targetBefore
})

/** Records each message of a group as moved, vanished or failed. */
const reportGroup = (
  folder: FolderRef,
  reporter: Reporter,
  moves: NonEmptyReadonlyArray<MoveDecision>,
  result: Result.Result<ReadonlySet<number>, MailboxFailure>
) =>
  Result.isSuccess(result)
    ? Effect.forEach(moves, (move) =>
      result.success.has(move.email.uid)
        ? reporter.record(movedOutcome(move, false))
        : reporter.record({ _tag: "Gone", uid: move.email.uid, subject: move.email.subject, to: move.category.folder }))
    : Effect.forEach(moves, (move) =>
      reporter.record({
        _tag: "Failed",
        failure: {
          folder: folder.path,
          uid: move.email.uid,
          stage: "move",
          reason: result.failure.message,
          // Copied but not removed: trying again would make a second copy.
          retry: result.failure._tag !== "MoveIncomplete"
        }
      }))

export const moveStage = (folder: FolderRef, runId: string, reporter: Reporter) =>
<E, R>(
  batches: Stream.Stream<NonEmptyReadonlyArray<Decision>, E, R>
): Effect.Effect<void, E | FolderAbort | StateError, R | Mailbox | Settings | Journal | SortState | Categories> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const settings = yield* Settings
    const journal = yield* Journal
    const ensured = new Set<string>()

    const ensure = (target: string) =>
      ensured.has(target)
        ? Effect.void
        : Effect.tap(mailbox.ensureFolder(target), () => Effect.sync(() => ensured.add(target)))

    /** What the server moved (or labelled) of this group, as it confirmed it. */
    const send = (target: string, uids: NonEmptyReadonlyArray<number>) =>
      Effect.andThen(ensure(target), isLabel(target) ? mailbox.copy(folder, uids, target) : mailbox.move(folder, uids, target))

    /**
     * The target as it is before the move (STATUS): after a crash, a message there numbered below
     * its UIDNEXT is not ours, however like ours it looks. Absent when it cannot be read (a folder
     * not created yet holds nothing of the user's).
     */
    const targetBefore = (target: string) =>
      mailbox.folderStatus(target).pipe(
        Effect.map((status) => ({ uidNext: status.uidNext, uidValidity: status.uidValidity })),
        Effect.orElseSucceed(() => undefined)
      )

    /**
     * One round: every move journaled as pending (one transaction) before the first command,
     * one command per destination, and every answer settled (one transaction) after the last,
     * so a round costs two journal commits however many destinations it has. A lost
     * connection or folder stops the round: the groups not sent yet are settled as failed (the one
     * a lost connection cut off stays pending, for the next pass to read back from the server) and
     * the pass of this folder ends. A round in flight is never interrupted.
     */
    const executeRound = (groups: ReadonlyArray<MoveGroup>) =>
      Effect.gen(function*() {
        const before = yield* Effect.forEach(groups, ([target]) => targetBefore(target))
        const ids = yield* journal.begin(groups.flatMap(([target, moves], index) =>
          moves.map((move) => journalEntry(folder, runId, target, move, before[index]))
        ))
        const settlements: Array<Settlement> = []
        const results: Array<Result.Result<ReadonlySet<number>, MailboxFailure>> = []
        let stoppedBy: FolderAbort | undefined
        let offset = 0
        for (const [target, moves] of groups) {
          const groupIds = ids.slice(offset, offset + moves.length)
          offset += moves.length
          const notSent = stoppedBy !== undefined
          const sent = stoppedBy === undefined
            ? yield* Effect.result(send(target, Arr.map(moves, (move) => move.email.uid)))
            : Result.fail(stoppedBy)
          if (Result.isFailure(sent)) {
            if (isFolderAbort(sent.failure)) stoppedBy = sent.failure
            // Cut off by a lost connection, the command's outcome is unknown (a copy made, its
            // original not yet removed, say): left pending, the next pass reads it from the server.
            if (notSent || sent.failure._tag !== "ImapConnectError") {
              const note = notSent ? `not sent: ${sent.failure.message}` : sent.failure.message
              settlements.push({ ids: groupIds, state: "failed", note })
            }
            results.push(Result.fail(sent.failure))
            continue
          }
          // Only what the server confirmed counts as moved: a UID another client expunged first was not.
          const targetUids = new Map(sent.success.moved.map((message) => [message.uid, message.targetUid]))
          const moved = (index: number) => targetUids.has(moves[index]?.email.uid ?? -1)
          const placed = new Map<number, number>()
          groupIds.forEach((id, index) => {
            const targetUid = targetUids.get(moves[index]?.email.uid ?? -1)
            if (targetUid !== undefined) placed.set(id, targetUid)
          })
          const uidValidity = sent.success.targetUidValidity
          settlements.push(
            {
              ids: groupIds.filter((_, index) => moved(index)),
              state: "done",
              ...(uidValidity === undefined ? {} : { placed: { uidValidity, uids: placed } })
            },
            { ids: groupIds.filter((_, index) => !moved(index)), state: "failed", note: "vanished before the move" }
          )
          results.push(Result.succeed(new Set(targetUids.keys())))
        }
        yield* journal.settle(settlements)
        return { results, stoppedBy }
      }).pipe(Effect.uninterruptible)

    const moveGroups = (groups: ReadonlyArray<MoveGroup>) =>
      Effect.gen(function*() {
        if (settings.dryRun) {
          for (const [, moves] of groups) yield* Effect.forEach(moves, (move) => reporter.record(movedOutcome(move, true)))
          return
        }
        if (groups.length === 0) return
        const { results, stoppedBy } = yield* executeRound(groups)
        // Mail a lost connection or folder kept from moving is not a failure of its own: the
        // folder's pass ends, and the next one sorts it.
        yield* Effect.forEach(groups, ([, moves], index) => {
          const result = results[index]
          return result === undefined || (Result.isFailure(result) && isFolderAbort(result.failure))
            ? Effect.void
            : reportGroup(folder, reporter, moves, result)
        })
        if (stoppedBy !== undefined) return yield* Effect.fail(stoppedBy)
      })

    /**
     * One batch of decisions, never interrupted half-way: a stop that comes while a round of moves
     * is in flight waits for its answers to be logged and counted, so the summary of a stopped
     * pass holds every move it made.
     */
    const moveBatch = (batch: NonEmptyReadonlyArray<Decision>) =>
      Effect.gen(function*() {
        const moves: Array<MoveDecision> = []
        for (const decision of batch) {
          if (decision._tag === "Move") moves.push(decision)
          else {
            yield* reporter.record({
              _tag: "Left",
              uid: decision.email.uid,
              subject: decision.email.subject,
              reason: decision.reason,
              retry: decision.retry,
              ...(decision.byUser === true ? { byUser: true } : {}),
              ...(decision.llmSaidNone === true ? { llmSaidNone: true } : {})
            })
          }
        }
        yield* moveGroups(Object.entries(Arr.groupBy(moves, (move) => move.category.folder)))
        yield* persistSettled(reporter, folder)
      }).pipe(Effect.uninterruptible)

    yield* Stream.runForEach(batches, moveBatch)
  })
