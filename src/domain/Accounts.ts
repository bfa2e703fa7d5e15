/**
 * The accounts file (`PROTON_LUMO_ACCOUNTS`): several mailboxes sorted by one service. Written
 * by people and by other tools, so it is checked field by field, and every error names the
 * account and the field. It never holds a password: `passwordEnv` names the variable that does,
 * or `passwordFile` a 0600 file.
 */
import { Schema, SchemaIssue } from "effect"

/** A name that is safe as a folder name (each account's data lives in `<data>/accounts/<name>`). */
const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const AccountName = Schema.String.check(
  Schema.isPattern(ACCOUNT_NAME, {
    expected: "a name of letters, digits, '.', '_' or '-' (at most 64, not starting with '.', '_' or '-')"
  })
)
const NonEmpty = Schema.String.check(Schema.isNonEmpty({ expected: "a non-empty string" }))
const VariableName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { expected: "the name of an environment variable" })
)

export const AccountEntry = Schema.Struct({
  name: AccountName,
  host: Schema.optional(NonEmpty),
  port: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65_535 }))),
  tls: Schema.optional(Schema.Literals(["starttls", "tls"])),
  caFile: Schema.optional(NonEmpty),
  username: NonEmpty,
  passwordEnv: Schema.optional(VariableName),
  passwordFile: Schema.optional(NonEmpty),
  folders: Schema.optional(Schema.NonEmptyArray(NonEmpty)),
  configDir: Schema.optional(NonEmpty),
  settings: Schema.optional(Schema.Record(Schema.String, Schema.String))
})
export type AccountEntry = typeof AccountEntry.Type

export const AccountsFile = Schema.Struct({ accounts: Schema.NonEmptyArray(AccountEntry) })
export type AccountsFile = typeof AccountsFile.Type

/**
 * Settings an account's `settings` may not hold: what has its own field (host, port, login,
 * folders…), and what the whole process shares (its logs, its HTTP endpoints, the LLM endpoint,
 * rate limit and daily budget, which all accounts spend together).
 */
const NOT_PER_ACCOUNT: Readonly<Record<string, string>> = {
  PROTON_BRIDGE_HOST: "use the account's \"host\"",
  PROTON_LUMO_IMAP_HOST: "use the account's \"host\"",
  PROTON_BRIDGE_PORT: "use the account's \"port\"",
  PROTON_LUMO_IMAP_PORT: "use the account's \"port\"",
  PROTON_LUMO_IMAP_TLS: "use the account's \"tls\"",
  PROTON_LUMO_IMAP_CA_FILE: "use the account's \"caFile\"",
  PROTON_USERNAME: "use the account's \"username\"",
  PROTON_LUMO_IMAP_USER: "use the account's \"username\"",
  PROTON_PASSWORD: "use \"passwordEnv\" or \"passwordFile\": a password is never written in this file",
  PROTON_LUMO_IMAP_PASSWORD: "use \"passwordEnv\" or \"passwordFile\": a password is never written in this file",
  PROTON_LUMO_FOLDERS: "use the account's \"folders\"",
  PROTON_LUMO_CONFIG: "use the account's \"configDir\"",
  PROTON_LUMO_ACCOUNTS: "it names this file",
  PROTON_LUMO_METRICS_PORT: "the whole service shares one",
  PROTON_LUMO_METRICS_HOST: "the whole service shares one",
  PROTON_LUMO_LOG_LEVEL: "the whole service shares one",
  PROTON_LUMO_LOG_FORMAT: "the whole service shares one",
  PROTON_LUMO_PROGRESS_INTERVAL: "the whole service shares one",
  OTEL_EXPORTER_OTLP_ENDPOINT: "the whole service shares one",
  PROTON_LUMO_LLM_BASE_URL: "all accounts share the LLM",
  PROTON_LUMO_LLM_MODEL: "all accounts share the LLM",
  PROTON_LUMO_LLM_API_KEY: "all accounts share the LLM",
  PERPLEXITY_API_KEY: "all accounts share the LLM",
  PROTON_LUMO_LLM_TIMEOUT: "all accounts share the LLM",
  PROTON_LUMO_LLM_JSON_MODE: "all accounts share the LLM",
  PROTON_LUMO_LLM_MAX_RETRIES: "all accounts share the LLM",
  PROTON_LUMO_LLM_MAX_RPM: "all accounts share one rate limit",
  PROTON_LUMO_LLM_COST_PER_1K_TOKENS: "all accounts share the LLM",
  PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET: "all accounts share one daily budget"
}

