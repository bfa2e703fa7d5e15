/**
 * Every source folder watched (issue 12): the service, as a real process against a real Dovecot,
 * sorts new mail in a folder other than the first within two seconds of its APPEND, on watcher
 * connections of its own (IDLE), or, beyond PROTON_LUMO_MAX_CONNECTIONS, by STATUS every second.
 * The latencies measured are printed: `npx vitest run test/integration/watch.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { cliEnv, occurrences, type RunningCli, startCli } from "../support/cli.ts"
import { ownDovecot, restartDovecot } from "../support/dovecot.ts"
import { bankEmail, workEmail } from "../support/emails.ts"
import {
  appendMessages,
  type DovecotInstance,
  folderState,
  freshUser,
  latencyProbe,
  recordCommands,
  sessionCommands
} from "../support/imap.ts"

const dovecot = inject("dovecot")
const bridge = dovecot.bridge

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

const BANK = "Folders/Administratif/Banque"
const WORK = "Folders/Travail"

/** The promise of issue 12: from APPEND to the message in its category's folder. */
const LATENCY_BOUND_MILLIS = 2000

/** The service on `folders`, started and ready: its first pass done and every watcher watching. */
const startService = (
  user: string,
  folders: ReadonlyArray<string>,
  watchers: ReadonlyArray<RegExp>,
  extra: Record<string, string> = {},
  instance: DovecotInstance = bridge
) =>
  Effect.acquireRelease(
    promise(async () => {
      const service = startCli([], cliEnv(instance, user, {
        PROTON_LUMO_FOLDERS: folders.join(","),
        PROTON_LUMO_POLL_INTERVAL: "600",
        PROTON_LUMO_METRICS_ENABLED: "false",
        ...extra
      }))
      await service.waitFor((output) => watchers.every((watcher) => watcher.test(output)), 30_000)
      return service
    }),
    (service) => promise(() => service.stop("SIGTERM"))
  )

/** The folders created empty, so that the service can watch them from its start. */
const createFolders = (user: string, folders: ReadonlyArray<string>, instance: DovecotInstance = bridge) =>
  promise(() => Promise.all(folders.map((folder) => appendMessages(instance, user, folder, []))))

const report = (what: string, latencies: ReadonlyArray<number>) =>
  Effect.sync(() => console.log(`${what}: APPEND → sorted in ${latencies.join(", ")} ms (bound ${LATENCY_BOUND_MILLIS} ms)`))

/** Sessions the service opened that never SELECTed (could change nothing): its watchers'. */
const watcherSessions = (sessions: ReadonlyArray<ReadonlyArray<string>>) =>
  sessions.filter((commands) =>
    commands.some((command) => /^ID .*ProtonLumoAI/i.test(command)) && !commands.some((command) => /^SELECT\b/i.test(command))
  )

