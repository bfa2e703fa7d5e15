/**
 * Several mailboxes in one service: `PROTON_LUMO_ACCOUNTS` names a JSON file of accounts
 * (domain/Accounts.ts). Each account becomes a `ConfigProvider`: its own settings (login,
 * folders, data folder…) over the global ones, so every command runs for an account exactly as
 * it runs for the single mailbox of the plain settings.
 */
import { Config, ConfigProvider, Effect, FileSystem, Metric, Option, Path, Redacted, Schema } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { type AccountEntry, accountOverrides, accountProblems, AccountsFile, describeIssues } from "../domain/Accounts.ts"
import { CurrentAccount } from "./Health.ts"
import { loadPathSettings, SETTING_NAMES, SettingsError } from "./Settings.ts"

export interface Account {
  readonly name: string
  /** The account's settings over the global ones: provide it and every setting reads as the account's. */
  readonly settings: ConfigProvider.ConfigProvider
  /** Where its database, journal and lock live (one per account: never two people's mail in one). */
  readonly dataDir: string
  /** Where what all accounts share is kept: the LLM's daily token budget (`<PROTON_LUMO_DATA>/shared`). */
  readonly sharedDir: string
}

const VARIABLE = "PROTON_LUMO_ACCOUNTS"
const knownSettings: ReadonlySet<string> = new Set(SETTING_NAMES)

const invalid = (file: string, problems: ReadonlyArray<string>) =>
  new SettingsError({ variable: VARIABLE, reason: `${file}: ${problems.join("; ")}` })

const decode = (file: string, text: string) =>
  Effect.gen(function*() {
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) => invalid(file, [`not JSON (${error instanceof Error ? error.message : String(error)})`])
    })
    const decoded = yield* Schema.decodeUnknownEffect(AccountsFile)(json, { onExcessProperty: "error", errors: "all" }).pipe(
      Effect.mapError((error) => invalid(file, describeIssues(error.issue, json)))
    )
    const problems = accountProblems(decoded, knownSettings)
    return problems.length > 0 ? yield* invalid(file, problems) : decoded
  })

/** Which mailbox an account's settings name: its user (case aside) on its host and port, where it names them. */
const mailboxOf = (own: Readonly<Record<string, string>>): string =>
  `${(own["PROTON_USERNAME"] ?? "").toLowerCase()} on ${own["PROTON_BRIDGE_HOST"] ?? own["PROTON_LUMO_IMAP_HOST"] ?? "the usual host"}:` +
  (own["PROTON_BRIDGE_PORT"] ?? own["PROTON_LUMO_IMAP_PORT"] ?? "the usual port")

/** The password, from the variable `passwordEnv` names, or from `passwordFile` (its owner's alone). */
const passwordOf = (account: AccountEntry, resolve: (path: string) => string, file: string) =>
  Effect.gen(function*() {
    const where = `account "${account.name}"`
    if (account.passwordEnv !== undefined) {
      const name = account.passwordEnv
      const value = yield* Config.option(Config.Redacted(name)).pipe(
        Effect.mapError(() => invalid(file, [`${where}: passwordEnv: ${name} cannot be read`]))
      )
      if (Option.isNone(value)) return yield* invalid(file, [`${where}: passwordEnv: ${name} is not set`])
      return Redacted.value(value.value)
    }
    const fs = yield* FileSystem.FileSystem
    const path = resolve(account.passwordFile ?? "")
    const unreadable = (reason: string) => invalid(file, [`${where}: passwordFile: ${path} ${reason}`])
    const info = yield* Effect.mapError(fs.stat(path), () => unreadable("cannot be read"))
    if ((info.mode & 0o077) !== 0) return yield* unreadable("is readable by other users: chmod 600 it")
    const text = yield* Effect.mapError(fs.readFileString(path), () => unreadable("cannot be read"))
    const password = text.replace(/\r?\n$/, "")
    return password === "" ? yield* unreadable("is empty") : password
  })

/**
 * The accounts of `PROTON_LUMO_ACCOUNTS`, each with its settings; None when it is not set (one
 * mailbox, from the settings alone). Relative paths in the file (caFile, passwordFile, configDir,
 * a PROTON_LUMO_DATA setting) are relative to the file's folder; an account's data folder is
 * `<PROTON_LUMO_DATA>/accounts/<name>` unless its settings name another.
 */
