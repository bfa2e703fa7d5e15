/**
 * A requests-per-minute limit that keeps the parallelism: a sliding-window log of start times.
 * At most `limit` requests start in any window; a request waits only when `limit` have already
 * started within the last window, and then until the oldest of them is a window old. How many
 * run at once is not its business (the pipeline's MAX_WORKERS bounds that).
 *
 * Time comes from Effect's `Clock`, so `TestClock` drives it in tests.
 */
import { Clock, Duration, Effect, Option, Ref } from "effect"

export interface RequestRate {
  /** Waits for this request's turn, which counts as its start. */
  readonly take: Effect.Effect<void>
}

/** No limit: every request starts at once. */
export const unlimited: RequestRate = { take: Effect.void }

/**
 * The start time of the next request and the log to keep: the last `limit` start times, oldest
 * first. Starts never decrease, so the log stays sorted.
 */
export const nextStart = (
  log: ReadonlyArray<number>,
  now: number,
  limit: number,
  windowMillis: number
): readonly [number, ReadonlyArray<number>] => {
  const oldest = log.length >= limit ? log[log.length - limit] : undefined
  const start = oldest === undefined ? now : Math.max(now, oldest + windowMillis)
  return [start, [...log.slice(Math.max(0, log.length - limit + 1)), start]]
}

/**
 * At most `limit` starts per `window`. A start is reserved when it is asked for, so waiters go
 * in order; a waiter interrupted while it waits keeps its reservation (erring on the slow side).
 */
export const slidingWindow = (limit: number, window: Duration.Duration): Effect.Effect<RequestRate> =>
  Effect.map(Ref.make<ReadonlyArray<number>>([]), (starts) => ({
    take: Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const start = yield* Ref.modify(starts, (log) => nextStart(log, now, limit, Duration.toMillis(window)))
      if (start > now) yield* Effect.sleep(Duration.millis(start - now))
    }).pipe(Effect.withSpan("RequestRate.take"))
  }))

/** PROTON_LUMO_LLM_MAX_RPM as a limiter: None means no limit. */
export const perMinute = (requestsPerMinute: Option.Option<number>): Effect.Effect<RequestRate> =>
  Option.match(requestsPerMinute, {
    onNone: () => Effect.succeed(unlimited),
    onSome: (limit) => slidingWindow(limit, Duration.minutes(1))
  })
