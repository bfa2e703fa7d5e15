/**
 * Watcher connections: besides the sorting connection, each one only waits for new mail in
 * source folders and says which folder has some; the service then sorts that folder on the
 * sorting connection (moves, journal and state stay there).
 *
 * A watcher changes nothing on the server: its connection is read-only (folders opened with
 * EXAMINE, so nothing becomes \Seen), and it sends only STATUS, UID SEARCH and IDLE. Which
 * folders get a connection of their own on IDLE and which are polled with STATUS on a shared
 * one is the WatchPlan's business (domain/WatchPlan.ts).
 *
 * Nothing is missed: a watcher signals a folder whenever its UIDNEXT grew (or its UIDVALIDITY
 * changed) since its last look, and takes that look (STATUS) before it signals. Mail that comes
 * after the look has a UID at or above the UIDNEXT it remembers, so it is signalled again,
 * whatever the sort started by the first signal saw. The first look of a watcher always signals
 * (mail may have come before it watched); what it saw is kept across its reconnections.
 *
 * A watcher never fails its caller: a failure before it could look again backs off (2 s … 60 s)
 * and is retried; a connection lost after it had been watching is made again at once. Its
 * connections are closed (LOGOUT) when the scope of `watch` closes.
 */
import { Context, Duration, Effect, Layer, Queue, Ref, Schedule, type Scope } from "effect"
import { reconnectDelays } from "../domain/Backoff.ts"
import type { FolderStatus } from "../domain/Email.ts"
import type { ImapAuthError, ImapConnectError, MailboxFailure } from "../domain/Errors.ts"
import type { WatchPlan } from "../domain/WatchPlan.ts"
import { Mailbox, type MailboxApi } from "./Mailbox.ts"
import type { ImapSettings } from "./Settings.ts"

export interface MailWatchApi {
  /**
   * Watches the plan's folders until the scope closes; the queue receives a folder's name
   * whenever mail may have come to it (see above). An empty plan opens nothing.
   */
  readonly watch: (plan: WatchPlan) => Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope>
}

/** A connection of the watcher's own, closed with the scope. */
export type WatcherConnection = Effect.Effect<MailboxApi, ImapConnectError | ImapAuthError, Scope.Scope>

/** How often the polling watcher asks STATUS of each of its folders. */
export const POLL_EVERY = Duration.seconds(1)
/** One IDLE is renewed after this (servers may drop a client idle for 30 minutes: RFC 2177). */
const IDLE_RENEW = Duration.minutes(5)
/** The pause before a watcher whose connection was lost connects again. */
const AFTER_LOSS = Duration.seconds(1)

/** What a watcher last saw of each of its folders, kept across its reconnections. */
type Seen = Ref.Ref<ReadonlyMap<string, FolderStatus>>

/** Whether `now` shows mail that `before` did not (or a folder made anew). */
const isNewer = (before: FolderStatus | undefined, now: FolderStatus): boolean =>
  before === undefined || before.uidValidity !== now.uidValidity || now.uidNext > before.uidNext

/** STATUS of `folder`, remembered; the folder is signalled if mail came since the last look. */
const look = (box: MailboxApi, folder: string, seen: Seen, signals: Queue.Queue<string>) =>
  Effect.gen(function*() {
    const now = yield* box.folderStatus(folder)
    const before = (yield* Ref.get(seen)).get(folder)
    yield* Ref.update(seen, (map) => new Map(map).set(folder, now))
    if (isNewer(before, now)) yield* Queue.offer(signals, folder)
    return now
  })

/** One watcher: what it does first on each new connection, then for as long as the connection lasts. */
interface Watcher<A> {
  readonly label: string
  readonly begin: (box: MailboxApi) => Effect.Effect<A, MailboxFailure>
  readonly keep: (box: MailboxApi, begun: A) => Effect.Effect<never, MailboxFailure>
}

/** One folder on IDLE: after each look, waits for the server to announce mail past what it saw. */
const idling = (folder: string, seen: Seen, signals: Queue.Queue<string>): Watcher<FolderStatus> => ({
  label: `${folder} (IDLE)`,
  begin: (box) => look(box, folder, seen, signals),
  keep: (box, first) =>
    Effect.gen(function*() {
      let status = first
      while (true) {
        // Also true for mail that came between the look and the IDLE (UID SEARCH UIDNEXT:*).
        yield* box.waitForMail(status, status.uidNext, IDLE_RENEW)
        status = yield* look(box, folder, seen, signals)
      }
    })
})

/** Folders a polling watcher found missing, said once each (until they are there again). */
type Missing = Ref.Ref<ReadonlySet<string>>

/**
 * A look at one of several folders: one that does not exist (yet) is said once and left out of
 * this round, and the others are still watched; any other failure fails the round.
 */