export const loadAccounts: Effect.Effect<
  Option.Option<NonEmptyReadonlyArray<Account>>,
  SettingsError,
  FileSystem.FileSystem | Path.Path
> = Effect.gen(function*() {
  const file = yield* Config.option(Config.String(VARIABLE)).pipe(
    Effect.mapError((error) => new SettingsError({ variable: VARIABLE, reason: error.message }))
  )
  if (Option.isNone(file)) return Option.none()
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const text = yield* Effect.mapError(fs.readFileString(file.value), (error) => invalid(file.value, [`cannot be read (${error.message})`]))
  const entries = yield* decode(file.value, text)
  const resolve = (relative: string) => path.resolve(path.dirname(file.value), relative)
  const global = yield* ConfigProvider.ConfigProvider
  const { dataDir } = yield* loadPathSettings
  const [first, ...rest] = yield* Effect.forEach(entries.accounts, (entry) =>
    Effect.gen(function*() {
      const ownData = entry.settings?.["PROTON_LUMO_DATA"]
      const accountDataDir = ownData === undefined ? path.resolve(dataDir, "accounts", entry.name) : resolve(ownData)
      const own = accountOverrides({
        ...entry,
        ...(entry.caFile === undefined ? {} : { caFile: resolve(entry.caFile) }),
        ...(entry.configDir === undefined ? {} : { configDir: resolve(entry.configDir) })
      }, accountDataDir)
      const password = yield* passwordOf(entry, resolve, file.value)
      const settings = ConfigProvider.orElse(ConfigProvider.fromEnv({ env: { ...own, PROTON_PASSWORD: password } }), global)
      const account: Account = { name: entry.name, settings, dataDir: accountDataDir, sharedDir: path.resolve(dataDir, "shared") }
      return { account, mailbox: mailboxOf(own) }
    }))
  if (first === undefined) return Option.none()
  const read = [first, ...rest]
  const accounts: NonEmptyReadonlyArray<Account> = [first.account, ...rest.map(({ account }) => account)]
  const shared = accounts.filter((account, index) => accounts.findIndex((other) => other.dataDir === account.dataDir) !== index)
  // Two sorters of one mailbox would each move, journal and count the same mail.
  const twice = read.filter(({ mailbox }, index) => read.findIndex((other) => other.mailbox === mailbox) !== index)
  const problems = [
    ...shared.map((account) => `account "${account.name}": its data folder ${account.dataDir} is another account's`),
    ...twice.map(({ account, mailbox }) => `account "${account.name}": ${mailbox} is another account's mailbox`)
  ]
  if (problems.length > 0) return yield* invalid(file.value, problems)
  return Option.some(accounts)
})

/**
 * Runs `effect` as `account`'s: with its settings, its name on every log line (`account`), on
 * every metric (the `account` label) and on what Health records.
 */
export const forAccount = (account: Account) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.provideService(ConfigProvider.ConfigProvider, account.settings),
    Effect.provideService(CurrentAccount, account.name),
    Effect.provideService(Metric.CurrentMetricAttributes, { account: account.name }),
    Effect.annotateLogs("account", account.name)
  )

/**
 * The account a command (history, undo, status, evaluate) is about: None without an accounts
 * file (the plain settings' mailbox); with one, `--account NAME`, which may be left out when the
 * file holds one account only.
 */
export const chooseAccount = (name: string | undefined) =>
  (accounts: Option.Option<NonEmptyReadonlyArray<Account>>): Effect.Effect<Option.Option<Account>, SettingsError> => {
    if (Option.isNone(accounts)) {
      return name === undefined
        ? Effect.succeed(Option.none<Account>())
        : Effect.fail(new SettingsError({ variable: VARIABLE, reason: `is not set, so there is no account "${name}"` }))
    }
    const names = accounts.value.map((account) => account.name).join(", ")
    const [only, ...others] = accounts.value
    if (name === undefined) {
      return others.length === 0
        ? Effect.succeed(Option.some(only))
        : Effect.fail(new SettingsError({ variable: VARIABLE, reason: `holds several accounts: say which with --account (${names})` }))
    }
    const chosen = accounts.value.find((account) => account.name === name)
    return chosen === undefined
      ? Effect.fail(new SettingsError({ variable: VARIABLE, reason: `has no account "${name}" (it has ${names})` }))
      : Effect.succeed(Option.some(chosen))
  }
