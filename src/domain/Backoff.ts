/** How the sorter and its watchers wait between attempts to reach a server that went away. */
import { Duration, Effect, Schedule } from "effect"

export const MAX_BACKOFF = Duration.seconds(60)

/** Between attempts to reach a server that went away: 2 s, doubling, at most a minute. */
export const reconnectDelays = Schedule.exponential("2 seconds").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, MAX_BACKOFF)))
)
