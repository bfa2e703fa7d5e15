/** Service mode: a pass now, then one every poll interval, until interrupted (SIGINT/SIGTERM). */
import { Duration, Effect, Schedule } from "effect"
import { Settings } from "../services/Settings.ts"
import { sortMailbox } from "./sortMailbox.ts"

export const runService = Effect.gen(function*() {
  const settings = yield* Settings
  const interval = Duration.format(settings.pollInterval)
  yield* Effect.logInfo(`sorting ${settings.folders.join(", ")} every ${interval}; Ctrl-C or SIGTERM stops`)
  yield* sortMailbox().pipe(
    Effect.catch((error) => Effect.logError(`pass failed: ${error.message}; next try in ${interval}`)),
    Effect.repeat(Schedule.spaced(settings.pollInterval))
  )
})
