/**
 * Service mode: a pass over every source folder, then new mail is sorted as it arrives, and
 * another full pass every poll interval. Each pass goes on until the folder holds nothing
 * unsorted (sortFolder's `continuous`).
 *
 * Sorting (moves, journal, state) happens on one connection. Between its sorts that connection
 * waits with IMAP IDLE on the first folder; the other folders are watched by MailWatch's
 * read-only watcher connections, within PROTON_LUMO_MAX_CONNECTIONS (domain/WatchPlan.ts), which
 * only say which folder has new mail: this loop then sorts it. With one connection allowed, or
 * one folder, there are no watchers: the other folders (and servers without IDLE) wait for the
 * full passes. A watcher that fails never stops the sorting, and the full passes go on.
 *
 * If the server goes away, every failed attempt says why, attempts back off exponentially, and
 * it says when the server is back; state and journal make the resumed pass pick up where it stopped.
 * SIGINT/SIGTERM interrupt it (moves in flight finish first); the watchers log out.
 */
import { Clock, Duration, Effect, Queue, Ref, Schedule } from "effect"
import { MAX_BACKOFF, reconnectDelays } from "../domain/Backoff.ts"
import { type ImapAuthError, type ImapConnectError, isConnectionLoss } from "../domain/Errors.ts"
import { describePlan, watcherConnections, watchPlan } from "../domain/WatchPlan.ts"
import { withHealth } from "../services/Health.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { MailWatch } from "../services/MailWatch.ts"
import { Settings } from "../services/Settings.ts"
import type { FolderReport } from "./report.ts"
import { sortMailbox } from "./sortMailbox.ts"
import { recordFailedPass } from "./telemetry.ts"

export { reconnectDelays } from "../domain/Backoff.ts"

/**
 * The first folder's IDLE on the sorting connection: that folder, once it holds mail from UID
 * `since` on; nothing when `within` is over. Without a `since` (its pass failed), never.
 */
const firstFolderMail = (folder: string, since: number | undefined, within: Duration.Duration) =>
  since === undefined ? Effect.never : Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const status = yield* mailbox.openFolder(folder)
    return (yield* mailbox.waitForMail(status, since, within)) ? [folder] : []
  })

/** The folders the watchers said have new mail (waiting for the first), each once, in the configured order. */
const signalled = (signals: Queue.Dequeue<string>, folders: ReadonlyArray<string>) =>
  Effect.map(Queue.takeAll(signals), (names) => folders.filter((folder) => names.includes(folder)))

/**
 * The folders to sort next: the first one when its IDLE says so, or those the watchers signal,
 * whichever comes first (what the other saw is not lost: the IDLE compares UIDs with `since`, the
 * signals stay queued); none once `within` is over.
 */
const nextDue = (signals: Queue.Dequeue<string>, since: number | undefined, within: Duration.Duration) =>
  Effect.flatMap(Effect.service(Settings), (settings) =>
    Effect.raceFirst(firstFolderMail(settings.folders[0], since, within), signalled(signals, settings.folders)).pipe(
      Effect.timeoutOrElse({ duration: within, orElse: () => Effect.succeed<ReadonlyArray<string>>([]) })
    ))

/**
 * After a pass: sorts each folder with new mail as it is announced, until the poll interval is
 * over. Returns when it is time for a full pass (at once when the first folder's sort failed).
 */
const watch = (signals: Queue.Dequeue<string>, first: FolderReport | undefined) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(settings.pollInterval)
    // Continuous passes leave nothing behind: mail in the first folder from UIDNEXT at its last start on is new.
    let since = first?.uidNextAtStart
    while (true) {
      const left = deadline - (yield* Clock.currentTimeMillis)
      if (left <= 0) return
      const due = yield* nextDue(signals, since, Duration.millis(left))
      if (due.length === 0) return
      const { folders } = yield* sortMailbox(due, { continuous: true })
      if (!due.includes(settings.folders[0])) continue
      const report = folders.find((folder) => folder.folder === settings.folders[0])
      if (report === undefined) return
      since = report.uidNextAtStart
    }
  })

/** One full pass (`afterPass` once it has run), then new mail as it arrives until the next one is due. */
const passAndWatch = <R>(signals: Queue.Dequeue<string>, afterPass: Effect.Effect<void, never, R>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    // What the watchers said before this pass, it sorts anyway; what they say during it is kept.
    yield* Queue.clear(signals)
    const { folders } = yield* sortMailbox(undefined, { continuous: true })
    yield* afterPass
    // A first folder that could not be sorted is not watched until the next pass; the others are.
    yield* watch(signals, folders.find((report) => report.folder === settings.folders[0]))
  })

/** The watchers for the folders after the first, within PROTON_LUMO_MAX_CONNECTIONS; says the plan. */
const connectionsText = (n: number): string => `${n} IMAP connection${n === 1 ? "" : "s"}`

const startWatchers = Effect.gen(function*() {
  const settings = yield* Settings
  const plan = watchPlan(settings.folders, settings.maxConnections)
  yield* Effect.logInfo(
    `sorting ${settings.folders.join(", ")}: ${describePlan(settings.folders[0], plan)}; ` +
      `everything every ${Duration.format(settings.pollInterval)}; ${connectionsText(1 + watcherConnections(plan))} ` +
      `(PROTON_LUMO_MAX_CONNECTIONS: ${settings.maxConnections}); Ctrl-C or SIGTERM stops`
  )
  return yield* (yield* MailWatch).watch(plan)
})

export const runService = Effect.scoped(Effect.gen(function*() {
  const settings = yield* Settings
  const interval = Duration.format(settings.pollInterval)
  const signals = yield* startWatchers
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
    yield* Effect.logInfo(`the IMAP server is back, ${seconds.toFixed(0)} s after the connection was found lost; sorting resumes`)
    yield* Ref.set(reportedCertificate, undefined)
  })

  const reconnecting = reconnectDelays.pipe(
    Schedule.setInputType<ImapConnectError | ImapAuthError>(),
    Schedule.tap(({ input, attempt, duration }) => sayWhy(input, attempt, duration))
  )

  // Said as soon as a pass ran again, not after the watch that follows it (up to the poll interval).
  const pass = passAndWatch(signals, back).pipe(
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
    Effect.retry({ schedule: reconnecting, while: (error) => error._tag === "ImapConnectError" })
  )
  return yield* Effect.forever(pass)
}))
