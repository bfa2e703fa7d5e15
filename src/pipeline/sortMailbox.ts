/**
 * One pass over every configured source folder. A folder that cannot be sorted (missing, a
 * system or target folder, a dropped connection) is reported and skipped; the others go on.
 */
import { Duration, Effect, Option } from "effect"
import { isConnectionLoss } from "../domain/Errors.ts"
import { forbiddenSpecialUses, isForbiddenSource, sourcesThatAreTargets } from "../domain/Folders.ts"
import { Categories } from "../services/Categories.ts"
import { Classifier } from "../services/Classifier.ts"
import { Journal } from "../services/Journal.ts"
import { LearnedModel } from "../services/LearnedModel.ts"
import { type FolderInfo, Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import { gatherExamples } from "./examples.ts"
import { correctionRate, type LearnOptions, type LearnReport, learnFromFolders } from "./learn.ts"
import type { FolderReport } from "./report.ts"
import { recoverFolder } from "./recover.ts"
import { newRunId, sortFolder } from "./sortFolder.ts"
import { observePass } from "./telemetry.ts"


/** Why `path` must not be sorted, if it must not. */
export const sourceProblem = (
  path: string,
  folders: ReadonlyArray<FolderInfo>,
  targets: ReadonlyArray<string>
): string | undefined => {
  const info = folders.find((folder) =>
    folder.path === path || (path.toUpperCase() === "INBOX" && folder.path.toUpperCase() === "INBOX")
  )
  if (info === undefined || !info.selectable) return "it does not exist on the server"
  if (isForbiddenSource(path)) return "All Mail, Labels/…, Spam, Trash and the like are never sorted"
  if (info.specialUse !== undefined && forbiddenSpecialUses.has(info.specialUse)) {
    return `it is the server's ${info.specialUse} folder, which is never sorted`
  }
  if (sourcesThatAreTargets([path], targets).length > 0) return "it is a category's target folder"
  return undefined
}

/** How long a service pass may read for learning before it sorts (a first scan takes several passes). */
export const LEARN_READ_TIME = Duration.minutes(1)

/** A configured folder this pass could not sort, and why. */
export interface FolderProblem {
  readonly folder: string
  readonly reason: string
  /** `unsortable`: missing, or not a folder to sort (a settings error); `stopped`: its pass ended early. */
  readonly kind: "unsortable" | "stopped"
}

/** What one pass over the folders did. */
export interface PassReport {
  readonly folders: ReadonlyArray<FolderReport>
  readonly problems: ReadonlyArray<FolderProblem>
  /** What the learning scan before the pass learned; none when learning is off or the scan failed. */
  readonly learning: Option.Option<LearnReport>
  /** Why the learning scan failed, when it did (the pass sorted with what was learned before). */
  readonly learningFailure?: string
}

/**
 * The learning scan, whose failure (a folder that cannot be read, the database) is reported and
 * does not stop the pass: it sorts with what the model knew. That may be nothing of the user's
 * folders (a first scan that failed: the data folder full, say), so what keywords leave in this
 * pass is tried again later, as while a first scan is under way, not settled for good.
 */
const learnBeforeSorting = (sources: ReadonlyArray<string>, options: LearnOptions) =>
  learnFromFolders(sources, options).pipe(
    Effect.map((report): Learning => ({ learning: Option.some(report) })),
    Effect.catchIf(
      (error) => !isConnectionLoss(error),
      (error) =>
        Effect.logError(`learning from the folders failed: ${error.message}; sorting with what was learned before`).pipe(
          Effect.andThen(LearnedModel.use((model) => model.scanEnded(true))),
          Effect.as<Learning>({ learning: Option.none(), learningFailure: error.message })
        )
    )
  )

/** How the learning scan before a pass went (see PassReport). */
type Learning = Pick<PassReport, "learning" | "learningFailure">

/**
 * Moves a crash cut short, settled against the server before the learning scan reads the folders
 * they went to: a move still pending is not known as the sorter's yet, and would be learned as
 * mail the user filed (keywords' moves too, which are never learned). `sortFolder` checks again;
 * what fails here is reported there.
 */
const recoverBeforeLearning = (sources: ReadonlyArray<string>) =>
  Effect.forEach(sources, (path) =>
    // Only a folder with moves pending is opened here: on every other pass it costs nothing.
    Journal.use((journal) => journal.pending(path)).pipe(
      Effect.flatMap((pending) =>
        pending.length === 0 ? Effect.void : Effect.flatMap(Mailbox.use((mailbox) => mailbox.openFolder(path)), recoverFolder)
      ),
      Effect.catchIf((error) => !isConnectionLoss(error), () => Effect.void)
    ), { discard: true })

/**
 * One pass over `only` (default: every configured source folder); one journal run id for all.
 * `continuous`: each folder's pass goes on until nothing is left (see SortFolderOptions).
 */
export const sortMailbox = Effect.fn("sortMailbox")(function*(
  only?: ReadonlyArray<string>,
  options: { readonly continuous?: boolean } = {}
) {
  yield* (yield* Classifier).beginPass
  const settings = yield* Settings
  const mailbox = yield* Mailbox
  const categories = yield* Categories
  const targets = categories.all.map((category) => category.folder)
  const folders = yield* mailbox.listFolders
  yield* categories.noteServerFolders(folders)
  const runId = yield* newRunId
  const reports: Array<FolderReport> = []
  const problems: Array<FolderProblem> = []
  const sources: Array<string> = []
  for (const path of only ?? settings.folders) {
    const problem = sourceProblem(path, folders, targets)
    if (problem === undefined) {
      sources.push(path)
      continue
    }
    yield* Effect.logError(`cannot sort folder "${path}": ${problem}`)
    problems.push({ folder: path, reason: problem, kind: "unsortable" })
  }
  if (settings.learn && !settings.dryRun) yield* recoverBeforeLearning(sources)
  // The service reads for a minute at most before it sorts; `--once` reads all there is.
  const learned: Learning = settings.learn
    ? yield* learnBeforeSorting(sources, options.continuous === true ? { readFor: LEARN_READ_TIME } : {})
    : { learning: Option.none() }
  // Examples for the LLM are read on full passes, not on every IDLE wake-up.
  if (only === undefined) {
    yield* gatherExamples().pipe(
      Effect.catchIf(
        (error) => !isConnectionLoss(error),
        (error) => Effect.logWarning(`could not read example subjects for the LLM: ${error.message}`)
      )
    )
  }
  for (const path of sources) {
    const report = yield* sortFolder(path, { runId, ...options }).pipe(
      Effect.map(Option.some),
      // A lost connection concerns every folder: the caller deals with it (service: reconnect).
      Effect.catchIf(
        (error) => !isConnectionLoss(error),
        (error) =>
          Effect.as(
            Effect.gen(function*() {
              yield* Effect.logError(`folder "${path}": pass stopped: ${error.message}; the rest waits for the next pass`)
              problems.push({ folder: path, reason: error.message, kind: "stopped" })
            }),
            Option.none()
          )
      )
    )
    if (report._tag === "Some") reports.push(report.value)
  }
  // After a pass that sorted something, the truest accuracy figure there is, with the metrics.
  if (settings.metricsEnabled && reports.some((report) => report.moved > 0)) {
    yield* correctionRate().pipe(
      Effect.flatMap((rate) => Effect.logInfo(`📊 Corrections: ${rate}`)),
      Effect.catch((error) => Effect.logWarning(error.message))
    )
  }
  const pass: PassReport = { folders: reports, problems, ...learned }
  yield* observePass(pass)
  return pass
})
