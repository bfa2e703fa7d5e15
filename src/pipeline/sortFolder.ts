/**
 * One folder's pass: the composition of the four stages, joined by bounded queues
 * (`Stream.buffer` with back-pressure), so each stage runs in its own fiber and memory stays
 * flat however large the folder is:
 *
 *   fetch (chunks) ──▶ parse ×workers ──queue──▶ screen, classify (batches) ×workers ──queue──▶ move (rounds)
 *
 * Parsing pulls up to `workers` fetched chunks ahead; the queue before the mover holds up to
 * `moveBatchSize` decisions, and each round of moves takes all that are waiting.
 *
 * Before it, moves a crash interrupted are settled against the server (recover.ts).
 */
import { Clock, DateTime, Effect, Option, Random, Stream } from "effect"
import { statsSince } from "../domain/ClassifierStats.ts"
import { Categories } from "../services/Categories.ts"
import { Classifier } from "../services/Classifier.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { trackProgress } from "../services/Progress.ts"
import { Settings } from "../services/Settings.ts"
import { SortState } from "../services/SortState.ts"
import { classifyStage } from "./classify.ts"
import { fetchStage } from "./fetch.ts"
import { formatMetrics } from "./metrics.ts"
import { moveStage } from "./move.ts"
import { parseStage } from "./parse.ts"
import { recoverFolder } from "./recover.ts"
import { type FolderReport, makeReporter, peakRssBytes, persistSettled, type Reporter } from "./report.ts"
import { recordStoppedPass } from "./telemetry.ts"

/** A pass's id in the journal: when it started, plus a random suffix. Sorts by time. */
export const newRunId = Effect.gen(function*() {
  const now = DateTime.formatIso(yield* DateTime.now)
  return `${now}-${(yield* Random.nextIntBetween(0, 0xffff)).toString(16).padStart(4, "0")}`
})

export interface SortFolderOptions {
  /** The journal's run id for this pass (default: a new one). */
  readonly runId?: string
  /**
   * The service's way: after the newest MAX_EMAILS_PER_FOLDER, the pass goes on with the next
   * newest (mail that arrived meanwhile first), until none is left, the next page read while the
   * last one is still being classified. Without it, one page: the newest MAX_EMAILS_PER_FOLDER.
   */
  readonly continuous?: boolean
}

