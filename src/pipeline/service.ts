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
import { Clock, Duration, Effect, Option } from "effect"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import type { FolderReport } from "./report.ts"
import { isConnectionLoss } from "../domain/Errors.ts"
import { sortMailbox } from "./sortMailbox.ts"
import { withHealth } from "../services/Health.ts"
import { recordFailedPass } from "./telemetry.ts"

const MAX_BACKOFF = Duration.seconds(60)

const backoff = (failures: number) => Duration.min(Duration.seconds(2 ** Math.min(failures, 6)), MAX_BACKOFF)

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
  let outage: Option.Option<{ readonly since: number; readonly failures: number }> = Option.none()
  /** The certificate last reported as not the pinned one: said once, at ERROR, until it changes. */
  let reportedCertificate: string | undefined
  while (true) {
    const pass = yield* Effect.result(passAndWatch(watched))
    if (pass._tag === "Success") {
      if (Option.isSome(outage)) {
        const seconds = ((yield* Clock.currentTimeMillis) - outage.value.since) / 1000
        yield* Effect.logInfo(`the IMAP server is back after ${seconds.toFixed(0)} s; sorting resumes`)
        outage = Option.none()
        reportedCertificate = undefined
      }
      continue
    }
    const error = pass.failure
    // The folders' passes failed all together: `status` shows why, and since when.
    yield* recordFailedPass(settings.folders, error.message)
    if (isConnectionLoss(error)) yield* withHealth((health) => health.offline(error.message))
    // A refused login will not get better by retrying: stop, and say why.
    if (error._tag === "ImapAuthError") return yield* Effect.fail(error)
    if (!isConnectionLoss(error)) {
      yield* Effect.logError(`pass failed: ${error.message}; next try in ${interval}`)
      yield* Effect.sleep(settings.pollInterval)
      continue
    }
    const since = Option.match(outage, { onNone: () => Clock.currentTimeMillis, onSome: (o) => Effect.succeed(o.since) })
    const failures = Option.match(outage, { onNone: () => 0, onSome: (o) => o.failures }) + 1
    outage = Option.some({ since: yield* since, failures })
    const wait = backoff(failures)
    // Every failed attempt says why; a certificate that stopped matching the pinned one is an
    // ERROR (the user must act), said once per certificate.
    if (error.certificate !== undefined && error.certificate !== reportedCertificate) {
      reportedCertificate = error.certificate
      yield* Effect.logError(`${error.message}; retrying every ${Duration.format(MAX_BACKOFF)} at most until it matches`)
    } else {
      yield* Effect.logWarning(`${error.message}; attempt ${failures} failed, next in ${Duration.format(wait)}`)
    }
    yield* Effect.sleep(wait)
  }
})
