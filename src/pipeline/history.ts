/**
 * The journal as `history` prints it: one line per move, oldest first. Message-IDs and reasons
 * come from mail (and folder names from the server): escaped, so none can drive the terminal.
 */
import { escapeControls } from "../domain/Terminal.ts"
import type { JournalEntry } from "../services/Journal.ts"

const time = (at: number): string => new Date(at).toISOString().replace("T", " ").slice(0, 19)

export const formatHistory = (entries: ReadonlyArray<JournalEntry>): string =>
  entries.length === 0
    ? "The journal is empty: nothing has been moved yet."
    : entries.map((entry) =>
      [
        time(entry.at),
        entry.action === "label" ? "label" : "move ",
        `${entry.source} → ${entry.target}`,
        `${entry.category} ${entry.confidence.toFixed(2)} ${entry.classifier}`,
        entry.state + (entry.note === undefined ? "" : ` (${entry.note})`),
        entry.messageId ?? "(no Message-ID)",
        entry.reason === "" ? "" : `"${entry.reason}"`,
        `run ${entry.runId}`
      ].map(escapeControls).join("  ")
    ).join("\n")
