/**
 * Where settings come from: the environment first, then a `.env` file in the working directory.
 * Read anew each time it is asked for, so a service reloading on SIGHUP sees an edited `.env`.
 */
import { ConfigProvider, Effect, FileSystem, Layer } from "effect"
import { unknownSettings } from "../services/Settings.ts"

const DOT_ENV = ".env"

/** The names a `.env` text assigns (`NAME=…` or `export NAME=…`). */
export const dotEnvNames = (text: string): ReadonlyArray<string> =>
  text.split(/\r?\n/).flatMap((line) => /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1] ?? [])

/** The environment first, then `.env`; with what to warn about: a `.env` others can read, unknown settings. */
const sources = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const env = ConfigProvider.fromEnv()
  const hasDotEnv = yield* fs.exists(DOT_ENV)
  const dotEnvText = hasDotEnv ? yield* fs.readFileString(DOT_ENV) : ""
  const warnings = unknownSettings([...Object.keys(process.env), ...dotEnvNames(dotEnvText)]).map(({ name, closest }) =>
    `${name} is not a setting ProtonLumoAI knows, and is ignored: did you mean ${closest}?`
  )
  if (!hasDotEnv) return { provider: env, warnings }
  const info = yield* fs.stat(DOT_ENV)
  if ((info.mode & 0o077) !== 0) {
    warnings.push(".env is readable by other users; it may hold your password: chmod 600 .env")
  }
  return { provider: ConfigProvider.orElse(env, yield* ConfigProvider.fromDotEnv({ path: DOT_ENV })), warnings }
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
