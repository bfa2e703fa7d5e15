/** The accounts file: checked field by field, each account's settings over the global ones. */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Metric, Option, Redacted, Schema } from "effect"
import { accountProblems, AccountsFile } from "../../src/domain/Accounts.ts"
import { countCorrections } from "../../src/domain/Telemetry.ts"
import { type Account, forAccount, loadAccounts } from "../../src/services/Accounts.ts"
import { Health } from "../../src/services/Health.ts"
import { loadImapSettings, loadPathSettings, loadSortSettings, SETTING_NAMES } from "../../src/services/Settings.ts"

/** Writes `accounts` as the file and loads it with `env` as the global settings. */
const load = (accounts: unknown, env: Record<string, string> = {}) => {
  const dir = mkdtempSync(join(tmpdir(), "plai-accounts-unit-"))
  writeFileSync(join(dir, "accounts.json"), typeof accounts === "string" ? accounts : JSON.stringify(accounts))
  writeFileSync(join(dir, "pw"), "s3cret\n", { mode: 0o600 })
  writeFileSync(join(dir, "open-pw"), "s3cret\n")
  chmodSync(join(dir, "open-pw"), 0o644)
  const global = ConfigProvider.fromEnv({
    env: { PROTON_LUMO_ACCOUNTS: join(dir, "accounts.json"), PROTON_LUMO_DATA: "/srv/lumo", PROTON_LUMO_FOLDERS: "INBOX,Lists", ...env }
  })
  return { dir, run: loadAccounts.pipe(Effect.provideService(ConfigProvider.ConfigProvider, global), Effect.provide(NodeServices.layer)) }
}

const failure = (accounts: unknown, env: Record<string, string> = {}) =>
  Effect.map(Effect.flip(load(accounts, env).run), (error) => error.message)

