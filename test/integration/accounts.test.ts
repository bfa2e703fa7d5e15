/** Several mailboxes in one process (PROTON_LUMO_ACCOUNTS), against a real Dovecot: each user a fresh mailbox. */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { runCli, startCli } from "../support/cli.ts"
import { bankEmail, personalEmail, workEmail } from "../support/emails.ts"
import { answerAll, fakeLlmServer } from "../support/fakeLlmServer.ts"
import { appendMessages, folderState, freshUser, latencyProbe } from "../support/imap.ts"

const bridge = inject("dovecot").bridge
const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

const BANQUE = "Folders/Administratif/Banque"
const TRAVAIL = "Folders/Travail"

/**
 * An accounts file for `names` on the shared Dovecot, in a fresh folder that is also the data
 * folder: the first account's password comes from a 0600 file, the others' from variables;
 * `wrong` gets a wrong password. Gives the environment to run the CLI with, and the users.
 */
const accountsSetup = (
  names: ReadonlyArray<string>,
  options: { readonly wrong?: string; readonly folders?: ReadonlyArray<string> } = {}
) => {
  const dir = mkdtempSync(join(tmpdir(), "plai-accounts-"))
  const users = Object.fromEntries(names.map((name) => [name, freshUser(name)]))
  writeFileSync(join(dir, "first.password"), `${bridge.password}\n`, { mode: 0o600 })
  const env: Record<string, string> = {
    PROTON_BRIDGE_HOST: bridge.host,
    PROTON_BRIDGE_PORT: String(bridge.port),
    PROTON_LUMO_IMAP_CA_FILE: bridge.caFile,
    PROTON_LUMO_DATA: join(dir, "data"),
    PROTON_LUMO_ACCOUNTS: join(dir, "accounts.json")
  }
  const folders = options.folders === undefined ? {} : { folders: options.folders }
  const accounts = names.map((name, index) => {
    if (index === 0) return { name, username: users[name], passwordFile: "first.password", ...folders }
    const variable = `PASSWORD_OF_${name.toUpperCase()}`
    env[variable] = name === options.wrong ? "not-the-password" : bridge.password
    return { name, username: users[name], passwordEnv: variable, ...folders }
  })
  writeFileSync(join(dir, "accounts.json"), JSON.stringify({ accounts }))
  return { dir, env, users: (name: string) => users[name] ?? "" }
}

const seed = (user: string) =>
  promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }, { source: workEmail(2) }, { source: personalEmail(3) }]))

