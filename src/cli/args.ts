/** The command line: which command, and its options. */
import { UsageError } from "../domain/Errors.ts"
import { wantsHelp } from "./help.ts"


export type CommandLine =
  | { readonly command: "help" }
  | { readonly command: "sort"; readonly once: boolean; readonly dryRun: boolean }
  | { readonly command: "demo"; readonly dryRun: boolean }
  | { readonly command: "history"; readonly limit: number }
  | { readonly command: "evaluate"; readonly html: string | undefined }
  | { readonly command: "status"; readonly json: boolean }
  | {
    readonly command: "undo"
    readonly dryRun: boolean
    readonly scope: { readonly lastRun: true } | { readonly since: number }
  }

const units: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `2h`, `30m`, `1d` ago, or an ISO date/time (local time when it has no zone). */
export const parseSince = (value: string, now: number): number | undefined => {
  const relative = /^(\d+)\s*([mhd])$/.exec(value.trim())
  if (relative !== null) return now - Number(relative[1]) * (units[relative[2] ?? "h"] ?? 0)
  const absolute = Date.parse(value)
  return Number.isNaN(absolute) ? undefined : absolute
}

const usage = (reason: string) => new UsageError({ reason: `${reason} (see --help)` })

/** Parses `args` (process.argv without node and the script). */
export const parseCommandLine = (args: ReadonlyArray<string>, now: number): CommandLine | UsageError => {
  if (wantsHelp(args)) return { command: "help" }
  const [first, ...rest] = args
  const command = first === "demo" || first === "history" || first === "undo" || first === "evaluate" || first === "status"
    ? first
    : "sort"
  const options = command === "sort" ? args : rest
  let once = false
  let dryRun = false
  let limit = 50
  let lastRun = false
  let since: number | undefined
  let html: string | undefined
  let json = false
  for (let index = 0; index < options.length; index++) {
    const option = options[index]
    const value = options[index + 1]
    if (option === "--once" && command === "sort") once = true
    else if (option === "--dry-run" && (command === "sort" || command === "demo" || command === "undo")) dryRun = true
    else if (option === "--json" && command === "status") json = true
    else if (option === "--last-run" && command === "undo") lastRun = true
    else if (option === "--limit" && command === "history") {
      limit = Number(value)
      if (!Number.isInteger(limit) || limit < 1) return usage("--limit needs a whole number of entries")
      index++
    } else if (option === "--since" && command === "undo") {
      since = value === undefined ? undefined : parseSince(value, now)
      if (since === undefined) return usage("--since needs a time such as 2026-11-24T09:00, 2h, 30m or 1d")
      index++
    } else if (option === "--html" && command === "evaluate") {
      if (value === undefined || value === "" || value.startsWith("--")) return usage("--html needs the file to write")
      html = value
      index++
    } else return usage(`unknown argument "${option}"`)
  }
  switch (command) {
    case "sort":
      return { command, once, dryRun }
    case "demo":
      return { command, dryRun }
    case "history":
      return { command, limit }
    case "evaluate":
      return { command, html }
    case "status":
      return { command, json }
    case "undo":
      if (lastRun === (since !== undefined)) return usage("undo needs exactly one of --last-run and --since")
      return { command, dryRun, scope: since === undefined ? { lastRun: true } : { since } }
  }
}