describe("the accounts file", () => {
  it("the example the project ships (config/accounts.example.json) is a valid file", () => {
    const text = readFileSync(new URL("../../config/accounts.example.json", import.meta.url), "utf8")
    const file = Schema.decodeUnknownSync(AccountsFile)(JSON.parse(text), { onExcessProperty: "error" })
    assert.deepStrictEqual(accountProblems(file, new Set(SETTING_NAMES)), [])
    assert.deepStrictEqual(file.accounts.map((account) => account.name), ["alice", "bob"])
  })

  it.effect("not set: no accounts, the plain settings' mailbox", () =>
    Effect.gen(function*() {
      const none = yield* loadAccounts.pipe(
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} })),
        Effect.provide(NodeServices.layer)
      )
      assert.isTrue(Option.isNone(none))
    }))

  it.effect("each account reads its own login, folders and data over the global settings", () =>
    Effect.gen(function*() {
      const { dir, run } = load({
        accounts: [
          { name: "alice", username: "alice@proton.me", passwordFile: "pw", caFile: "bridge.pem", folders: ["INBOX", "Archive"] },
          { name: "bob", username: "bob@proton.me", passwordEnv: "BOB_PW", port: 1144, settings: { PROTON_LUMO_BATCH_SIZE: "3" } }
        ]
      }, { BOB_PW: "b-pass", PROTON_LUMO_BATCH_SIZE: "7" })
      const accounts = Option.getOrThrow(yield* run)
      const [alice, bob] = accounts
      assert.deepStrictEqual(accounts.map((account) => account.dataDir), ["/srv/lumo/accounts/alice", "/srv/lumo/accounts/bob"])
      const aliceImap = yield* forAccount(alice)(loadImapSettings)
      assert.deepInclude(aliceImap, { user: "alice@proton.me", port: 1143, caFile: Option.some(join(dir, "bridge.pem")) })
      assert.strictEqual(Redacted.value(aliceImap.password), "s3cret")
      assert.deepStrictEqual((yield* forAccount(alice)(loadSortSettings)).folders, ["INBOX", "Archive"])
      assert.strictEqual((yield* forAccount(alice)(loadSortSettings)).batchSize, 7)
      assert.strictEqual((yield* forAccount(alice)(loadPathSettings)).dataDir, "/srv/lumo/accounts/alice")
      if (bob === undefined) return assert.fail("bob")
      const bobImap = yield* forAccount(bob)(loadImapSettings)
      assert.deepInclude(bobImap, { user: "bob@proton.me", port: 1144 })
      assert.strictEqual(Redacted.value(bobImap.password), "b-pass")
      assert.deepStrictEqual((yield* forAccount(bob)(loadSortSettings)).folders, ["INBOX", "Lists"])
      assert.strictEqual((yield* forAccount(bob)(loadSortSettings)).batchSize, 3)
    }))

  it.effect("every problem names the account (or its place) and the field; a password is never echoed", () =>
    Effect.gen(function*() {
      const message = yield* failure({
        accounts: [
          { name: "alice", username: "a", passwordEnv: "A", port: 70000 },
          { name: "bob", username: "b", password: "hunter2" },
          { name: "../etc", username: "c", passwordEnv: "C" },
          { name: "dave", username: "", passwordEnv: "D", tls: "none" }
        ]
      })
      assert.include(message, `account "alice": port: Expected`)
      assert.include(message, `account "bob": password: `)
      assert.include(message, "the 3rd account: name: Expected a name of letters, digits")
      assert.include(message, `account "dave": username: Expected a non-empty string`)
      assert.include(message, `account "dave": tls: Expected "starttls" | "tls"`)
      assert.notInclude(message, "hunter2")
      assert.include(yield* failure("{ not json"), "not JSON")
      assert.include(yield* failure({ accounts: [] }), "accounts: lists no account")
      assert.include(yield* failure({ users: [] }), "accounts: Missing key")
    }))

  it.effect("one password source, unique names, no shared setting per account, a private password file", () =>
    Effect.gen(function*() {
      const message = yield* failure({
        accounts: [
          { name: "alice", username: "a", passwordEnv: "A", passwordFile: "pw" },
          { name: "bob", username: "b" },
          { name: "bob", username: "b2", passwordEnv: "B", settings: { PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET: "10", PROTON_LUMO_BATCH: "3" } }
        ]
      })
      assert.include(message, `account "alice": needs exactly one of "passwordEnv" and "passwordFile"`)
      assert.include(message, `account "bob": needs exactly one of "passwordEnv" and "passwordFile"`)
      assert.include(message, `account "bob": name: another account has this name`)
      assert.include(message, "settings.PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET: cannot be set per account (all accounts share one daily budget)")
      assert.include(message, "settings.PROTON_LUMO_BATCH: not a setting ProtonLumoAI knows")
      assert.include(
        yield* failure({ accounts: [{ name: "a", username: "a", passwordEnv: "NOT_SET_ANYWHERE" }] }),
        `account "a": passwordEnv: NOT_SET_ANYWHERE is not set`
      )
      assert.include(
        yield* failure({ accounts: [{ name: "a", username: "a", passwordFile: "open-pw" }] }),
        "is readable by other users: chmod 600 it"
      )
      assert.include(
        yield* failure({
          accounts: [
            { name: "a", username: "a", passwordEnv: "P", settings: { PROTON_LUMO_DATA: "/srv/same" } },
            { name: "b", username: "b", passwordEnv: "P", settings: { PROTON_LUMO_DATA: "/srv/same" } }
          ]
        }, { P: "x" }),
        `account "b": its data folder /srv/same is another account's`
      )
      const sameMailbox = yield* failure({
        accounts: [
          { name: "a", username: "Me@example.com", passwordEnv: "P", port: 1143 },
          { name: "b", username: "me@example.com", passwordEnv: "P", port: 1143 },
          { name: "c", username: "me@example.com", passwordEnv: "P", port: 993 }
        ]
      }, { P: "x" })
      assert.include(sameMailbox, `account "b": me@example.com on the usual host:1143 is another account's mailbox`)
      assert.notInclude(sameMailbox, `account "c"`)
    }))

  it.effect("what runs as an account's counts under its account label, and Health names it", () =>
    Effect.gen(function*() {
      const account = (name: string): Account => ({
        name,
        settings: ConfigProvider.fromEnv({ env: {} }),
        dataDir: `/srv/${name}`,
        sharedDir: "/srv/shared"
      })
      yield* forAccount(account("zoe"))(countCorrections(2))
      yield* forAccount(account("yann"))(countCorrections(5))
      const corrections = (yield* Metric.snapshot).filter((entry) => entry.id === "protonlumo_corrections_total")
      const byAccount = (name: string) => corrections.find((entry) => entry.attributes?.["account"] === name)?.state
      assert.deepInclude(byAccount("zoe"), { count: 2 })
      assert.deepInclude(byAccount("yann"), { count: 5 })
      const health = yield* Health
      yield* forAccount(account("zoe"))(health.offline("wrong password"))
      yield* forAccount(account("yann"))(Effect.andThen(health.expect([], Duration.seconds(60)), health.loggedIn))
      assert.deepStrictEqual(yield* health.readiness, { ready: false, reason: "zoe: not logged in to the IMAP server: wrong password" })
    }).pipe(Effect.provide(Health.layer)))
})
