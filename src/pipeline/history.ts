/**
 * The journal as `history` prints it: one line per move, oldest first, with the user's corrections
 * of it (moved to another folder, or back), then how many of the listed moves were corrected.
 * Message-IDs and reasons come from mail (and folder names from the server): escaped, so none can
 * drive the terminal.
 */
import { escapeControls } from "../domain/Terminal.ts"
import { MESSAGE_ID_SHOWN, shorten } from "../domain/Text.ts"
import type { JournalEntry } from "../services/Journal.ts"
import type { Correction } from "../services/LearnedModel.ts"

const time = (at: number): string => new Date(at).toISOString().replace("T", " ").slice(0, 19)

/** Undo moved it back itself (it notes "found back" for what it found moved back already: by the user). */
const putBackByUndo = (entry: JournalEntry): boolean => entry.state === "undone" && entry.note?.startsWith("put back") === true

const correctionNote = (entry: JournalEntry, correction: Correction): string => {
  const who = putBackByUndo(entry) ? "undo" : "you"
  return correction.kind === "refiled"
    ? `corrected ${time(correction.at)}: you filed it in ${correction.nowIn}`
    : entry.action === "label"
    ? `corrected ${time(correction.at)}: ${who} took the label off`
    : who === "undo"
    ? `corrected ${time(correction.at)}: undo put it back in ${correction.nowIn}`
    : `corrected ${time(correction.at)}: you moved it back to ${correction.nowIn}`
}

const line = (entry: JournalEntry, correction: Correction | undefined): string =>
  [
    time(entry.at),
    entry.action === "label" ? "label" : "move ",
    `${entry.source} → ${entry.target}`,
    `${entry.category} ${entry.confidence.toFixed(2)} ${entry.classifier}`,
    entry.state + (entry.note === undefined ? "" : ` (${entry.note})`),
    entry.messageId === undefined ? "(no Message-ID)" : shorten(entry.messageId, MESSAGE_ID_SHOWN),
    entry.reason === "" ? "" : `"${entry.reason}"`,
    `run ${entry.runId}`,
    correction === undefined ? "" : correctionNote(entry, correction)
  ].filter((field) => field !== "").map(escapeControls).join("  ")

export const formatHistory = (entries: ReadonlyArray<JournalEntry>, corrections: ReadonlyArray<Correction> = []): string => {
  if (entries.length === 0) return "The journal is empty: nothing has been moved yet."
  const byEntry = new Map(corrections.map((correction) => [correction.journalId, correction]))
  // A move undone with --no-learn taught nothing and counts for nothing: as if it had never been.
  const moved = entries.filter((entry) => entry.state === "done" || (entry.state === "undone" && byEntry.has(entry.id)))
  const corrected = moved.filter((entry) => byEntry.has(entry.id)).length
  const rate = moved.length === 0 ? "" : ` (${((100 * corrected) / moved.length).toFixed(1)}%)`
  return [
    ...entries.map((entry) => line(entry, byEntry.get(entry.id))),
    `Corrections: you refiled or moved back ${corrected} of these ${moved.length} moves${rate}.`
  ].join("\n")
}
