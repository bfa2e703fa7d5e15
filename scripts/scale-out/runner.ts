/**
 * One runner of the scale-out spike (started by scripts/scale-out-spike.ts, not by hand): an
 * `effect/cluster` runner on 127.0.0.1 whose shard ownership, runner registry and persisted
 * messages live in the shared Postgres (SqlRunnerStorage, SqlMessageStorage over
 * @effect/sql-pg). It hosts the `Mailbox` entities (mailboxEntity.ts) whose shards it owns; each
 * `SortPass` runs the project's real `sortMailbox` (keywords, learning off) against the account's
 * IMAP mailbox, with the journal and sort state in Postgres (pgState.ts), round after round of
 * MAX_EMAILS_PER_FOLDER messages with a pause between them (so a pass lasts long enough to be
 * killed in the middle), until nothing is left.
 *
 * Its settings come as JSON in SPIKE_RUNNER. It prints `ready` once its layers are up, and one
 * line per pass begun and finished; the sorter's own log lines are kept to warnings and errors.
 */
import { readFileSync } from "node:fs"
import { NodeClusterSocket, NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option, Redacted, References, Schema } from "effect"
import { Entity, RunnerAddress } from "effect/cluster"
import { SqlClient } from "effect/sql"
import { CategoriesFile } from "../../src/domain/Category.ts"
import { sorterLayer } from "../../src/layers.ts"
import { sortMailbox } from "../../src/pipeline/sortMailbox.ts"
import { Categories } from "../../src/services/Categories.ts"
import { Database } from "../../src/services/Database.ts"
import { Mailbox } from "../../src/services/Mailbox.ts"
import { MessageParser } from "../../src/services/MessageParser.ts"
import { Settings } from "../../src/services/Settings.ts"
import { MailboxEntity, type PassDone } from "./mailboxEntity.ts"
import { journalLayer, recordEvent, sortStateLayer } from "./pgState.ts"

export const RunnerConfig = Schema.Struct({
  name: Schema.String,
  /** The runner's socket port on 127.0.0.1 (other runners and clients reach its entities there). */
  port: Schema.Number,
  postgres: Schema.Struct({ port: Schema.Number }),
  imap: Schema.Struct({ port: Schema.Number, caFile: Schema.String, password: Schema.String }),
  /** MAX_EMAILS_PER_FOLDER: messages per round of `sortMailbox`. */
  perRound: Schema.Number,
  /** The pause between two rounds of one pass. */
  pauseMillis: Schema.Number
})
export type RunnerConfig = typeof RunnerConfig.Type

/** The cluster's timings, shared by the runners and the client (the shard count must agree). */
export const shardingTimings = {
  shardsPerGroup: 300,
  // A runner that stops refreshing loses its shards after this (its Postgres session is ended).
  shardLockExpiration: Duration.seconds(5),
  shardLockRefreshInterval: Duration.seconds(1),
  refreshAssignmentsInterval: Duration.millis(500),
  runnerHealthCheckInterval: Duration.seconds(1),
  entityMessagePollInterval: Duration.millis(500),
  entityReplyPollInterval: Duration.millis(200),
  entityTerminationTimeout: Duration.seconds(5)
}

/** @effect/sql-pg to the spike's private Postgres. */
export const postgresLayer = (port: number) =>
  PgClient.layer({
    host: "127.0.0.1",
    port,
    username: "postgres",
    database: "postgres",
    applicationName: "plai-scale-out-spike",
    maxConnections: 30
  })

const categoriesFile = Schema.decodeUnknownSync(CategoriesFile)(
  JSON.parse(readFileSync(new URL("../../config/categories.json", import.meta.url), "utf8"))
)

const main = (config: RunnerConfig) => {
  const say = (line: string) => Effect.sync(() => console.log(`[${config.name}] ${line}`))

  /** Every service `sortMailbox` needs for `account`, its state in memory but for the journal and sort state. */
  const sorterFor = (account: string) =>
    sorterLayer({
      settings: {
        ...Settings.defaults,
        folders: ["INBOX"],
        learn: false,
        metricsEnabled: false,
        maxEmailsPerFolder: config.perRound
      },
      categories: Categories.layerFrom(categoriesFile),
      mailbox: Mailbox.layerImap({
        host: "127.0.0.1",
        port: config.imap.port,
        user: account,
        password: Redacted.make(config.imap.password),
        tls: "starttls",
        caFile: Option.some(config.imap.caFile),
        tlsVerify: true
      }),
      // The LLM cache, the learned model and the pass log: unused here (keywords, learning off).
      database: Database.layerMemory,
      parser: MessageParser.layerInline
    })

  /** Rounds of `sortMailbox` until the account's INBOX has nothing left to sort. */
  const sortAccount = (account: string) =>
    Effect.gen(function*() {
      let moved = 0
      let rounds = 0
      while (true) {
        const pass = yield* sortMailbox()
        rounds += 1
        const problem = pass.problems[0]
        if (problem !== undefined) return yield* Effect.fail(`${problem.folder}: ${problem.reason}`)
        const report = pass.folders[0]
        moved += report?.moved ?? 0
        if (report === undefined || report.remaining === 0) break
        yield* Effect.sleep(Duration.millis(config.pauseMillis))
      }
      const done: PassDone = { runner: config.name, moved, rounds }
      return done
    }).pipe(
      // Inner provide wins: the journal and sort state are Postgres's, not the in-memory database's.
      Effect.provide(Layer.merge(journalLayer(account, config.name), sortStateLayer(account))),
      Effect.provide(sorterFor(account)),
      Effect.mapError((error) => typeof error === "string" ? error : error.message)
    )

  const MailboxLive = MailboxEntity.toLayer(
    Effect.gen(function*() {
      const account = (yield* Entity.CurrentAddress).entityId
      const sql = yield* SqlClient.SqlClient
      return MailboxEntity.of({
        SortPass: ({ payload }) =>
          Effect.gen(function*() {
            yield* say(`${account}: pass "${payload.pass}" begins`)
            yield* recordEvent(account, config.name, "start").pipe(Effect.orDie)
            const done = yield* sortAccount(account).pipe(
              Effect.tapError((reason) =>
                Effect.andThen(recordEvent(account, config.name, "failed", reason).pipe(Effect.orDie), say(`${account}: ${reason}`))
              )
            )
            yield* recordEvent(account, config.name, "finish", String(done.moved)).pipe(Effect.orDie)
            yield* say(`${account}: pass "${payload.pass}" done, ${done.moved} moved in ${done.rounds} rounds`)
            return done
          }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      })
    }),
    { maxIdleTime: Duration.minutes(5) }
  )

  const address = Option.some(RunnerAddress.make("127.0.0.1", config.port))
  const ClusterLive = NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: { ...shardingTimings, runnerAddress: address, runnerListenAddress: address }
  })

  return Effect.andThen(say("ready"), Effect.never).pipe(
    Effect.provide(MailboxLive.pipe(Layer.provideMerge(ClusterLive), Layer.provideMerge(postgresLayer(config.postgres.port)))),
    // The cluster and the sorter log warnings and errors; the moves themselves are in the journal.
    Effect.provideService(References.MinimumLogLevel, "Warn")
  )
}

if (process.env["SPIKE_RUNNER"] !== undefined) {
  const config = Schema.decodeUnknownSync(Schema.fromJsonString(RunnerConfig))(process.env["SPIKE_RUNNER"])
  NodeRuntime.runMain(main(config))
}
