/**
 * Whether the sorter is doing its job, for `/readyz`: logged in to the IMAP server, and the last
 * pass of every source folder succeeded recently (within twice the poll interval). The pipeline
 * reports logins, outages and passes here when the service is provided (with the metrics port);
 * embedding apps and tests without it lose nothing.
 */
import { Clock, Context, Duration, Effect, Layer, Ref } from "effect"

interface FolderPass {
  readonly at: number
  /** Why the last pass failed; undefined when it succeeded. */
  readonly failure: string | undefined
}

/** One account's health (the single mailbox of the plain settings is the account ""). */
export interface AccountHealth {
  /** The folders to sort, and how often each should be passed over. */
  readonly folders: ReadonlyArray<string>
  readonly pollInterval: Duration.Duration
  /** Undefined while logged in; else why not. */
  readonly offline: string | undefined
  readonly passes: ReadonlyMap<string, FolderPass>
}

export interface HealthState {
  /** By account name, as they start. */
  readonly accounts: ReadonlyMap<string, AccountHealth>
}

export interface Readiness {
  readonly ready: boolean
  /** What is wrong (every reason, one per line), or "ready". */
  readonly reason: string
}

/** The account whose pipeline runs in this fiber: what Health records apply to ("" with no accounts file). */
export const CurrentAccount = Context.Reference<string>("proton-lumo-ai/CurrentAccount", { defaultValue: () => "" })

const initialAccount: AccountHealth = {
  folders: [],
  pollInterval: Duration.minutes(5),
  offline: "not logged in to the IMAP server yet",
  passes: new Map()
}

const problemsOf = (health: AccountHealth, now: number): ReadonlyArray<string> => {
  const window = 2 * Duration.toMillis(health.pollInterval)
  return [
    ...(health.offline === undefined ? [] : [health.offline]),
    ...health.folders.flatMap((folder) => {
      const pass = health.passes.get(folder)
      if (pass === undefined) return [`${folder}: no pass yet`]
      if (pass.failure !== undefined) return [`${folder}: the last pass failed: ${pass.failure}`]
      const age = now - pass.at
      return age > window ? [`${folder}: the last pass was ${Math.round(age / 1000)} s ago (more than 2 × the poll interval)`] : []
    })
  ]
}

/** Ready: every account logged in, and every folder's last pass succeeded within 2 × the poll interval. */
export const readinessOf = (state: HealthState, now: number): Readiness => {
  const problems = state.accounts.size === 0
    ? ["not logged in to the IMAP server yet"]
    : [...state.accounts].flatMap(([account, health]) =>
      problemsOf(health, now).map((problem) => (account === "" ? problem : `${account}: ${problem}`))
    )
  return problems.length === 0 ? { ready: true, reason: "ready" } : { ready: false, reason: problems.join("\n") }
}

export interface HealthApi {
  /** The folders now sorted, and the poll interval (at start, and after a reload). */
  readonly expect: (folders: ReadonlyArray<string>, pollInterval: Duration.Duration) => Effect.Effect<void>
  readonly loggedIn: Effect.Effect<void>
  readonly offline: (reason: string) => Effect.Effect<void>
  /** A folder's pass ended: `failure` undefined when it succeeded. */
  readonly passed: (folder: string, failure: string | undefined) => Effect.Effect<void>
  readonly readiness: Effect.Effect<Readiness>
}

export class Health extends Context.Service<Health, HealthApi>()("proton-lumo-ai/Health") {
  static readonly layer: Layer.Layer<Health> = Layer.effect(
    Health,
    Effect.gen(function*() {
      const state = yield* Ref.make<HealthState>({ accounts: new Map() })
      /** Changes the current account's health (created as it first reports). */
      const update = (change: (health: AccountHealth) => AccountHealth) =>
        Effect.flatMap(Effect.service(CurrentAccount), (account) =>
          Ref.update(state, ({ accounts }) => ({
            accounts: new Map([...accounts, [account, change(accounts.get(account) ?? initialAccount)]])
          })))
      const expect = Effect.fn("Health.expect")(function*(folders: ReadonlyArray<string>, pollInterval: Duration.Duration) {
        yield* update((health) => ({ ...health, folders, pollInterval }))
      })
      const offline = Effect.fn("Health.offline")(function*(reason: string) {
        yield* update((health) => ({ ...health, offline: `not logged in to the IMAP server: ${reason}` }))
      })
      const passed = Effect.fn("Health.passed")(function*(folder: string, failure: string | undefined) {
        const at = yield* Clock.currentTimeMillis
        yield* update((health) => ({ ...health, passes: new Map([...health.passes, [folder, { at, failure }]]) }))
      })
      const readiness = Effect.gen(function*() {
        return readinessOf(yield* Ref.get(state), yield* Clock.currentTimeMillis)
      }).pipe(Effect.withSpan("Health.readiness"))
      return Health.of({
        expect,
        loggedIn: update((health) => ({ ...health, offline: undefined })).pipe(Effect.withSpan("Health.loggedIn")),
        offline,
        passed,
        readiness
      })
    })
  )
}

/** Runs `use` with the Health service when there is one (the metrics port is set). */
export const withHealth = (use: (health: HealthApi) => Effect.Effect<void>): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(Health), (health) => (health._tag === "Some" ? use(health.value) : Effect.void))
