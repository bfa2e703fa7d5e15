/**
 * Progress on long work (a pass over a big folder, a learning scan): the pipeline says how far it
 * is, the command line decides how that shows. By default an ordinary INFO log line at most every
 * PROTON_LUMO_PROGRESS_INTERVAL (5 s), which suits journald, pipes and JSON logs; in a terminal
 * main.ts puts a bar in its place (cli/progressBar.ts). Work of 500 messages or fewer shows none:
 * it is over before anyone wonders.
 *
 * A Reference, not a required service: embedding apps and tests get the log lines without
 * providing anything.
 */
import { Clock, Context, Duration, Effect, type Scope } from "effect"
import { type PaceStart, progressText, ratePerSecond } from "../domain/Progress.ts"

export interface ProgressTracker {
  /** `count` more messages are done. */
  readonly advance: (count: number) => Effect.Effect<void>
}

export interface ProgressApi {
  /**
   * Starts showing the progress of `label` towards `total` (`verb`: what "done" means, "sorted",
   * "read"); it stops showing when the scope closes, however the work ended.
   */
  readonly start: (label: string, total: number, verb: string) => Effect.Effect<ProgressTracker, never, Scope.Scope>
}

/** Work of more messages than this shows progress. */
export const PROGRESS_THRESHOLD = 500

export const DEFAULT_PROGRESS_INTERVAL = Duration.seconds(5)

/** A log line at most every `interval`; none at the end (the work's own summary says it all). */
export const progressLogLines = (interval: Duration.Duration): ProgressApi => ({
  start: (label, total, verb) =>
    Effect.map(Clock.currentTimeMillis, (started): ProgressTracker => {
      // Plain variables: one tracker belongs to one piece of work, and JavaScript runs one fiber at a time.
      let done = 0
      let logged = started
      let pace: PaceStart | undefined
      return {
        advance: (count) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            done += count
            pace ??= { at: now, done }
            if (now - logged < Duration.toMillis(interval)) return Effect.void
            logged = now
            return Effect.logInfo(progressText({ label, verb, done, total, perSecond: ratePerSecond(pace, now, done) }))
          })
      }
    })
})

export const Progress = Context.Reference<ProgressApi>("proton-lumo-ai/Progress", {
  defaultValue: () => progressLogLines(DEFAULT_PROGRESS_INTERVAL)
})

const silent: ProgressTracker = { advance: () => Effect.void }

/** The tracker for `total` messages of work: a silent one up to PROGRESS_THRESHOLD. */
export const trackProgress = (
  label: string,
  total: number,
  verb: string
): Effect.Effect<ProgressTracker, never, Scope.Scope> =>
  total > PROGRESS_THRESHOLD
    ? Effect.flatMap(Effect.service(Progress), (progress) => progress.start(label, total, verb))
    : Effect.succeed(silent)
