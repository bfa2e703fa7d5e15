/**
 * One folder's pass: the composition of the four stages, joined by bounded queues
 * (`Stream.buffer` with back-pressure), so each stage runs in its own fiber and memory stays
 * flat however large the folder is:
 *
 *   fetch ──queue──▶ parse ×workers ──queue──▶ classify (batches) ×workers ──queue──▶ move
 */
import { Clock, Effect, Stream } from "effect"
import { statsSince } from "../domain/ClassifierStats.ts"
import { Classifier } from "../services/Classifier.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import { SortState } from "../services/SortState.ts"
import { classifyStage } from "./classify.ts"
import { fetchStage } from "./fetch.ts"
import { moveStage } from "./move.ts"
import { parseStage } from "./parse.ts"
import { type FolderReport, makeReporter } from "./report.ts"

export const sortFolder = Effect.fn("sortFolder")(function*(path: string) {
  const settings = yield* Settings
  const mailbox = yield* Mailbox
  const state = yield* SortState
  const classifier = yield* Classifier
  const started = yield* Clock.currentTimeMillis
  const statsBefore = yield* classifier.stats

  const folder = yield* mailbox.openFolder(path)
  const present = yield* mailbox.searchUids(folder, { unseenOnly: settings.unseenOnly })
  const settledBefore = yield* state.handled(folder)
  // Newest first, up to the per-folder limit, skipping what earlier passes already settled.
  const candidates = present.filter((uid) => !settledBefore.has(uid)).slice(-settings.maxEmailsPerFolder).reverse()
  const reporter = yield* makeReporter(folder.path)

  /** Remember what this pass settled, even when it is cut short; UIDs gone from the folder are forgotten. */
  const remember = Effect.gen(function*() {
    if (settings.dryRun) return
    const { settled } = yield* reporter.tally
    const stillThere = new Set(present)
    yield* state.save(folder, new Set([...[...settledBefore].filter((uid) => stillThere.has(uid)), ...settled]))
  })

  yield* fetchStage(folder, candidates, reporter).pipe(
    Stream.buffer({ capacity: settings.fetchChunkSize }),
    parseStage(folder.path, reporter),
    Stream.buffer({ capacity: settings.batchSize * settings.workers }),
    classifyStage(folder.path, reporter),
    Stream.buffer({ capacity: settings.workers }),
    moveStage(folder, reporter),
    Effect.ensuring(remember.pipe(Effect.catch((error) => Effect.logError(error.message))))
  )

  const tally = yield* reporter.tally
  const report: FolderReport = {
    folder: folder.path,
    processed: tally.moved + tally.left + tally.failed,
    moved: tally.moved,
    left: tally.left,
    failed: tally.failed,
    classificationCalls: tally.classificationCalls,
    elapsedMillis: (yield* Clock.currentTimeMillis) - started,
    workers: settings.workers,
    batchSize: settings.batchSize,
    dryRun: settings.dryRun,
    classifier: classifier.name,
    llm: statsSince(statsBefore, yield* classifier.stats)
  }
  return report
})
