/** `history`'s lines: what came from mail escaped and kept to a readable length. */
import { describe, expect, it } from "vitest"
import { formatHistory } from "../../src/pipeline/history.ts"
import type { JournalEntry } from "../../src/services/Journal.ts"

const entry = (messageId: string): JournalEntry => ({
  id: 1,
  at: Date.parse("2026-12-01T10:00:00Z"),
  runId: "run-1",
  messageId,
  fingerprint: "f1",
  source: "INBOX",
  sourceUid: 7,
  sourceUidValidity: 3n,
  target: "Folders/Banque",
  action: "move",
  category: "BANQUE",
  confidence: 0.95,
  classifier: "learned",
  reason: "learned from your folders",
  state: "done",
  note: undefined,
  placed: undefined
})

describe("history", () => {
  it("shows a hostile 998-character Message-ID cut short and escaped, and a real one whole", () => {
    const [hostile = ""] = formatHistory([entry(`<${"\u001b[2J".repeat(300)}@x>`)]).split("\n")
    expect(hostile).toContain(`<${"\\x1b[2J".repeat(29)}\\x1b[…`)
    expect(hostile.length).toBeLessThan(400)
    expect(formatHistory([entry("<abc.123@bank.example>")])).toContain("  <abc.123@bank.example>  ")
  })
})

describe("history's corrections", () => {
  const at = Date.parse("2026-12-01T11:00:00Z")
  it("says undo put back what undo put back, and the user what undo found back already; a move undone with --no-learn counts for nothing", () => {
    const undone = { ...entry("<a@x>"), id: 1, state: "undone" as const, note: "put back in INBOX" }
    const byHand = { ...entry("<b@x>"), id: 2 }
    const noLearn = { ...entry("<c@x>"), id: 3, state: "undone" as const, note: "put back in INBOX" }
    const kept = { ...entry("<d@x>"), id: 4 }
    const foundBack = { ...entry("<e@x>"), id: 5, state: "undone" as const, note: "found back in INBOX" }
    const text = formatHistory([undone, byHand, noLearn, kept, foundBack], [
      { journalId: 1, at, nowIn: "INBOX", kind: "moved back" },
      { journalId: 2, at, nowIn: "INBOX", kind: "moved back" },
      { journalId: 5, at, nowIn: "INBOX", kind: "moved back" }
    ]).split("\n")
    expect(text[0]).toMatch(/corrected 2026-12-01 11:00:00: undo put it back in INBOX$/)
    expect(text[1]).toMatch(/corrected 2026-12-01 11:00:00: you moved it back to INBOX$/)
    expect(text[4]).toMatch(/corrected 2026-12-01 11:00:00: you moved it back to INBOX$/)
    expect(text[5]).toBe("Corrections: you refiled or moved back 3 of these 4 moves (75.0%).")
  })

  it("says a label was taken off, by the user or by undo", () => {
    const label = { ...entry("<l@x>"), id: 1, action: "label" as const, target: "Labels/Shop" }
    const undone = { ...label, id: 2, state: "undone" as const, note: "put back in INBOX" }
    const text = formatHistory([label, undone], [
      { journalId: 1, at, nowIn: "INBOX", kind: "moved back" },
      { journalId: 2, at, nowIn: "INBOX", kind: "moved back" }
    ]).split("\n")
    expect(text[0]).toMatch(/corrected 2026-12-01 11:00:00: you took the label off$/)
    expect(text[1]).toMatch(/corrected 2026-12-01 11:00:00: undo took the label off$/)
  })
})
