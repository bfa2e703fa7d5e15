/**
 * Where settings come from: the environment first, then an env file: `.env` in the working
 * directory, or the file PROTON_LUMO_ENV_FILE names (a systemd unit's, which then, unlike
 * systemd's own EnvironmentFile=, is read again on SIGHUP). Read anew each time it is asked for,
 * so a service reloading on SIGHUP sees an edited file.
 */
import { ConfigProvider, Effect, FileSystem, Layer } from "effect"
import { SettingsError, shadowedAliases, unknownSettings } from "../services/Settings.ts"

const DOT_ENV = ".env"
const ENV_FILE = "PROTON_LUMO_ENV_FILE"

/** `NAME=value`, `export NAME=value`, or `NAME: value`: what Effect's .env reader takes. */
const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(?:\s*=|:\s)\s*(.*)$/

/** The names a `.env` text assigns (`NAME=…`, `export NAME=…` or `NAME: …`). */
export const dotEnvNames = (text: string): ReadonlyArray<string> =>
  text.split(/\r?\n/).flatMap((line) => ASSIGNMENT.exec(line)?.[1] ?? [])

/** The names a `.env` text gives a value (not `NAME=`, `NAME=""` or `NAME=''`). */
const dotEnvValued = (text: string): ReadonlyArray<string> =>
  text.split(/\r?\n/).flatMap((line) => {
    const assignment = ASSIGNMENT.exec(line)
    const value = (assignment?.[2] ?? "").trim()
    return assignment?.[1] === undefined || value === "" || value === '""' || value === "''" ? [] : [assignment[1]]
  })

/** Both names of a setting given a value, in the environment or the env file: say which one counts. */
const aliasWarnings = (text: string): ReadonlyArray<string> =>
  shadowedAliases([...Object.keys(process.env).filter((name) => process.env[name] !== ""), ...dotEnvValued(text)]).map(
    ({ used, ignored }) => `${used} and ${ignored} are both set: ${used} is used, ${ignored} is ignored`
  )

/**
 * Lines of a `.env` text that do not say what they seem to: not `NAME=value` (ignored: a missing
 * setting would be all the error said), or a value whose opening quote is not closed (taken with
 * the quote, as part of a password say). Named by line and setting, never with the value.
 */
export const dotEnvProblems = (text: string): ReadonlyArray<string> =>
  text.split(/\r?\n/).flatMap((line, index) => {
    if (line.trim() === "" || line.trimStart().startsWith("#")) return []
    const assignment = ASSIGNMENT.exec(line)
    if (assignment === null) return [`line ${index + 1} is not NAME=value, and is ignored`]
    const value = (assignment[2] ?? "").trim()
    const quote = value[0]
    const name = assignment[1] ?? ""
    if (quote !== "'" && quote !== '"') {
      // Unquoted, a # starts a comment wherever it is: `pa#ss` is read as `pa`. One right after
      // other text is most likely part of the value (a password); ` # note` is a comment.
      return /\S#/.test(value)
        ? [`line ${index + 1} (${name}): the value is cut at its "#" (the rest is read as a comment): put the whole value in single quotes`]
        : []
    }
    const closed = value.length > 1 && value.indexOf(quote, 1) !== -1
    return closed ? [] : [`line ${index + 1} (${name}): the value's opening quote is never closed`]
  })

/** The environment first, then `.env`; with what to warn about: a `.env` others can read, unknown settings. */
const sources = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const env = ConfigProvider.fromEnv()
  const named = process.env[ENV_FILE]
  const path = named === undefined || named === "" ? DOT_ENV : named
  const hasFile = yield* fs.exists(path)
  if (!hasFile && path !== DOT_ENV) {
    return yield* new SettingsError({ variable: ENV_FILE, reason: `names ${path}, which does not exist` })
  }
  const text = hasFile
    ? yield* fs.readFileString(path).pipe(Effect.mapError((error) =>
      new SettingsError({
        variable: ENV_FILE,
        reason: error.reason._tag === "PermissionDenied"
          ? `${path} cannot be read (permission denied): it must belong to the user that runs ProtonLumoAI, with mode 600`
          : `${path} cannot be read: ${error.message}`
      })
    ))
    : ""
  const warnings = unknownSettings([...Object.keys(process.env), ...dotEnvNames(text)]).map(({ name, closest }) =>
    `${name} is not a setting ProtonLumoAI knows, and is ignored: did you mean ${closest}?`
  )
  warnings.push(...aliasWarnings(text))
  if (!hasFile) return { provider: env, warnings }
  warnings.push(...dotEnvProblems(text).map((problem) => `${path}, ${problem}`))
  // `NAME=` in the environment wins over .env (see besideEnvironment): said, or a password plainly
  // in .env would only be reported missing.
  warnings.push(...dotEnvValued(text).filter((name) => process.env[name] === "").map((name) =>
    `${name} is set to nothing in the environment, which wins over its value in ${path}: unset it to use that one`
  ))
  const info = yield* fs.stat(path)
  // A file, not a device such as /dev/null (no settings at all).
  if (info.type === "File" && (info.mode & 0o077) !== 0) {
    warnings.push(`${path} is readable by other users; it may hold your password: chmod 600 ${path}`)
  }
  return { provider: ConfigProvider.orElse(env, besideEnvironment(yield* ConfigProvider.fromDotEnv({ path }))), warnings }
})

/**
 * `.env`'s values but for the names the environment sets, even to nothing: those are the
 * environment's, as with dotenv and docker (`NAME= node dist/main.js` runs with NAME's default,
 * whatever .env says, not silently with .env's value).
 */
const besideEnvironment = (dotEnv: ConfigProvider.ConfigProvider): ConfigProvider.ConfigProvider =>
  ConfigProvider.make((path) => {
    const [name] = path
    return path.length === 1 && typeof name === "string" && process.env[name] !== undefined
      ? Effect.succeed(undefined)
      : dotEnv.load(path)
  })

/** Settings from the environment and `.env`, for whatever is provided with this layer. */
export const settingsSource = Layer.unwrap(
  Effect.flatMap(sources, ({ provider, warnings }) =>
    Effect.as(Effect.forEach(warnings, (warning) => Effect.logWarning(warning)), ConfigProvider.layer(provider)))
)

/**
 * The same settings without the warnings: for the log format, read before there is a logger to
 * write them in it (settingsSource gives them once the format is known).
 */
export const quietSettingsSource = Layer.unwrap(Effect.map(sources, ({ provider }) => ConfigProvider.layer(provider)))