describe("every source folder watched", () => {
  it.live("new mail in a second source folder is sorted within 2 s of its APPEND (a watcher on IDLE)", () =>
    Effect.gen(function*() {
      const user = freshUser("watch")
      yield* createFolders(user, ["Lists"])
      yield* promise(() => recordCommands(bridge, user))
      const service: RunningCli = yield* startService(user, ["INBOX", "Lists"], [/watching Lists \(IDLE\)/])
      assert.match(service.output(), /in Lists \(IDLE, a connection each\).*2 IMAP connections/)
      const appendAndWait = yield* latencyProbe(bridge, user)
      const latencies: Array<number> = []
      for (let n = 1; n <= 5; n++) latencies.push(yield* appendAndWait("Lists", bankEmail(n), BANK, n))
      // The first folder still goes on the sorting connection's own IDLE.
      latencies.push(yield* appendAndWait("INBOX", workEmail(9), WORK, 1))
      yield* report("second folder (IDLE watcher), then INBOX", latencies)
      for (const latency of latencies) assert.isBelow(latency, LATENCY_BOUND_MILLIS, `latencies ${latencies.join(", ")} ms`)
      assert.deepStrictEqual(yield* promise(() => folderState(bridge, user, "Lists")), [])

      // Its watcher connection only looked: EXAMINE, STATUS, SEARCH and IDLE, never a command that changes anything.
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
      const watchers = watcherSessions(yield* promise(() => sessionCommands(bridge, user)))
      assert.strictEqual(watchers.length, 1)
      const verbs = new Set((watchers[0] ?? []).map((command) => command.split(" ")[0]?.toUpperCase()))
      assert.includeMembers([...verbs], ["EXAMINE", "STATUS", "IDLE"])
      assert.deepStrictEqual(
        [...verbs].filter((verb) => !["CAPABILITY", "STARTTLS", "LOGIN", "ID", "NAMESPACE", "ENABLE", "LIST", "LSUB", "EXAMINE", "STATUS", "UID", "IDLE", "DONE", "LOGOUT", "NOOP"].includes(verb ?? "")),
        []
      )
      assert.isFalse((watchers[0] ?? []).some((command) => /^UID (MOVE|COPY|STORE|EXPUNGE)/i.test(command)))
    }), 90_000)

  it.live("with more folders than connections (3 folders, PROTON_LUMO_MAX_CONNECTIONS=2), the last folder's mail is sorted within 2 s (STATUS polling)", () =>
    Effect.gen(function*() {
      const user = freshUser("watchpoll")
      yield* createFolders(user, ["Lists", "News"])
      yield* promise(() => recordCommands(bridge, user))
      const service: RunningCli = yield* startService(
        user,
        ["INBOX", "Lists", "News"],
        [/watching Lists, News \(STATUS every 1s\)/],
        { PROTON_LUMO_MAX_CONNECTIONS: "2" }
      )
      assert.match(service.output(), /in Lists, News \(STATUS every second, on one connection\).*2 IMAP connections/)
      const appendAndWait = yield* latencyProbe(bridge, user)
      const latencies: Array<number> = []
      for (let n = 1; n <= 4; n++) latencies.push(yield* appendAndWait("News", bankEmail(n), BANK, n))
      latencies.push(yield* appendAndWait("Lists", workEmail(9), WORK, 1))
      yield* report("last of 3 folders with 2 connections (STATUS polling), then the second", latencies)
      for (const latency of latencies) assert.isBelow(latency, LATENCY_BOUND_MILLIS, `latencies ${latencies.join(", ")} ms`)

      // Two connections in all: the sorting one, and one watcher that polls both folders.
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0)
      const watchers = watcherSessions(yield* promise(() => sessionCommands(bridge, user)))
      assert.strictEqual(watchers.length, 1)
      const polled = new Set((watchers[0] ?? []).filter((command) => /^STATUS /i.test(command)).map((command) => command.split(" ")[1]))
      assert.deepStrictEqual([...polled].sort(), ["Lists", "News"])
      assert.isFalse((watchers[0] ?? []).some((command) => /^(IDLE|SELECT|EXAMINE)\b/i.test(command)))
    }), 90_000)

  it.live("a watcher whose server went away connects again by itself, and the folder is watched as before", () =>
    Effect.gen(function*() {
      const { instance } = yield* ownDovecot("plai-watch-")
      const user = freshUser("watchback")
      yield* createFolders(user, ["Lists"], instance)
      const service: RunningCli = yield* startService(user, ["INBOX", "Lists"], [/watching Lists \(IDLE\)/], {}, instance)
      yield* promise(() => restartDovecot(instance, 3000))
      yield* promise(() =>
        service.waitFor((output) => occurrences(output, /watching Lists \(IDLE\)$/m) >= 2, 30_000)
      )
      assert.match(service.output(), /watching Lists \(IDLE\): .*; connecting again/)
      const appendAndWait = yield* latencyProbe(instance, user)
      // The sorting connection has its own way back (its backoff): mail in INBOX sorted says it is back.
      yield* appendAndWait("INBOX", workEmail(2), WORK, 1)
      const latency = yield* appendAndWait("Lists", bankEmail(1), BANK, 1)
      yield* report("second folder after the server came back", [latency])
      assert.isBelow(latency, LATENCY_BOUND_MILLIS)
    }), 90_000)
})