/** 1st, 2nd, 3rd, 4th … 11th, 12th, 13th … 21st for the account at `index`. */
const ordinal = (index: number): string => {
  const n = index + 1
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th"
  return `${n}${suffix}`
}

/** How an account is named in an error: by its name when it has a usable one, else by its place. */
const accountLabel = (input: unknown, index: number): string => {
  const entry = Array.isArray(input) ? input[index] : undefined
  const name = typeof entry === "object" && entry !== null && "name" in entry ? entry.name : undefined
  return typeof name === "string" && ACCOUNT_NAME.test(name)
    ? `account "${name}"`
    : `the ${ordinal(index)} account`
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** Each problem of a file that does not decode, as "account "bob": port: Expected …". */
export const describeIssues = (issue: SchemaIssue.Issue, input: unknown): ReadonlyArray<string> => {
  const accounts = typeof input === "object" && input !== null && "accounts" in input ? input.accounts : undefined
  return formatIssues(issue).issues.map(({ message, path = [] }) => {
    const [top, index, ...field] = path.map(String)
    if (top !== "accounts" || index === undefined) return path.length === 0 ? message : `${path.join(".")}: ${message}`
    if (Array.isArray(accounts) && Number(index) >= accounts.length) return "accounts: lists no account"
    const where = accountLabel(accounts, Number(index))
    return field.length === 0 ? `${where}: ${message}` : `${where}: ${field.join(".")}: ${message}`
  })
}

/** What the schema cannot say: one password source, unique names, settings an account may hold. */
export const accountProblems = (
  file: AccountsFile,
  knownSettings: ReadonlySet<string>
): ReadonlyArray<string> => {
  const seen = new Set<string>()
  return file.accounts.flatMap((account) => {
    const where = `account "${account.name}"`
    const problems: Array<string> = []
    if (seen.has(account.name)) problems.push(`${where}: name: another account has this name`)
    seen.add(account.name)
    if ((account.passwordEnv === undefined) === (account.passwordFile === undefined)) {
      problems.push(`${where}: needs exactly one of "passwordEnv" and "passwordFile"`)
    }
    for (const name of Object.keys(account.settings ?? {})) {
      const reason = NOT_PER_ACCOUNT[name]
      if (!knownSettings.has(name)) problems.push(`${where}: settings.${name}: not a setting ProtonLumoAI knows`)
      else if (reason !== undefined) problems.push(`${where}: settings.${name}: cannot be set per account (${reason})`)
    }
    return problems
  })
}

/** The settings an account runs with on top of the global ones, its data in `dataDir` (the password is added apart). */
export const accountOverrides = (account: AccountEntry, dataDir: string): Record<string, string> => ({
  ...account.settings,
  ...(account.host === undefined ? {} : { PROTON_BRIDGE_HOST: account.host }),
  ...(account.port === undefined ? {} : { PROTON_BRIDGE_PORT: String(account.port) }),
  ...(account.tls === undefined ? {} : { PROTON_LUMO_IMAP_TLS: account.tls }),
  ...(account.caFile === undefined ? {} : { PROTON_LUMO_IMAP_CA_FILE: account.caFile }),
  ...(account.folders === undefined ? {} : { PROTON_LUMO_FOLDERS: account.folders.join(",") }),
  ...(account.configDir === undefined ? {} : { PROTON_LUMO_CONFIG: account.configDir }),
  PROTON_USERNAME: account.username,
  PROTON_LUMO_DATA: dataDir
})
