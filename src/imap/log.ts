/**
 * imapflow's log, as our DEBUG and TRACE lines: at DEBUG every command sent (imapflow masks the
 * password), at TRACE also the server's status and list answers. FETCH answers, which carry
 * message text, are never logged; neither are raw socket bytes.
 */
import { Effect, type LogLevel } from "effect"
import type { Logger as ImapLogger } from "imapflow"

const field = (entry: unknown, name: string): unknown =>
  typeof entry === "object" && entry !== null && name in entry ? Reflect.get(entry, name) : undefined

const ignore = () => undefined

/**
 * An imapflow logger that hands lines to `emit`, or `false` (imapflow builds no log line at all)
 * when the level in force would show none of them.
 */
export const imapLogger = (
  minimumLevel: LogLevel.LogLevel,
  emit: (effect: Effect.Effect<void>) => void
): ImapLogger | false => {
  const debug = minimumLevel === "Debug" || minimumLevel === "Trace" || minimumLevel === "All"
  if (!debug) return false
  return {
    debug: (entry: unknown) => {
      const message = field(entry, "msg")
      if (typeof message !== "string") return
      const source = field(entry, "src")
      if (source === "c") emit(Effect.logDebug(`IMAP > ${message}`))
      else if (source === "s") emit(Effect.logTrace(`IMAP < ${message}`))
    },
    // No trace: imapflow logs FETCH answers and raw bytes (message text) there, and builds no
    // such line for a logger without it. Warnings and errors reach us as failed commands.
    info: ignore,
    warn: ignore,
    error: ignore,
    fatal: ignore
  }
}
