/**
 * Move stage: per classified batch, one command per destination carrying all of that
 * destination's UIDs (never one per message): `UID MOVE` to a folder, `UID COPY` to a Bridge
 * label (`Labels/…`: the message keeps its folder). Missing folders are created first, parents
 * included.
 *
 * Exactly once: each move is journaled as pending *before* the command is sent and settled when
 * the server answers; a crash in between leaves a pending entry that the next pass checks on the
 * server (see recover.ts). A command in flight is never interrupted: a shutdown waits for its
 * answer. What the batch settled (left, labelled) is made durable before the next batch.
 * In a dry run nothing is sent to the server and nothing is recorded.
 */
import { Array as Arr, Effect, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { Decision, FolderRef, Outcome } from "../domain/Email.ts"
import type { StateError } from "../domain/Errors.ts"
import { isLabel } from "../domain/Folders.ts"
import { Journal } from "../services/Journal.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import { SortState } from "../services/SortState.ts"
import { type FolderAbort, isFolderAbort } from "./fetch.ts"
import type { Reporter } from "./report.ts"

type MoveDecision = Extract<Decision, { readonly _tag: "Move" }>

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
  dryRun
})

export const moveStage = (folder: FolderRef, runId: string, reporter: Reporter) =>
<E, R>(
  batches: Stream.Stream<NonEmptyReadonlyArray<Decision>, E, R>
): Effect.Effect<void, E | FolderAbort | StateError, R | Mailbox | Settings | Journal | SortState> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const settings = yield* Settings
    const journal = yield* Journal
    const state = yield* SortState
    const ensured = new Set<string>()

    const ensure = (target: string) =>
      ensured.has(target)
        ? Effect.void
        : Effect.tap(mailbox.ensureFolder(target), () => Effect.sync(() => ensured.add(target)))

    /** Sends the command for this group and says how it went, journal first and last. */
    const execute = (target: string, moves: NonEmptyReadonlyArray<MoveDecision>) =>
      Effect.gen(function*() {
        const uids = Arr.map(moves, (move) => move.email.uid)
        const action = isLabel(target) ? "label" : "move"
        const ids = yield* journal.begin(moves.map((move) => ({
          runId,
          messageId: move.email.messageId,
          source: folder.path,
          sourceUid: move.email.uid,
          sourceUidValidity: folder.uidValidity,
          target,
          action,
          category: move.category.id,
          confidence: move.confidence,
          classifier: move.classifier,
          reason: move.reason
        })))
        const sent = yield* Effect.result(
          Effect.andThen(
            ensure(target),
            action === "label"
              ? Effect.as(mailbox.copy(folder, uids, target), uids)
              : Effect.map(mailbox.move(folder, uids, target), (receipt) => receipt.uids)
          )
        )
        if (sent._tag === "Failure") {
          yield* journal.settle(ids, "failed", sent.failure.message)
          return yield* Effect.fail(sent.failure)
        }
        const done = new Set(sent.success)
        yield* journal.settle(ids.filter((_, index) => done.has(uids[index] ?? -1)), "done")
        yield* journal.settle(ids.filter((_, index) => !done.has(uids[index] ?? -1)), "failed", "vanished before the move")
        return done
      }).pipe(Effect.uninterruptible)

    const moveGroup = (target: string, moves: NonEmptyReadonlyArray<MoveDecision>) => {
      if (settings.dryRun) return Effect.forEach(moves, (move) => reporter.record(movedOutcome(move, true)))
      return execute(target, moves).pipe(
        Effect.matchEffect({
          onSuccess: (done) =>
            Effect.forEach(moves, (move) =>
              done.has(move.email.uid)
                ? reporter.record(movedOutcome(move, false))
                : Effect.logDebug(`${folder.path}#${move.email.uid} vanished before it could be moved`)),
          onFailure: (error) =>
            error._tag === "StateError" || isFolderAbort(error)
              ? Effect.fail(error)
              : Effect.forEach(moves, (move) =>
                reporter.record({
                  _tag: "Failed",
                  failure: {
                    folder: folder.path,
                    uid: move.email.uid,
                    stage: "move",
                    reason: error.message,
                    // Copied but not removed: trying again would make a second copy.
                    retry: error._tag !== "MoveIncomplete"
                  }
                }))
        })
      )
    }

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
              retry: decision.retry
            })
          }
        }
        const byTarget = Arr.groupBy(moves, (move) => move.category.folder)
        for (const [target, group] of Object.entries(byTarget)) yield* moveGroup(target, group)
        if (!settings.dryRun) yield* Effect.flatMap(reporter.takeSettled, (uids) => state.settle(folder, uids))
      })

    yield* Stream.runForEach(batches, moveBatch)
  })