const lookIfThere = (box: MailboxApi, folder: string, seen: Seen, missing: Missing, signals: Queue.Queue<string>) =>
  look(box, folder, seen, signals).pipe(
    Effect.andThen(Ref.update(missing, (set) => new Set([...set].filter((name) => name !== folder)))),
    Effect.catchTag("FolderNotFound", (error) =>
      Effect.flatMap(Ref.getAndUpdate(missing, (set) => new Set(set).add(folder)), (known) =>
        known.has(folder) ? Effect.void : Effect.logWarning(`watching ${folder}: ${error.message}; looking again every second`)))
  )

/** Several folders on one connection: STATUS of each, every POLL_EVERY. */
const polling = (folders: ReadonlyArray<string>, seen: Seen, missing: Missing, signals: Queue.Queue<string>): Watcher<void> => {
  const round = (box: MailboxApi) =>
    Effect.forEach(folders, (folder) => lookIfThere(box, folder, seen, missing, signals), { discard: true })
  return {
    label: `${folders.join(", ")} (STATUS every ${Duration.format(POLL_EVERY)})`,
    begin: round,
    keep: (box) => Effect.forever(Effect.andThen(Effect.sleep(POLL_EVERY), round(box)))
  }
}

/**
 * One connection's life: connect, begin (any failure so far fails it: the caller backs off), then
 * keep watching; a failure from then on is said and ends it (the connection closed), to connect
 * again after a pause, with a backoff of its own.
 */
const session = <A>(connect: WatcherConnection, watcher: Watcher<A>): Effect.Effect<void, MailboxFailure> =>
  Effect.scoped(Effect.gen(function*() {
    const box = yield* connect
    const begun = yield* watcher.begin(box)
    yield* Effect.logInfo(`watching ${watcher.label}`)
    yield* watcher.keep(box, begun).pipe(
      Effect.catch((error) => Effect.logWarning(`watching ${watcher.label}: ${error.message}; connecting again`))
    )
  })).pipe(Effect.andThen(Effect.sleep(AFTER_LOSS)))

/** Sessions one after the other, for as long as the fiber runs; failed attempts back off, each said. */
const keepWatching = <A>(connect: WatcherConnection, watcher: Watcher<A>): Effect.Effect<never> =>
  Effect.forever(
    session(connect, watcher).pipe(
      Effect.retry(
        reconnectDelays.pipe(
          Schedule.setInputType<MailboxFailure>(),
          Schedule.tap(({ input, attempt, duration }) =>
            Effect.logWarning(
              `watching ${watcher.label}: ${input.message}; attempt ${attempt} failed, next in ${Duration.format(duration)}`
            )
          )
        )
      ),
      // The schedule never ends: this only satisfies the type.
      Effect.ignore
    )
  )

const make = (connect: WatcherConnection): MailWatchApi => ({
  watch: Effect.fn("MailWatch.watch")(function*(plan: WatchPlan) {
    const signals = yield* Queue.unbounded<string>()
    for (const folder of plan.idle) {
      const seen: Seen = yield* Ref.make<ReadonlyMap<string, FolderStatus>>(new Map())
      yield* Effect.forkScoped(keepWatching(connect, idling(folder, seen, signals)))
    }
    if (plan.polled.length > 0) {
      const seen: Seen = yield* Ref.make<ReadonlyMap<string, FolderStatus>>(new Map())
      const missing: Missing = yield* Ref.make<ReadonlySet<string>>(new Set())
      yield* Effect.forkScoped(keepWatching(connect, polling(plan.polled, seen, missing, signals)))
    }
    return Queue.asDequeue(signals)
  })
})

export class MailWatch extends Context.Service<MailWatch, MailWatchApi>()("proton-lumo-ai/MailWatch") {
  /** Each watcher on a connection from `connect`. */
  static readonly layer = (connect: WatcherConnection): Layer.Layer<MailWatch> => Layer.succeed(MailWatch, make(connect))

  /**
   * Watcher connections to a real server: read-only (EXAMINE, STATUS; dry run or not), and not
   * re-established by the Mailbox itself: the watcher does that, with its backoff.
   */
  static readonly layerImap = (settings: ImapSettings): Layer.Layer<MailWatch> =>
    MailWatch.layer(Mailbox.connect(settings, { readOnly: true, reconnect: false }))

  /**
   * Every watcher on the Mailbox in context: for the in-memory one, whose one store answers as
   * many connections as asked. Never with a real server (the sorting connection must not IDLE
   * for others).
   */
  static readonly layerShared: Layer.Layer<MailWatch, never, Mailbox> = Layer.effect(
    MailWatch,
    Effect.map(Effect.service(Mailbox), (mailbox) => make(Effect.succeed(mailbox)))
  )

  /** No watcher: folders other than the first wait for the full passes (an embedding app's default). */
  static readonly layerNone: Layer.Layer<MailWatch> = Layer.succeed(
    MailWatch,
    MailWatch.of({ watch: () => Effect.map(Queue.unbounded<string>(), Queue.asDequeue) })
  )
}
