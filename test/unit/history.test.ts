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
