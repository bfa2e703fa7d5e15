/** Runs the CLI (`node src/main.ts`) as a user would, and collects what it printed. */
import { execFile } from "node:child_process"
import { Effect } from "effect"

export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const root = new URL("../..", import.meta.url).pathname

/** Runs the CLI with exactly this environment (nothing inherited but PATH and HOME). */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}, cwd = root) =>
  Effect.callback<CliRun>((resume) => {
    execFile(
      process.execPath,
      [`${root}src/main.ts`, ...args],
      { cwd, env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
  })