describe("several accounts in one process", () => {
  it.live("--once sorts every account; one with a wrong password is named, the others sorted, exit 4", () =>
    Effect.gen(function*() {
      const names = ["alice", "bob", "carol", "dave", "eve"]
      const setup = accountsSetup(names, { wrong: "eve" })
      for (const name of names) yield* seed(setup.users(name))
      const run = yield* runCli(["--once"], setup.env)
      assert.strictEqual(run.code, 4, run.stderr)
      assert.match(run.stderr, /\[eve\] .*IMAP login as "eve-[0-9a-f]+@example\.com" .* was refused/)
      assert.include(run.stderr, "1 of 5 accounts could not be sorted (see above): eve")
      assert.notInclude(run.stdout + run.stderr, "not-the-password")
      for (const name of ["alice", "bob", "carol", "dave"]) {
        assert.lengthOf(yield* promise(() => folderState(bridge, setup.users(name), BANQUE)), 1, name)
        assert.lengthOf(yield* promise(() => folderState(bridge, setup.users(name), TRAVAIL)), 1, name)
        assert.lengthOf(yield* promise(() => folderState(bridge, setup.users(name), "INBOX")), 1, name)
        assert.isTrue(existsSync(join(setup.dir, "data", "accounts", name, "protonlumo.db")), name)
      }
      assert.lengthOf(yield* promise(() => folderState(bridge, setup.users("eve"), "INBOX")), 3)
      assert.match(run.stdout, /\[alice\] moved INBOX#1 → Folders\/Administratif\/Banque/)
    }), 60_000)

  it.live("history, status and undo take --account, and undo puts back only that account's moves", () =>
    Effect.gen(function*() {
      const setup = accountsSetup(["alice", "bob"])
      yield* seed(setup.users("alice"))
      yield* seed(setup.users("bob"))
      assert.strictEqual((yield* runCli(["--once"], setup.env)).code, 0)
      const unnamed = yield* runCli(["history"], setup.env)
      assert.strictEqual(unnamed.code, 1)
      assert.include(unnamed.stderr, "holds several accounts: say which with --account (alice, bob)")
      const unknown = yield* runCli(["history", "--account", "mallory"], setup.env)
      assert.strictEqual(unknown.code, 1)
      assert.include(unknown.stderr, `has no account "mallory" (it has alice, bob)`)
      const history = yield* runCli(["history", "--account", "bob"], setup.env)
      assert.strictEqual(history.code, 0, history.stderr)
      assert.include(history.stdout, BANQUE)
      const status = yield* runCli(["status", "--json", "--account", "alice"], setup.env)
      assert.strictEqual(status.code, 0, status.stderr)
      const folders: unknown = JSON.parse(status.stdout).folders
      assert.deepInclude(Array.isArray(folders) ? folders[0] : undefined, { folder: "INBOX", moved: 2 })
      // Without --account, status is every account's.
      const everyone = yield* runCli(["status"], setup.env)
      assert.strictEqual(everyone.code, 0, everyone.stderr)
      assert.match(everyone.stdout, /^\[alice\]\nStatus at [^]*\n\n\[bob\]\nStatus at /)
      assert.strictEqual(everyone.stdout.match(/INBOX: .* moved 2, left 1, failed 0/g)?.length, 2, everyone.stdout)
      // The LLM (and its budget) is theirs together: each says so, rather than seem its own.
      assert.strictEqual(everyone.stdout.match(/LLM today \([0-9-]+, all accounts together\)/g)?.length, 2, everyone.stdout)
      const everyoneJson = yield* runCli(["status", "--json"], setup.env)
      assert.strictEqual(everyoneJson.code, 0, everyoneJson.stderr)
      const accounts: Record<string, { readonly movedToday: { readonly total: number } }> = JSON.parse(everyoneJson.stdout).accounts
      assert.deepStrictEqual(Object.entries(accounts).map(([name, document]) => [name, document.movedToday.total]), [["alice", 2], ["bob", 2]])
      const undone = yield* runCli(["undo", "--last-run", "--account", "bob"], setup.env)
      assert.strictEqual(undone.code, 0, undone.stderr)
      assert.lengthOf(yield* promise(() => folderState(bridge, setup.users("bob"), "INBOX")), 3)
      assert.lengthOf(yield* promise(() => folderState(bridge, setup.users("alice"), "INBOX")), 1)
      assert.lengthOf(yield* promise(() => folderState(bridge, setup.users("alice"), BANQUE)), 1)
    }), 60_000)

  it.live("the service watches every source folder of every account: new mail in the third account's second folder is sorted within 2 s", () =>
    Effect.gen(function*() {
      const names = ["amy", "bea", "cy"]
      const setup = accountsSetup(names, { folders: ["INBOX", "Lists"] })
      for (const name of names) yield* promise(() => appendMessages(bridge, setup.users(name), "Lists", []))
      const service = yield* Effect.acquireRelease(
        Effect.sync(() => startCli([], { ...setup.env, PROTON_LUMO_POLL_INTERVAL: "600", PROTON_LUMO_METRICS_ENABLED: "false" })),
        (started) => promise(() => started.stop("SIGTERM"))
      )
      yield* promise(() => service.waitFor((output) => names.every((name) => output.includes(`[${name}] watching Lists (IDLE)`)), 30_000))
      const appendAndWait = yield* latencyProbe(bridge, setup.users("cy"))
      const latency = yield* appendAndWait("Lists", bankEmail(7), BANQUE, 1)
      assert.isBelow(latency, 2000, service.output())
      // The message is in its folder before the service's line about it may have reached the pipe.
      yield* promise(() => service.waitFor((output) => /\[cy\] moved Lists#1 → Folders\/Administratif\/Banque/.test(output), 10_000))
      assert.lengthOf(yield* promise(() => folderState(bridge, setup.users("cy"), BANQUE)), 1)
      assert.notMatch(service.output(), /\[(amy|bea)\] moved/)
    }), 60_000)

  it.live("the accounts share one LLM: PROTON_LUMO_MAX_WORKERS bounds the calls in flight of all of them", () =>
    Effect.gen(function*() {
      const names = ["ann", "ben", "cat", "dan"]
      const setup = accountsSetup(names)
      const server = yield* fakeLlmServer((request) => ({ ...answerAll("PRO")(request), delayMillis: 150 }))
      const emails = Array.from({ length: 12 }, (_, index) => ({ source: personalEmail(index + 1) }))
      for (const name of names) yield* promise(() => appendMessages(bridge, setup.users(name), "INBOX", emails))
      const run = yield* runCli(["--once"], {
        ...setup.env,
        PROTON_LUMO_LLM_BASE_URL: server.baseUrl,
        PROTON_LUMO_LLM_MODEL: "fake",
        PROTON_LUMO_BATCH_SIZE: "1",
        PROTON_LUMO_MAX_WORKERS: "3",
        PROTON_LUMO_LEARN: "false"
      })
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(server.requests.length, 48)
      // Each account gets its share of the 3 workers (one), so 4 calls would be in flight without the shared limit.
      assert.strictEqual(server.maxInFlight(), 3)
      for (const name of names) assert.lengthOf(yield* promise(() => folderState(bridge, setup.users(name), TRAVAIL)), 12, name)
    }), 60_000)

  it.live("a file that is not right is one error naming the account and the field, before anything connects", () =>
    Effect.gen(function*() {
      const setup = accountsSetup(["alice"])
      writeFileSync(
        join(setup.dir, "accounts.json"),
        JSON.stringify({
          accounts: [
            { name: "alice", username: "a@example.com", passwordEnv: "A_PASSWORD", port: "imap" },
            { name: "bob", username: "b@example.com", password: "hunter2" },
            { name: "carol", username: "c@example.com", passwordEnv: "C", settings: { PROTON_LUMO_LLM_MAX_RPM: "5" } }
          ]
        })
      )
      const run = yield* runCli(["--once"], setup.env)
      assert.strictEqual(run.code, 1)
      assert.include(run.stderr, `account "alice": port: Expected`)
      assert.include(run.stderr, `account "bob": password: `)
      assert.notInclude(run.stderr, "hunter2")
      writeFileSync(
        join(setup.dir, "accounts.json"),
        JSON.stringify({
          accounts: [{ name: "carol", username: "c@example.com", passwordEnv: "C", settings: { PROTON_LUMO_LLM_MAX_RPM: "5" } }]
        })
      )
      const shared = yield* runCli(["--once"], setup.env)
      assert.strictEqual(shared.code, 1)
      assert.include(shared.stderr, `account "carol": settings.PROTON_LUMO_LLM_MAX_RPM: cannot be set per account (all accounts share one rate limit)`)
    }), 30_000)
})
