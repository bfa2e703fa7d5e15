/**
 * After each pass: its figures into the metrics (domain/Telemetry.ts), each folder's success
 * or failure into Health, for /readyz, and into the PassLog, for `status`, with how its learning
 * scan ended (not in a dry run, which writes nothing, as it writes no journal).
 */
import { Clock, Effect, Metric, Option } from "effect"
import { type LearningOutcome, type PassRecord, PassLog } from "../services/PassLog.ts"
import { Settings } from "../services/Settings.ts"
import {
  backlog,
  lastLearning,
  lastPass,
  learningFailures,
  llmCost,
  llmKept,
  llmRequests,
  llmTokens,
  passDuration
} from "../domain/Telemetry.ts"
import { withHealth } from "../services/Health.ts"
import { escapeControls } from "../domain/Terminal.ts"
import type { FolderReport } from "./report.ts"
import type { PassReport } from "./sortMailbox.ts"

const observeFolder = (report: FolderReport, now: number) =>
  Effect.gen(function*() {
    // Folder names come from the server: a label value must not drive the terminal of whoever reads /metrics.
    const folder = { folder: escapeControls(report.folder) }
    yield* Metric.update(passDuration, report.elapsedMillis / 1000)
    yield* Metric.update(Metric.withAttributes(lastPass, folder), now / 1000)
    yield* Metric.update(Metric.withAttributes(backlog, folder), report.remaining + report.waiting)
    yield* Metric.update(llmRequests, report.llm.llmRequests)
    yield* Metric.update(Metric.withAttributes(llmTokens, { kind: "prompt" }), report.llm.promptTokens)
    yield* Metric.update(Metric.withAttributes(llmTokens, { kind: "completion" }), report.llm.completionTokens)
    yield* Metric.update(llmCost, report.llm.estimatedCost)
    yield* Metric.update(llmKept, report.llm.keptWithoutLlm)
  })

const failedPass = (folder: string, reason: string, now: number): PassRecord => ({
  folder,
  endedAt: now,
  elapsedMillis: 0,
  moved: 0,
  left: 0,
  failed: 0,
  remaining: 0,
  waiting: 0,
  kept: 0,
  error: reason
})

const sortedPass = (report: FolderReport, now: number): PassRecord => ({
  folder: report.folder,
  endedAt: now,
  elapsedMillis: report.elapsedMillis,
  moved: report.moved,
  left: report.left,
  failed: report.failed,
  remaining: report.remaining,
  waiting: report.waiting,
  kept: report.llm.keptWithoutLlm,
  error: undefined
})

/**
 * Into the PassLog, unless this is a dry run; a database that fails here is warned about, not
 * fatal. Once a folder of this run is sorted, the PassLog keeps only the folders sorted now (those
 * dropped from PROTON_LUMO_FOLDERS go); a run that sorted none (a mistyped folder, the server
 * down) leaves the others' last passes and errors as they were.
 */
const record = (passes: ReadonlyArray<PassRecord>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    if (settings.dryRun) return
    const passLog = yield* PassLog
    const sortedAny = passes.some((pass) => pass.error === undefined)
    yield* Effect.andThen(passLog.record(passes), sortedAny ? passLog.keepOnly(settings.folders) : Effect.void).pipe(
      Effect.catch((error) => Effect.logWarning(`could not record the pass for status: ${error.message}`))
    )
  })

/**
 * What to record of the pass's learning scan: that it failed, or that it completed (a scan that
 * goes on next pass has not), and that it could not read some folders (the others were read).
 */
const learningOutcomes = (pass: PassReport, now: number): ReadonlyArray<LearningOutcome> => {
  if (pass.learningFailure !== undefined) {
    return [{ _tag: "Failed", at: now, message: `${pass.learningFailure}; sorted with what was learned before` }]
  }
  if (Option.isNone(pass.learning)) return []
  const { learned, stays, corrections, complete, unreadFolders } = pass.learning.value
  const scanned: ReadonlyArray<LearningOutcome> = complete ? [{ _tag: "Scanned", scan: { at: now, learned, stays, corrections } }] : []
  const unread: ReadonlyArray<LearningOutcome> = unreadFolders.length === 0 ? [] : [{
    _tag: "Failed",
    at: now,
    message: `could not read ${unreadFolders.join(", ")}; the other folders were read, these are tried again next pass`
  }]
  return [...scanned, ...unread]
}

/** The learning scan's end into the metrics, and into the PassLog unless this is a dry run (as `record`). */
const observeLearning = (outcome: LearningOutcome) =>
  Effect.gen(function*() {
    // Counted even when none: a series that exists at 0 can be alerted on from the start.
    yield* Metric.update(learningFailures, outcome._tag === "Failed" ? 1 : 0)
    if (outcome._tag === "Scanned") yield* Metric.update(lastLearning, outcome.scan.at / 1000)
    if ((yield* Settings).dryRun) return
    yield* (yield* PassLog).recordLearning(outcome).pipe(
      Effect.catch((error) => Effect.logWarning(`could not record the learning scan for status: ${error.message}`))
    )
  })

/** A folder's pass stopped by a signal: what it did so far is its last pass (`status`), not nothing. */
export const recordStoppedPass = Effect.fn("recordStoppedPass")(function*(report: FolderReport) {
  yield* record([sortedPass(report, yield* Clock.currentTimeMillis)])
})

/** A pass over `folders` that failed as a whole (the connection lost, say): each folder's last pass failed. */
export const recordFailedPass = Effect.fn("recordFailedPass")(function*(folders: ReadonlyArray<string>, reason: string) {
  const now = yield* Clock.currentTimeMillis
  yield* record(folders.map((folder) => failedPass(folder, reason, now)))
})

/** After a pass: its figures into the metrics and the PassLog, and each folder's success or failure into Health. */
export const observePass = Effect.fn("observePass")(function*(pass: PassReport) {
  const now = yield* Clock.currentTimeMillis
  yield* record([
    ...pass.folders.map((report) => sortedPass(report, now)),
    ...pass.problems.map((problem) => failedPass(problem.folder, problem.reason, now))
  ])
  for (const report of pass.folders) yield* observeFolder(report, now)
  for (const outcome of learningOutcomes(pass, now)) yield* observeLearning(outcome)
  // A pass that ended went through the server: logged in (again, after an outage).
  yield* withHealth((health) =>
    Effect.gen(function*() {
      yield* health.loggedIn
      for (const report of pass.folders) yield* health.passed(report.folder, undefined)
      for (const problem of pass.problems) yield* health.passed(problem.folder, problem.reason)
    })
  )
})