export const sortFolder = Effect.fn("sortFolder")(function*(path: string, options: SortFolderOptions = {}) {
  const settings = yield* Settings
  const mailbox = yield* Mailbox
  const state = yield* SortState
  const classifier = yield* Classifier
  const categories = yield* Categories
  const run = options.runId ?? (yield* newRunId)
  const started = yield* Clock.currentTimeMillis
  const statsBefore = yield* classifier.stats

  const folder = yield* mailbox.openFolder(path)
  if (!settings.dryRun) yield* recoverFolder(folder)
  /** What the LLM left under categories since edited: asked of it again (ParsedEmail.reasked). */
  const reasked = new Set<number>()

  /**
   * Up to MAX_EMAILS_PER_FOLDER messages, newest first: not settled by an earlier pass (mail left
   * in place under other categories is, again), not waiting for their next try after a failure,
   * not taken already (`taken`); and how many more there are.
   */
  const nextPage = (taken: ReadonlySet<number>) =>
    Effect.gen(function*() {
      const present = yield* mailbox.searchUids(folder, { unseenOnly: settings.unseenOnly, undeleted: true })
      // With PROTON_LUMO_UNSEEN_ONLY=false, what was left is all the folder's mail, read for years: not looked at again.
      const settled = yield* state.handled(folder, present, settings.unseenOnly ? categories.key : undefined)
      for (const uid of settled.reasked) reasked.add(uid)
      const waiting = yield* state.waiting(folder, present)
      const open = present.filter((uid) => !settled.uids.has(uid) && !waiting.uids.has(uid) && !taken.has(uid))
      return {
        page: open.slice(-settings.maxEmailsPerFolder).reverse(),
        more: Math.max(0, open.length - settings.maxEmailsPerFolder),
        waiting: waiting.failed,
        reopened: settled.reopened
      }
    })

  const first = yield* nextPage(new Set())
  if (first.reopened > 0) {
    yield* Effect.logInfo(`${path}: categories.json has changed: the ${first.reopened} message(s) left here before are looked at again`)
  }
  /** The pages after the first, each read when the pipeline asks for more; none once nothing is left. */
  const followingPages = Stream.paginate(new Set(first.page), (taken: ReadonlySet<number>) =>
    Effect.map(nextPage(taken), ({ page }): readonly [ReadonlyArray<ReadonlyArray<number>>, Option.Option<ReadonlySet<number>>] =>
      page.length === 0 ? [[], Option.none()] : [[page], Option.some(new Set([...taken, ...page]))]))
  const pages = options.continuous === true ? Stream.concat(Stream.make(first.page), followingPages) : Stream.make(first.page)
  // Every outcome is one message further; the service's continuous pass expects all that was open at its start.
  const tracker = yield* trackProgress(folder.path, first.page.length + (options.continuous === true ? first.more : 0), "sorted")
  const counted = yield* makeReporter(folder.path)
  const reporter: Reporter = { ...counted, record: (outcome) => Effect.andThen(counted.record(outcome), tracker.advance(1)) }

  /**
   * Makes what is settled (and what is to be tried again) durable, including when the pass is cut
   * short; a dry run's SortState keeps it in memory.
   */
  const flush = Effect.all([
    persistSettled(reporter, folder),
    Effect.flatMap(reporter.takeRetries, ({ failed, deferred }) =>
      Effect.andThen(state.retryLater(folder, failed), state.retryLater(folder, deferred, true)))
  ]).pipe(Effect.catch((error) => Effect.logError(error.message)))

  const report = Effect.gen(function*() {
    const tally = yield* reporter.tally
    const folderReport: FolderReport = {
      folder: folder.path,
      processed: tally.moved + tally.left + tally.failed + tally.gone,
      moved: tally.moved,
      movedBy: tally.movedBy,
      left: tally.left,
      failed: tally.failed,
      failedForGood: tally.failedForGood,
      gone: tally.gone,
      classificationCalls: tally.classificationCalls,
      classifiedEmails: tally.classifiedEmails,
      twins: tally.twins,
      elapsedMillis: (yield* Clock.currentTimeMillis) - started,
      workers: settings.workers,
      batchSize: settings.batchSize,
      dryRun: settings.dryRun,
      classifier: classifier.name,
      llm: statsSince(statsBefore, yield* classifier.stats),
      remaining: options.continuous === true ? 0 : first.more,
      waiting: first.waiting,
      uidNextAtStart: folder.uidNext,
      peakRssBytes: peakRssBytes()
    }
    return folderReport
  })

  /**
   * A pass stopped by a signal still says what it did, and `status` shows it, with what it had not
   * come to yet as the backlog (a service's pass would otherwise say none).
   */
  const reportStopped = Effect.flatMap(report, (sofar) => {
    const stopped = { ...sofar, remaining: Math.max(0, first.page.length + first.more - sofar.processed) }
    return Effect.andThen(
      Effect.logInfo(
        `${stopped.folder}: stopped before the end of the pass: ${stopped.moved} ${settings.dryRun ? "would move" : "moved"}, ` +
          `${stopped.left} left, ${stopped.failed} failed so far; the rest waits for the next run` +
          (settings.metricsEnabled ? `\n${formatMetrics(stopped)}` : "")
      ),
      recordStoppedPass(stopped)
    )
  })

  yield* fetchStage(folder, pages, reporter).pipe(
    parseStage(folder.path, reporter, (uid) => reasked.has(uid)),
    Stream.buffer({ capacity: settings.batchSize * settings.workers }),
    classifyStage(folder, reporter),
    // Moves are grouped across classification batches: the mover takes every decision waiting
    // for it (up to moveBatchSize), so under load one UID MOVE per destination carries hundreds
    // of UIDs, and a lone message is moved at once.
    Stream.flattenIterable,
    Stream.buffer({ capacity: settings.moveBatchSize }),
    Stream.chunks,
    moveStage(folder, run, reporter),
    Effect.ensuring(flush),
    Effect.onInterrupt(() => reportStopped)
  )

  const done = yield* report
  // A pass that found nothing new (the service's regular passes, mostly) has nothing to report.
  if (settings.metricsEnabled && done.processed > 0) yield* Effect.logInfo(formatMetrics(done))
  return done
}, Effect.scoped)
