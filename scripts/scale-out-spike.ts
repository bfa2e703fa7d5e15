/**
 * The scale-out spike (issue 12; docs/scale-out.md): two `effect/cluster` runners on 127.0.0.1
 * sharing one Postgres, 20 mailbox entities each sorting a real IMAP mailbox with the project's
 * `sortMailbox`, one runner killed with SIGKILL in the middle, and a check that its mailboxes
 * were finished by the other with nothing sorted twice and nothing lost.
 *
 *   npx node scripts/scale-out-spike.ts                 20 mailboxes of 30 messages
 *   npx node scripts/scale-out-spike.ts --mailboxes 40 --messages 50
 *   npx node scripts/scale-out-spike.ts --logs DIR      keep the runners' logs in DIR (made if missing)
 *
 * Needs Node 22 (`npx node`: the project's own), and from Debian's packages PostgreSQL and
 * Dovecot: `apt-get install -y postgresql dovecot-imapd` (as root; nothing else: the script
 * checks they are there and installs nothing). It starts, on 127.0.0.1 only and on free ports:
 * a private Postgres cluster (initdb + pg_ctl in a temporary folder, run as the `postgres` user
 * when started as root), a private Dovecot (test/support/dovecot.ts, as the integration tests
 * do), and two runner processes (scripts/scale-out/runner.ts). At the end every one of them is
 * stopped and every temporary folder removed, whatever happened.
 *
 * What it does:
 * 1. Seeds 20 fresh accounts with 30 messages each (bank, work and travel mail the shipped
 *    keyword categories move, and personal mail that stays in INBOX).
 * 2. Starts runner-1, then runner-2, and waits until the 300 shards are split between them.
 * 3. Sends each account's entity one persisted `SortPass` (a client-only cluster member).
 * 4. When 40% of the moves are done (counted in the Postgres journal), SIGKILLs the runner with
 *    the most passes in flight.
 * 5. Waits until every account's pass has finished (on the survivor for the killed one's).
 * 6. Checks every mailbox (every message in exactly one folder, its expected one: none lost,
 *    none duplicated) and the Postgres journal (no message moved twice; every move done), and
 *    prints the figures: time to take over, messages, duplicates.
 *
 * Exit code 0 when every check holds, 1 when one fails, 2 when a prerequisite is missing.
 * Not part of `npm test`: it takes about half a minute and needs PostgreSQL.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, existsSync, type WriteStream } from "node:fs"
import { chmod, mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeClusterSocket } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { freePort, startDovecot, stopDovecot } from "../test/support/dovecot.ts"
import { rawEmail } from "../test/support/emails.ts"
import { appendMessages, type DovecotInstance, freshUser, mailboxState } from "../test/support/imap.ts"
import { MailboxEntity } from "./scale-out/mailboxEntity.ts"
import { createTables } from "./scale-out/pgState.ts"
import { postgresBinDir, startPostgres } from "./scale-out/postgres.ts"
import { postgresLayer, type RunnerConfig, shardingTimings } from "./scale-out/runner.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const index = args.indexOf(name)
  const value = index >= 0 ? Number(args[index + 1]) : fallback
  return Number.isInteger(value) && value > 0 ? value : fallback
}
const MAILBOXES = option("--mailboxes", 20)
const MESSAGES = option("--messages", 30)
const PER_ROUND = 4
const PAUSE_MILLIS = 400
const KILL_AT_SHARE = 0.4
const DEADLINE_MILLIS = 180_000
const logsIndex = args.indexOf("--logs")
const keptLogs = logsIndex >= 0 ? args[logsIndex + 1] : undefined
const runnerScript = fileURLToPath(new URL("./scale-out/runner.ts", import.meta.url))

const print = (line: string) => console.log(line)
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`

// --- prerequisites -------------------------------------------------------------------------

const missing: Array<string> = []
if (Number(process.versions.node.split(".")[0]) < 22) missing.push("Node 22: run it with `npx node scripts/scale-out-spike.ts`")
if (postgresBinDir() === undefined) missing.push("PostgreSQL: apt-get install -y postgresql")
if (!existsSync("/usr/sbin/dovecot")) missing.push("Dovecot: apt-get install -y dovecot-imapd")
if (missing.length > 0) {
  for (const line of missing) console.error(`missing: ${line}`)
  process.exit(2)
}

// --- the mail ------------------------------------------------------------------------------

type Kind = "bank" | "work" | "travel" | "personal"
const expectedFolder: Readonly<Record<Kind, string>> = {
  bank: "Folders/Administratif/Banque",
  work: "Folders/Travail",
  travel: "Folders/Voyages",
  personal: "INBOX"
}
const kinds: ReadonlyArray<Kind> = ["bank", "work", "bank", "travel", "work", "bank", "personal", "travel", "bank", "work"]

interface Seeded {
  readonly messageId: string
  readonly kind: Kind
}

const seedEmail = (account: number, n: number): { readonly source: string; readonly seeded: Seeded } => {
  const kind = kinds[n % kinds.length] ?? "personal"
  const messageId = `<spike-${account}-${n}@example.com>`
  const spec = {
    bank: { subject: `Virement reçu ${n}`, body: `Un virement a été crédité sur votre compte. Paiement ${n}.` },
    work: { subject: `Réunion projet ${n}`, body: "Ordre du jour de la réunion et rapport du projet client." },
    travel: { subject: `Votre billet de train ${n}`, body: "Réservation confirmée, itinéraire joint." },
    personal: { subject: `Dîner samedi ${n}`, body: "On se voit chez Paul vers 20h ?" }
  }[kind]
  return { source: rawEmail({ ...spec, messageId }), seeded: { messageId, kind } }
}

// --- processes and clean-up ----------------------------------------------------------------

const cleanups: Array<() => Promise<unknown>> = []
const cleanUp = async () => {
  for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined)
}
const stopSignals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM"]
for (const signal of stopSignals) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(1))
  })
}

interface Runner {
  readonly name: string
  readonly child: ChildProcess
  readonly log: string
  readonly exited: Promise<number | null>
}

const startRunner = async (config: RunnerConfig, logDir: string): Promise<Runner> => {
  const log = join(logDir, `${config.name}.log`)
  const out: WriteStream = createWriteStream(log)
  const child = spawn(process.execPath, [runnerScript], {
    // Only what it needs: effect/cluster reads its settings from the environment too.
    env: { PATH: process.env["PATH"] ?? "", SPIKE_RUNNER: JSON.stringify(config) },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
      if (!stopped) child.kill("SIGKILL")
      await exited
    }
    out.end()
  })
  child.stderr?.pipe(out, { end: false })
  const ready = new Promise<void>((resolve, reject) => {
    let seen = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      out.write(chunk)
      seen += chunk.toString()
      if (seen.includes(`[${config.name}] ready`)) resolve()
    })
    void exited.then((code) => reject(new Error(`${config.name} exited (${code}) before it was ready; see ${log}`)))
  })
  await Promise.race([ready, sleep(60_000).then(() => Promise.reject(new Error(`${config.name} not ready in 60 s`)))])
  return { name: config.name, child, log, exited }
}

// --- Postgres queries ----------------------------------------------------------------------

const Count = Schema.Struct({ n: Schema.Number })
const EventRow = Schema.Struct({ account: Schema.String, runner: Schema.String, event: Schema.String, at: Schema.Number })
const JournalRow = Schema.Struct({
  account: Schema.String,
  runner: Schema.String,
  settled_by: Schema.NullOr(Schema.String),
  message_id: Schema.NullOr(Schema.String),
  state: Schema.String,
  note: Schema.NullOr(Schema.String)
})

const query = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  statement: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<unknown>, unknown>
) =>
  Effect.gen(function*() {
    const rows = yield* statement(yield* SqlClient.SqlClient)
    return yield* Schema.decodeUnknownEffect(Schema.Array(schema))(rows)
  })

const doneMoves = query(Count, (sql) => sql`SELECT count(*)::int AS n FROM journal WHERE action = 'move' AND state = 'done'`)
const events = query(EventRow, (sql) => sql`SELECT account, runner, event, at::float8 AS at FROM events ORDER BY id`)
const journalRows = query(
  JournalRow,
  (sql) => sql`SELECT account, runner, settled_by, message_id, state, note FROM journal WHERE action = 'move' ORDER BY id`
)
/** Shards held, per Postgres session: SqlRunnerStorage takes one advisory lock per shard. */
const shardHolders = query(
  Count,
  (sql) => sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted GROUP BY pid`
)

// --- the run -------------------------------------------------------------------------------

const spike = async (): Promise<boolean> => {
  const started = Date.now()
  const base = await mkdtemp(join(tmpdir(), "plai-scale-out-"))
  cleanups.push(() => rm(base, { recursive: true, force: true }))
  // As root, Dovecot reads the mail as nobody, who must be able to enter the folder.
  await chmod(base, 0o755)

  const postgres = await startPostgres()
  cleanups.push(postgres.stop)
  const dovecot: DovecotInstance = await startDovecot(base, "bridge")
  cleanups.push(() => stopDovecot(dovecot.dir))
  print(`Postgres on 127.0.0.1:${postgres.port}, Dovecot on 127.0.0.1:${dovecot.port}`)

  const db = ManagedRuntime.make(postgresLayer(postgres.port))
  cleanups.push(() => db.dispose())
  await db.runPromise(createTables)

  // 1. The mailboxes.
  const accounts = Array.from({ length: MAILBOXES }, () => freshUser("spike"))
  const seeded = new Map<string, ReadonlyArray<Seeded>>()
  await Promise.all(accounts.map(async (account, index) => {
    const emails = Array.from({ length: MESSAGES }, (_, n) => seedEmail(index, n))
    seeded.set(account, emails.map((email) => email.seeded))
    await appendMessages(dovecot, account, "INBOX", emails.map((email) => ({ source: email.source })))
  }))
  const all = [...seeded.values()].flat()
  const toMove = all.filter((message) => message.kind !== "personal").length
  print(`${MAILBOXES} mailboxes, ${all.length} messages, ${toMove} to move`)

  // 2. Two runners; wait until both hold shards.
  const runnerConfig = async (name: string): Promise<RunnerConfig> => ({
    name,
    port: await freePort(),
    postgres: { port: postgres.port },
    imap: { port: dovecot.port, caFile: dovecot.caFile, password: dovecot.password },
    perRound: PER_ROUND,
    pauseMillis: PAUSE_MILLIS
  })
  const runners: Array<Runner> = []
  const logDir = keptLogs ?? base
  if (keptLogs !== undefined) await mkdir(keptLogs, { recursive: true })
  for (const name of ["runner-1", "runner-2"]) runners.push(await startRunner(await runnerConfig(name), logDir))
  const splitBy = Date.now() + 30_000
  for (;;) {
    const holders = await db.runPromise(shardHolders)
    if (holders.length === 2 && holders.reduce((sum, row) => sum + row.n, 0) === shardingTimings.shardsPerGroup) {
      print(`shards split between the runners: ${holders.map((row) => row.n).join(" + ")}`)
      break
    }
    if (Date.now() > splitBy) throw new Error(`the shards were not split between the runners in 30 s: ${JSON.stringify(holders)}`)
    await sleep(200)
  }

  // 3. One persisted SortPass per mailbox entity, sent by a client-only member of the cluster.
  const sent = Date.now()
  await Effect.runPromise(
    Effect.gen(function*() {
      const clientFor = yield* MailboxEntity.client
      yield* Effect.forEach(accounts, (account) => clientFor(account).SortPass({ pass: "spike-1" }, { discard: true }), {
        concurrency: "unbounded",
        discard: true
      })
    }).pipe(
      Effect.provide(
        NodeClusterSocket.layer({
          clientOnly: true,
          storage: "sql",
          shardingConfig: { ...shardingTimings, runnerAddress: Option.none() }
        }).pipe(Layer.provide(postgresLayer(postgres.port)))
      )
    )
  )
  print(`sent ${accounts.length} SortPass messages`)

  // 4. Kill the busier runner once KILL_AT_SHARE of the moves are done.
  let killedAt = 0
  let movesAtKill = 0
  let victim: Runner | undefined
  let victimAccounts: ReadonlyArray<string> = []
  const deadline = sent + DEADLINE_MILLIS
  while (victim === undefined) {
    const [done] = await db.runPromise(doneMoves)
    if ((done?.n ?? 0) >= toMove * KILL_AT_SHARE) {
      const inFlight = (name: string, seen: ReadonlyArray<typeof EventRow.Type>) =>
        accounts.filter((account) =>
          seen.some((e) => e.account === account && e.runner === name && e.event === "start") &&
          !seen.some((e) => e.account === account && e.runner === name && e.event !== "start")
        )
      const seen = await db.runPromise(events)
      victim = [...runners].sort((a, b) => inFlight(b.name, seen).length - inFlight(a.name, seen).length)[0]
      if (victim === undefined) throw new Error("no runner to kill")
      victimAccounts = inFlight(victim.name, seen)
      victim.child.kill("SIGKILL")
      killedAt = Date.now()
      await victim.exited
      const [after] = await db.runPromise(doneMoves)
      movesAtKill = after?.n ?? 0
      print(
        `SIGKILL ${victim.name} at ${seconds(killedAt - sent)}, after ${movesAtKill} of ${toMove} moves; ` +
          `it had ${victimAccounts.length} passes in flight`
      )
    }
    if (Date.now() > deadline) throw new Error("the moves did not reach the kill point in time")
    await sleep(50)
  }
  const survivor = runners.find((runner) => runner !== victim)
  if (survivor === undefined) throw new Error("no survivor")

  // 5. Wait until every account's pass is finished.
  for (;;) {
    const seen = await db.runPromise(events)
    const finished = new Set(seen.filter((e) => e.event === "finish").map((e) => e.account))
    const failed = seen.filter((e) => e.event === "failed")
    if (failed.length > 0) print(`failed passes: ${failed.map((e) => `${e.account} on ${e.runner}`).join(", ")}`)
    if (accounts.every((account) => finished.has(account))) break
    if (Date.now() > deadline) throw new Error(`only ${finished.size} of ${accounts.length} passes finished in time`)
    await sleep(200)
  }
  const finishedAt = Date.now()

  // 6. The checks.
  const seen = await db.runPromise(events)
  const takeovers = victimAccounts.map((account) => {
    const resumed = seen.find((e) => e.account === account && e.runner === survivor.name && e.event === "start" && e.at >= killedAt)
    return resumed === undefined ? Number.NaN : resumed.at - killedAt
  })
  const notResumed = victimAccounts.filter((_, index) => Number.isNaN(takeovers[index]))
  const finishedBy = new Map(seen.filter((e) => e.event === "finish").map((e) => [e.account, e.runner]))

  let misplaced = 0
  let lost = 0
  let duplicated = 0
  let stray = 0
  let total = 0
  const problems: Array<string> = []
  for (const account of accounts) {
    const state = await mailboxState(dovecot, account)
    const where = new Map<string, Array<string>>()
    for (const [folder, messages] of Object.entries(state)) {
      for (const message of messages) {
        total += 1
        const id = message.messageId ?? "?"
        where.set(id, [...(where.get(id) ?? []), folder])
      }
    }
    const expected = seeded.get(account) ?? []
    for (const message of expected) {
      const folders = where.get(message.messageId) ?? []
      if (folders.length === 0) lost += 1
      else if (folders.length > 1) duplicated += 1
      else if (folders[0] !== expectedFolder[message.kind]) misplaced += 1
      if (folders.length !== 1 || folders[0] !== expectedFolder[message.kind]) {
        problems.push(`${account} ${message.messageId}: in [${folders.join(", ")}], expected ${expectedFolder[message.kind]}`)
      }
    }
    const known = new Set(expected.map((message) => message.messageId))
    stray += [...where.keys()].filter((id) => !known.has(id)).length
  }

  const journal = await db.runPromise(journalRows)
  const doneByMessage = new Map<string, number>()
  for (const row of journal) {
    if (row.state !== "done") continue
    const key = `${row.account} ${row.message_id ?? "?"}`
    doneByMessage.set(key, (doneByMessage.get(key) ?? 0) + 1)
  }
  const movedTwice = [...doneByMessage.values()].filter((count) => count > 1).length
  const movesDone = [...doneByMessage.values()].reduce((sum, count) => sum + count, 0)
  const expectedMoves = new Set(
    accounts.flatMap((account) =>
      (seeded.get(account) ?? []).filter((m) => m.kind !== "personal").map((m) => `${account} ${m.messageId}`)
    )
  )
  const unjournaled = [...expectedMoves].filter((key) => !doneByMessage.has(key)).length
  const pendingLeft = journal.filter((row) => row.state === "pending").length
  const recovered = journal.filter((row) => row.runner === victim.name && row.settled_by === survivor.name)
  const recoveredDone = recovered.filter((row) => row.state === "done").length
  const movesBy = (name: string) =>
    journal.filter((row) => row.state === "done" && (row.settled_by ?? row.runner) === name).length
  const resumedMillis = takeovers.filter((millis) => !Number.isNaN(millis))

  print("")
  print("scale-out spike: results")
  print(`  mailboxes                 ${MAILBOXES} (${MESSAGES} messages each, ${all.length} in all, ${toMove} to move)`)
  print(`  killed                    ${victim.name} (SIGKILL) at ${seconds(killedAt - sent)}, ${movesAtKill} moves done, ${victimAccounts.length} passes in flight`)
  print(
    `  taken over by ${survivor.name}  ${victimAccounts.length - notResumed.length} of ${victimAccounts.length} passes, ` +
      (resumedMillis.length === 0
        ? "none"
        : `first after ${seconds(Math.min(...resumedMillis))}, last after ${seconds(Math.max(...resumedMillis))}`)
  )
  print(`  finished on               ${runners.map((r) => `${r.name}: ${accounts.filter((a) => finishedBy.get(a) === r.name).length}`).join(", ")}`)
  print(`  moves done by             ${runners.map((r) => `${r.name}: ${movesBy(r.name)}`).join(", ")}`)
  print(`  interrupted moves         ${recovered.length} left pending by ${victim.name}, settled by ${survivor.name}'s recovery (${recoveredDone} done on the server already, ${recovered.length - recoveredDone} sorted again)`)
  print(`  mailboxes checked         ${total} messages: ${lost} lost, ${duplicated} in two folders, ${misplaced} misplaced, ${stray} unknown`)
  print(`  Postgres journal          ${movesDone} moves done for ${expectedMoves.size} expected, ${unjournaled} missing, ${pendingLeft} pending`)
  print(`  duplicates                ${movedTwice}`)
  print(`  time                      ${seconds(finishedAt - sent)} from the first SortPass to the last pass finished; ${seconds(Date.now() - started)} in all`)

  const checks: ReadonlyArray<readonly [boolean, string]> = [
    [lost === 0 && duplicated === 0 && misplaced === 0 && stray === 0 && total === all.length, "every message in exactly one folder, the expected one"],
    [movedTwice === 0, "no message moved twice (journal)"],
    [unjournaled === 0 && movesDone === toMove && pendingLeft === 0, "every move journaled done exactly once, nothing pending"],
    [victimAccounts.length > 0 && notResumed.length === 0, `the killed runner's passes resumed on ${survivor.name}`],
    [victimAccounts.every((account) => finishedBy.get(account) === survivor.name), `the killed runner's passes finished on ${survivor.name}`]
  ]
  for (const problem of problems.slice(0, 10)) print(`  ! ${problem}`)
  for (const [ok, what] of checks) print(`  ${ok ? "ok  " : "FAIL"} ${what}`)
  if (checks.some(([ok]) => !ok)) {
    for (const runner of runners) {
      print(`--- last lines of ${runner.log}`)
      print((await readFile(runner.log, "utf8").catch(() => "")).split("\n").slice(-30).join("\n"))
    }
  }
  return checks.every(([ok]) => ok)
}

let ok = false
try {
  ok = await spike()
} catch (error) {
  console.error(`spike failed: ${error instanceof Error ? error.message : String(error)}`)
} finally {
  await cleanUp()
}
print(ok ? "PASS" : "FAIL")
process.exit(ok ? 0 : 1)
