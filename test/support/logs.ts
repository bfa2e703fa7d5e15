/** Log lines for assertions. */
import { Logger } from "effect"

/** Log lines at or above WARN, kept for assertions: provide `layer`, then read `lines`. */
export const captureWarnings = () => {
  const lines: Array<string> = []
  const layer = Logger.layer([
    Logger.make<unknown, void>(({ logLevel, message }) => {
      if (logLevel === "Warn" || logLevel === "Error") lines.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
  ])
  return { lines, layer }
}
