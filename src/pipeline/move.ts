/**
 * Move stage: per classified batch, one `UID MOVE` per destination folder carrying all of that
 * folder's UIDs (never one command per message). Missing folders are created first, parents
 * included. A move in flight is never interrupted: a shutdown waits for the server's answer.
 * In a dry run nothing is sent to the server; the moves are only reported.
 */
import { Array as Arr, Effect, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { Decision, FolderRef, Outcome } from "../domain/Email.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import { type FolderAbort, isFolderAbort } from "./fetch.ts"
import type { Reporter } from "./report.ts"

type MoveDecision = Extract<Decision, { readonly _tag: "Move" }>

const movedOutcome = (move: MoveDecision, dryRun: boolean): Outcome => ({
  _tag: "Moved",
  uid: move.email.uid,
  subject: move.email.subject,
  from: move.email.from,
  to: move.category.folder,
  categoryId: move.category.id,
  confidence: move.confidence,
  classifier: move.classifier,
  dryRun
})

export const moveStage = (folder: FolderRef, reporter: Reporter) =>
<E, R>(
  batches: Stream.Stream<NonEmptyReadonlyArray<Decision>, E, R>
): Effect.Effect<void, E | FolderAbort, R | Mailbox | Settings> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const settings = yield* Settings
    const ensured = new Set<string>()

    const ensure = (target: string) =>
      ensured.has(target)
        ? Effect.void
        : Effect.tap(mailbox.ensureFolder(target), () => Effect.sync(() => ensured.add(target)))

    const moveGroup = (target: string, moves: NonEmptyReadonlyArray<MoveDecision>) => {
      if (settings.dryRun) return Effect.forEach(moves, (move) => reporter.record(movedOutcome(move, true)))
      const uids = Arr.map(moves, (move) => move.email.uid)
      return Effect.uninterruptible(Effect.andThen(ensure(target), mailbox.move(folder, uids, target))).pipe(
        Effect.matchEffect({
          onSuccess: (receipt) => {
            const moved = new Set(receipt.uids)
            return Effect.forEach(moves, (move) =>
              moved.has(move.email.uid)
                ? reporter.record(movedOutcome(move, false))
                : Effect.logDebug(`${folder.path}#${move.email.uid} vanished before it could be moved`))
          },
          onFailure: (error) =>
            isFolderAbort(error)
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
      })

    yield* Stream.runForEach(batches, moveBatch)
  })
