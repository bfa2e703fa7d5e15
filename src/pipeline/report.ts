/**
 * What a pass did to a folder: each outcome is logged as it happens (folder, UID, reason) and
 * counted, and the UIDs to remember as handled are collected for the state.
 */
import { Effect } from "effect"
import type { ClassifierStats } from "../domain/ClassifierStats.ts"
import type { Outcome } from "../domain/Email.ts"

export interface FolderReport {
  readonly folder: string
  /** Messages the pass looked at (moved + left + failed). */
  readonly processed: number
  readonly moved: number
  readonly left: number
  readonly failed: number
  readonly classificationCalls: number
  readonly elapsedMillis: number
  readonly workers: number
  readonly batchSize: number
  readonly dryRun: boolean
  readonly classifier: string
  /** What the classifier spent on this folder in this pass. */
  readonly llm: ClassifierStats
}

export interface Tally {
  readonly moved: number
  readonly left: number
  readonly failed: number
  readonly classificationCalls: number
  /** UIDs classified and left in place, or failed for good: not to be read again. */
  readonly settled: ReadonlyArray<number>
}

export interface Reporter {
  readonly record: (outcome: Outcome) => Effect.Effect<void>
  readonly classificationCall: Effect.Effect<void>
  readonly tally: Effect.Effect<Tally>
}

const subjectForLog = (subject: string): string =>
  JSON.stringify(subject.length > 70 ? `${subject.slice(0, 69)}…` : subject)

const logOutcome = (folder: string, outcome: Outcome): Effect.Effect<void> => {
  switch (outcome._tag) {
    case "Moved": {
      const verb = outcome.dryRun ? "[dry run] would move" : "moved"
      return Effect.logInfo(
        `${verb} ${folder}#${outcome.uid} → ${outcome.to}  ${outcome.categoryId} ` +
          `${outcome.confidence.toFixed(2)} (${outcome.classifier})  ${subjectForLog(outcome.subject)}`
      )
    }
    case "Left":
      return Effect.logInfo(`left ${folder}#${outcome.uid} in place: ${outcome.reason}  ${subjectForLog(outcome.subject)}`)
    case "Failed":
      return Effect.logWarning(
        `not sorted ${outcome.failure.folder}#${outcome.failure.uid} (${outcome.failure.stage} failed): ` +
          `${outcome.failure.reason}; the message stays where it is`
      )
  }
}

const settles = (outcome: Outcome): boolean =>
  (outcome._tag === "Left" && !outcome.retry) || (outcome._tag === "Failed" && !outcome.failure.retry)

const uidOf = (outcome: Outcome): number => (outcome._tag === "Failed" ? outcome.failure.uid : outcome.uid)

export const makeReporter = (folder: string): Effect.Effect<Reporter> =>
  Effect.sync(() => {
    // Plain counters: the reporter belongs to one folder's pass, and JavaScript runs one fiber at a time.
    const counts = { moved: 0, left: 0, failed: 0, classificationCalls: 0 }
    const settled: Array<number> = []
    return {
      record: (outcome) =>
        Effect.andThen(
          logOutcome(folder, outcome),
          Effect.sync(() => {
            if (outcome._tag === "Moved") counts.moved++
            else if (outcome._tag === "Left") counts.left++
            else counts.failed++
            if (settles(outcome)) settled.push(uidOf(outcome))
          })
        ),
      classificationCall: Effect.sync(() => {
        counts.classificationCalls++
      }),
      tally: Effect.sync(() => ({ ...counts, settled: [...settled] }))
    }
  })
