/**
 * The two log formats (PROTON_LUMO_LOG_FORMAT): one plain line per entry for people, the default,
 * or one JSON object per line for journald, Loki and the like. Both write warnings and errors to
 * one stream (stderr) and the rest to the other (stdout), and both show control characters from
 * mail or servers only as visible escapes: the JSON `message` is the text line's message.
 */
import { inspect } from "node:util"
import { Context, Logger, type LogLevel, References, Tracer } from "effect"
import { escapeControls, escapeControlsKeepingLines } from "../domain/Terminal.ts"
import type { LogFormat } from "../services/Settings.ts"

/** Where finished lines (newline included) go. */
export interface LogOutput {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
}

const write = (output: LogOutput, logLevel: LogLevel.LogLevel, line: string): void => {
  if (logLevel === "Error" || logLevel === "Warn" || logLevel === "Fatal") output.err(line)
  else output.out(line)
}

/** The message as the text line shows it: its parts joined, controls escaped (our own newlines kept). */
const messageText = (message: unknown): string => {
  const parts: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
  const text = parts.map((part) => (typeof part === "string" ? part : inspect(part, { depth: 4 }))).join(" ")
  return escapeControlsKeepingLines(text)
}

/** The account a line is about, with several (PROTON_LUMO_ACCOUNTS): `[alice] `; nothing otherwise. */
const accountPrefix = (annotations: Readonly<Record<string, unknown>>): string => {
  const account = annotations["account"]
  return typeof account === "string" ? `[${escapeControls(account)}] ` : ""
}

/** `2026-12-01T19:45:00.000Z INFO  message`: time, level, message (after the account's name, with several). */
export const textLogger = (output: LogOutput) =>
  Logger.make<unknown, void>(({ date, fiber, logLevel, message }) => {
    const prefix = accountPrefix(fiber.getRef(References.CurrentLogAnnotations))
    write(output, logLevel, `${date.toISOString()} ${logLevel.toUpperCase().padEnd(5)} ${prefix}${messageText(message)}\n`)
  })

/**
 * The annotations a JSON line carries as fields (the pipeline sets the last three on each
 * message's outcome; `account` is set with several accounts).
 */
const FIELDS = ["account", "folder", "uid", "category"] as const

/** Numbers as they are; strings (folder names come from the server) with their controls escaped. */
const fieldValue = (value: unknown): string | number | undefined =>
  typeof value === "number" ? value : typeof value === "string" ? escapeControls(value) : undefined

/**
 * The operation under way: the innermost `Effect.withLogSpan` label, else the name of the
 * current tracing span (`Effect.fn("sortFolder")` and the like).
 */
const spanName = (context: Context.Context<never>, logSpans: ReadonlyArray<readonly [string, number]>) => {
  const [innermost] = logSpans
  if (innermost !== undefined) return escapeControls(innermost[0])
  const span = Context.getOrUndefined(context, Tracer.ParentSpan)
  return span?._tag === "Span" ? escapeControls(span.name) : undefined
}

/**
 * `{"time":…,"level":"INFO","message":…,"account":…,"folder":…,"uid":…,"category":…,"span":…}`,
 * the last five only when known. JSON.stringify escapes every control character, so whatever a message holds,
 * it stays one line and cannot add fields.
 */
export const jsonLogger = (output: LogOutput) =>
  Logger.make<unknown, void>(({ date, fiber, logLevel, message }) => {
    const annotations = fiber.getRef(References.CurrentLogAnnotations)
    const entry: Record<string, string | number | undefined> = {
      time: date.toISOString(),
      level: logLevel.toUpperCase(),
      message: messageText(message)
    }
    for (const field of FIELDS) entry[field] = fieldValue(annotations[field])
    entry["span"] = spanName(fiber.context, fiber.getRef(References.CurrentLogSpans))
    write(output, logLevel, `${JSON.stringify(entry)}\n`)
  })

export const loggerFor = (format: LogFormat, output: LogOutput) =>
  format === "json" ? jsonLogger(output) : textLogger(output)
