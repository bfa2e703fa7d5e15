/** Log lines for assertions. */
import { Logger, type LogLevel } from "effect"

/** Log lines at these levels, kept for assertions: provide `layer`, then read `lines`. */
export const captureLogs = (levels: ReadonlyArray<LogLevel.LogLevel>) => {
  const lines: Array<string> = []
  const layer = Logger.layer([
    Logger.make<unknown, void>(({ logLevel, message }) => {
      if (levels.includes(logLevel)) lines.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
  ])
  return { lines, layer }
}

/** Log lines at or above WARN. */
export const captureWarnings = () => captureLogs(["Warn", "Error", "Fatal"])
