/**
 * What a pass did to a folder: each outcome is logged as it happens (folder, UID, reason) and
 * counted, and the UIDs to remember as handled are collected for the state.
 */
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import type { ClassifierStats } from "../domain/ClassifierStats.ts"
import type { ClassifierStage, FolderRef, Outcome } from "../domain/Email.ts"
import { escapeControls } from "../domain/Terminal.ts"
import { shorten } from "../domain/Text.ts"
import { countOutcome } from "../domain/Telemetry.ts"
import { Categories } from "../services/Categories.ts"
import { SortState } from "../services/SortState.ts"

/**
 * The process's peak resident memory in bytes. Linux: VmHWM, this process's own high-water
 * mark; `getrusage`'s maxRSS is not, as it keeps the parent's resident size from before exec.
 * Elsewhere: maxRSS. At least the resident size now: the kernel raises its mark lazily, and it
 * was seen a page below it.
 */
export const peakRssBytes = (): number => Math.max(recordedPeakBytes(), process.memoryUsage.rss())

const recordedPeakBytes = (): number => {
  try {
    const kilobytes = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "latin1"))?.[1]
    if (kilobytes !== undefined) return Number(kilobytes) * 1024
  } catch {
    // no procfs: not Linux
  }
  return process.resourceUsage().maxRSS * 1024
}

export interface FolderReport {
  readonly folder: string
  /** Messages the pass looked at (moved + left + failed + gone). */
  readonly processed: number
  readonly moved: number
  /** Of those moved, how many each link of the classifier chain decided. */
  readonly movedBy: Readonly<Record<ClassifierStage, number>>
  readonly left: number
  readonly failed: number
  /** Of those failed, how many never will be sorted (they cannot be read as mail): not tried again. */
  readonly failedForGood: number
  /** Moved or deleted by another client before the sorter could move them. */
  readonly gone: number
  readonly classificationCalls: number
  /** Emails those calls carried (what screening left open: not what it decided at once). */
  readonly classifiedEmails: number
  /** Emails given the verdict of a twin (domain/Twins.ts), without a call of their own. */
  readonly twins: number
  readonly elapsedMillis: number
  readonly workers: number
  readonly batchSize: number
  readonly dryRun: boolean
  readonly classifier: string
  /** What the classifier spent on this folder in this pass. */
  readonly llm: ClassifierStats
  /** Candidates beyond MAX_EMAILS_PER_FOLDER, left for the next pass. */
  readonly remaining: number
  /** Messages that failed before and wait for their next try (not looked at in this pass). */
  readonly waiting: number
  /** The folder's UIDNEXT when the pass began: mail from that UID on arrived during or after it. */
  readonly uidNextAtStart: number
  /** The process's peak resident memory so far, in bytes. */
  readonly peakRssBytes: number
}

export interface Tally {
  readonly moved: number
  /** Of those moved, how many each link of the classifier chain decided. */
  readonly movedBy: Readonly<Record<ClassifierStage, number>>
  readonly left: number
  readonly failed: number
  readonly failedForGood: number
  readonly gone: number
  readonly classificationCalls: number
  readonly classifiedEmails: number
  readonly twins: number
}

/** See `Reporter.takeSettled`. */
export interface Settled {
  readonly left: ReadonlyArray<number>
  readonly llmSaidNone: ReadonlyArray<number>
  readonly other: ReadonlyArray<number>
  /** Moved out of the folder (not labelled, not a dry run's). */
  readonly moved: ReadonlyArray<number>
}

export interface Reporter {
  readonly record: (outcome: Outcome) => Effect.Effect<void>
  /** One batch of `emails` handed to the classifier. */
  readonly classificationCall: (emails: number) => Effect.Effect<void>
  /** `emails` given the verdict of a twin instead. */
  readonly answeredAsTwins: (emails: number) => Effect.Effect<void>
  readonly tally: Effect.Effect<Tally>
  /**
   * The UIDs settled since the last call, left in place by a classification (`left`; `llmSaidNone`:
   * the LLM's answer that no category fits), or labelled, failed for good or kept by the user
   * (`other`): the caller makes them durable (`persistSettled`), so a later pass does not read them again;
   * and those moved out of the folder (`moved`), whose retries end.
   */
  readonly takeSettled: Effect.Effect<Settled>
  /**
   * The UIDs to be tried again later, since the last call: those that failed, and those left for
   * now (the LLM could not answer for them, say).
   */
  readonly takeRetries: Effect.Effect<{ readonly failed: ReadonlyArray<number>; readonly deferred: ReadonlyArray<number> }>
}

/** Subjects, reasons and server replies come from mail or servers: escaped, and subjects shortened. */
const subjectForLog = (subject: string): string =>
  `"${escapeControls(shorten(subject, 70))}"`

/** The outcome's message as fields of the log entry (JSON lines show them; text lines do not). */
const outcomeAnnotations = (folder: string, outcome: Outcome): Record<string, string | number> => {
  switch (outcome._tag) {
    case "Moved":
      return { folder, uid: outcome.uid, category: outcome.categoryId }
    case "Left":
    case "Gone":
      return { folder, uid: outcome.uid }
    case "Failed":
      return { folder: outcome.failure.folder, uid: outcome.failure.uid }
  }
}

