/** Runs the CLI (`node src/main.ts`) as a user would, and collects what it printed. */
import { execFile, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { ImapInstance } from "./imap.ts"

export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const root = new URL("../..", import.meta.url).pathname

/** Runs the CLI with exactly this environment (nothing inherited but PATH and HOME; see `isolated`). */
/**
 * In the project's own folder, the developer's `.env` (their mailbox) is not read: an empty env
 * file stands in. A test run in a folder of its own reads the `.env` it put there.
 */
const isolated = (cwd: string): Record<string, string> => (cwd === root ? { PROTON_LUMO_ENV_FILE: "/dev/null" } : {})

export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}, cwd = root) =>
  Effect.callback<CliRun>((resume) => {
    execFile(
      process.execPath,
      [`${root}src/main.ts`, ...args],
      { cwd, env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...isolated(cwd), ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
  })

export interface RunningCli {
  /** Everything printed so far (stdout and stderr interleaved). */
  readonly output: () => string
  /** Waits until the output matches `pattern`, or satisfies a predicate. */
  readonly waitFor: (pattern: RegExp | ((output: string) => boolean), timeoutMillis?: number) => Promise<void>
  /** Sends `signal` and resolves with the exit code. */
  readonly stop: (signal: NodeJS.Signals) => Promise<number | null>
  /** Sends `signal` and returns at once (SIGHUP, say). */
  readonly signal: (signal: NodeJS.Signals) => void
}

/** How many times `pattern` occurs in `text`. */
export const occurrences = (text: string, pattern: RegExp): number =>
  text.match(new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`))?.length ?? 0

/** Starts the CLI as a long-running process (service mode). */
export const startCli = (args: ReadonlyArray<string>, env: Record<string, string>): RunningCli => {
  const child = spawn(process.execPath, [`${root}src/main.ts`, ...args], {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...isolated(root), ...env }
  })
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  // "close", not "exit": only then has everything the process printed been read.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return {
    output: () => output,
    waitFor: (pattern, timeoutMillis = 20_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now()
        const check = () => {
          if (typeof pattern === "function" ? pattern(output) : pattern.test(output)) return resolve()
          if (child.exitCode !== null) return reject(new Error(`exited (${child.exitCode}) before ${pattern}:\n${output}`))
          if (Date.now() - started > timeoutMillis) return reject(new Error(`no ${pattern} within ${timeoutMillis} ms:\n${output}`))
          setTimeout(check, 50)
        }
        check()
      }),
    stop: (signal) => {
      child.kill(signal)
      return exited
    },
    signal: (signal) => {
      child.kill(signal)
    }
  }
}

/** The environment for the CLI against `instance` as `user`: STARTTLS, its certificate pinned, a fresh data folder. */
export const cliEnv = (instance: ImapInstance, user: string, extra: Record<string, string> = {}) => ({
  PROTON_BRIDGE_HOST: instance.host,
  PROTON_BRIDGE_PORT: String(instance.port),
  PROTON_USERNAME: user,
  PROTON_PASSWORD: instance.password,
  PROTON_LUMO_IMAP_CA_FILE: instance.caFile,
  PROTON_LUMO_DATA: mkdtempSync(join(tmpdir(), "plai-cli-")),
  ...extra
})
