/**
 * Service mode, on one long-lived connection: a pass over every source folder, then IMAP IDLE
 * on the first one, so new mail there is sorted as soon as the server announces it; another full
 * pass every poll interval (this is how the other folders, and servers without IDLE, are
 * watched). Each pass goes on until the folder holds nothing unsorted (sortFolder's `continuous`).
 *
 * If the server goes away, every failed attempt says why, attempts back off exponentially, and
 * it says when the server is back; state and journal make the resumed pass pick up where it stopped.
 * SIGINT/SIGTERM interrupt it (moves in flight finish first).
 */
import { Clock, Duration, Effect, Ref, Schedule } from "effect"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import type { FolderReport } from "./report.ts"
import { type ImapAuthError, type ImapConnectError, isConnectionLoss } from "../domain/Errors.ts"
import { sortMailbox } from "./sortMailbox.ts"
import { withHealth } from "../services/Health.ts"
import { recordFailedPass } from "./telemetry.ts"

const MAX_BACKOFF = Duration.seconds(60)

/** Between attempts to reach a server that went away: 2 s, doubling, at most a minute. */
export const reconnectDelays = Schedule.exponential("2 seconds").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, MAX_BACKOFF)))
)

/**
 * After a pass: waits on IDLE for mail in `folder` until the poll interval is over, sorting that
 * folder whenever some arrives. Returns when it is time for a full pass.
 */
const watch = (folder: string, first: FolderReport) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const mailbox = yield* Mailbox
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(settings.pollInterval)
    // Continuous passes leave nothing behind: the loop ends at the deadline or when a pass fails.
    let report = first
    while (true) {
      const left = deadline - (yield* Clock.currentTimeMillis)
      if (left <= 0) return
      const status = yield* mailbox.openFolder(folder)
      if (!(yield* mailbox.waitForMail(status, report.uidNextAtStart, Duration.millis(left)))) return
      const [next] = (yield* sortMailbox([folder], { continuous: true })).folders
      if (next === undefined) return
      report = next
    }
  })

/** One full pass, then IDLE on the first folder until the next one is due. */
const passAndWatch = (watched: string) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const { folders } = yield* sortMailbox(undefined, { continuous: true })
    const first = folders.find((report) => report.folder === watched)
    // A watched folder that could not be sorted cannot be watched either: wait for the next pass.
    if (first === undefined) return yield* Effect.sleep(settings.pollInterval)
    yield* watch(first.folder, first)
  })

export const runService = Effect.gen(function*() {
  const settings = yield* Settings
  const interval = Duration.format(settings.pollInterval)
  const [watched] = settings.folders
  yield* Effect.logInfo(
    `sorting ${settings.folders.join(", ")}: new mail in ${watched} as it arrives (IDLE), everything every ${interval}; ` +
      "Ctrl-C or SIGTERM stops"
  )
  /** When the server went away (undefined while it is there). */
  const outageSince = yield* Ref.make<number | undefined>(undefined)
  /** The certificate last reported as not the pinned one: said once, at ERROR, until it changes. */
  const reportedCertificate = yield* Ref.make<string | undefined>(undefined)

  const lost = (error: ImapConnectError | ImapAuthError) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* Ref.update(outageSince, (since) => since ?? now)
      yield* withHealth((health) => health.offline(error.message))
    })

  /**
   * Every failed attempt says why; a certificate that stopped matching the pinned one is an ERROR
   * (the user must act), said once per certificate.
   */
  const sayWhy = (error: ImapConnectError | ImapAuthError, attempt: number, wait: Duration.Duration) =>
    Effect.gen(function*() {
      const certificate = error._tag === "ImapConnectError" ? error.certificate : undefined
      if (certificate !== undefined && certificate !== (yield* Ref.get(reportedCertificate))) {
        yield* Ref.set(reportedCertificate, certificate)
        return yield* Effect.logError(`${error.message}; retrying every ${Duration.format(MAX_BACKOFF)} at most until it matches`)
      }
      yield* Effect.logWarning(`${error.message}; attempt ${attempt} failed, next in ${Duration.format(wait)}`)
    })

  const back = Effect.gen(function*() {
    const since = yield* Ref.getAndSet(outageSince, undefined)
    if (since === undefined) return
    const seconds = ((yield* Clock.currentTimeMillis) - since) / 1000
    yield* Effect.logInfo(`the IMAP server is back after ${seconds.toFixed(0)} s; sorting resumes`)
    yield* Ref.set(reportedCertificate, undefined)
  })

  const reconnecting = reconnectDelays.pipe(
    Schedule.setInputType<ImapConnectError | ImapAuthError>(),
    Schedule.tap(({ input, attempt, duration }) => sayWhy(input, attempt, duration))
  )

  const pass = passAndWatch(watched).pipe(
    // The folders' passes failed all together: `status` shows why, and since when.
    Effect.tapError((error) =>
      Effect.andThen(recordFailedPass(settings.folders, error.message), isConnectionLoss(error) ? lost(error) : Effect.void)
    ),
    // A failure that is not the server going away: said, and tried again at the next poll.
    Effect.catchIf(
      (error) => !isConnectionLoss(error),
      (error) => Effect.andThen(Effect.logError(`pass failed: ${error.message}; next try in ${interval}`), Effect.sleep(settings.pollInterval))
    ),
    // A refused login will not get better by retrying: it stops the service, and says why.
    Effect.retry({ schedule: reconnecting, while: (error) => error._tag === "ImapConnectError" }),
    Effect.andThen(back)
  )
  return yield* Effect.forever(pass)
})