const outcomeLine = (folder: string, outcome: Outcome): Effect.Effect<void> => {
  switch (outcome._tag) {
    case "Moved": {
      const label = outcome.action === "label"
      const verb = outcome.dryRun ? `[dry run] would ${label ? "label" : "move"}` : label ? "labelled" : "moved"
      return Effect.logInfo(
        `${verb} ${folder}#${outcome.uid} ${label ? "+" : "→ "}${outcome.to}  ` +
          `${escapeControls(outcome.categoryId)} ${outcome.confidence.toFixed(2)} (${outcome.classifier}` +
          `${outcome.twinOf === undefined ? "" : `; as its twin, UID ${outcome.twinOf}`})  ` +
          subjectForLog(outcome.subject)
      )
    }
    case "Left":
      return Effect.logInfo(
        `left ${folder}#${outcome.uid} in place: ${escapeControls(outcome.reason)}  ${subjectForLog(outcome.subject)}`
      )
    case "Gone":
      return Effect.logInfo(
        `gone ${folder}#${outcome.uid} before it could be moved to ${outcome.to}: another client moved or deleted it ` +
          `first  ${subjectForLog(outcome.subject)}`
      )
    case "Failed":
      return Effect.logWarning(
        `not sorted ${outcome.failure.folder}#${outcome.failure.uid} (${outcome.failure.stage} failed): ` +
          `${escapeControls(outcome.failure.reason)}; the message stays where it is`
      )
  }
}

const logOutcome = (folder: string, outcome: Outcome): Effect.Effect<void> =>
  Effect.annotateLogs(outcomeLine(folder, outcome), outcomeAnnotations(folder, outcome))

/** Whether no later pass needs to read this message again (it is not moved, and not to be retried). */
const settles = (outcome: Outcome): boolean =>
  (outcome._tag === "Moved" && outcome.action === "label") ||
  (outcome._tag === "Left" && !outcome.retry) ||
  (outcome._tag === "Failed" && !outcome.failure.retry)

const uidOf = (outcome: Outcome): number => (outcome._tag === "Failed" ? outcome.failure.uid : outcome.uid)

const isDryRun = (outcome: Outcome): boolean => outcome._tag === "Moved" && outcome.dryRun

/** Which list of `Reporter.takeSettled` a settled outcome is in. */
const settledAs = (outcome: Outcome): keyof Settled => {
  if (outcome._tag === "Left" && outcome.llmSaidNone === true) return "llmSaidNone"
  // Mail the user took out of a category stays for good: not looked at again after an edit.
  return (outcome._tag === "Left" && outcome.byUser !== true) || isDryRun(outcome) ? "left" : "other"
}

/**
 * Makes what `reporter` settled durable: mail left in place under the categories it was classified
 * with (an edit of categories.json has it looked at again), the rest for good.
 */
export const persistSettled = (reporter: Reporter, folder: FolderRef) =>
  Effect.gen(function*() {
    const state = yield* SortState
    const { left, llmSaidNone, moved, other } = yield* reporter.takeSettled
    const categories = (yield* Categories).key
    yield* state.settle(folder, other)
    yield* state.settle(folder, left, categories)
    yield* state.settle(folder, llmSaidNone, categories, true)
    yield* state.gone(folder, moved)
  })

export const makeReporter = (folder: string): Effect.Effect<Reporter> =>
  Effect.sync(() => {
    // Plain counters: the reporter belongs to one folder's pass, and JavaScript runs one fiber at a time.
    const counts = { moved: 0, left: 0, failed: 0, failedForGood: 0, gone: 0, classificationCalls: 0, classifiedEmails: 0, twins: 0 }
    const movedBy: Record<ClassifierStage, number> = { cache: 0, learned: 0, keyword: 0, llm: 0 }
    const settled: Record<keyof Settled, Array<number>> = { left: [], llmSaidNone: [], other: [], moved: [] }
    const retries: Array<number> = []
    // Left for now (the LLM could not answer for them, say): tried again after a delay, as failed
    // mail is (asking on every pass would pay for it on every pass), without counting as failed.
    const deferred: Array<number> = []
    return {
      record: (outcome) =>
        Effect.andThen(
          // A dry run's "would move" is no move: the metrics count what was done (an account of
          // PROTON_LUMO_ACCOUNTS may be a dry run beside others that sort).
          Effect.andThen(logOutcome(folder, outcome), isDryRun(outcome) ? Effect.void : countOutcome(folder, outcome)),
          Effect.sync(() => {
            if (outcome._tag === "Moved") {
              counts.moved++
              movedBy[outcome.stage]++
            }
            else if (outcome._tag === "Left") counts.left++
            else if (outcome._tag === "Gone") counts.gone++
            else counts.failed++
            // A dry run's "would move" is settled too, in its memory only (SortState.layerDryRun): listed once.
            if (settles(outcome) || isDryRun(outcome)) settled[settledAs(outcome)].push(uidOf(outcome))
            else if (outcome._tag === "Moved") settled.moved.push(outcome.uid)
            if (outcome._tag === "Failed" && outcome.failure.retry) retries.push(outcome.failure.uid)
            else if (outcome._tag === "Failed") counts.failedForGood++
            if (outcome._tag === "Left" && outcome.retry) deferred.push(outcome.uid)
          })
        ),
      classificationCall: (emails) =>
        Effect.sync(() => {
          counts.classificationCalls++
          counts.classifiedEmails += emails
        }),
      answeredAsTwins: (emails) =>
        Effect.sync(() => {
          counts.twins += emails
        }),
      tally: Effect.sync(() => ({ ...counts, movedBy: { ...movedBy } })),
      takeSettled: Effect.sync((): Settled => ({
        left: settled.left.splice(0),
        llmSaidNone: settled.llmSaidNone.splice(0),
        other: settled.other.splice(0),
        moved: settled.moved.splice(0)
      })),
      takeRetries: Effect.sync(() => ({ failed: retries.splice(0), deferred: deferred.splice(0) }))
    }
  })
