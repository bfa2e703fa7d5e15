/** Text from mail or servers reaches a terminal only with its control characters escaped. */
import { describe, expect, it } from "vitest"
import { escapeControls, escapeControlsKeepingLines } from "../../src/domain/Terminal.ts"

describe("escaping what came from mail", () => {
  it("OSC 52 (clipboard), OSC 0 (title), CSI and C1 controls become visible escapes", () => {
    const hostile = "<\u001b]52;c;aGVsbG8=\u0007@evil>\u001b]0;pwned\u0007\u001b[2J\u009b31m"
    const shown = escapeControls(hostile)
    expect(shown).toBe("<\\x1b]52;c;aGVsbG8=\\x07@evil>\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m")
    // oxlint-disable-next-line no-control-regex -- finding control characters is the point
    expect(shown).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
  })

  it("newlines cannot forge a log line, and direction overrides cannot reverse text", () => {
    expect(escapeControls("Invoice\r\n2026-01-01 INFO moved")).toBe("Invoice\\x0d\\x0a2026-01-01 INFO moved")
    expect(escapeControls("fdp.\u202Eexe")).toBe("fdp.\\u202eexe")
  })

  it("ordinary text, accents and emoji are left alone; our own line breaks can be kept", () => {
    expect(escapeControls("Réservation hôtel — 📊 ok")).toBe("Réservation hôtel — 📊 ok")
    expect(escapeControlsKeepingLines("metrics\n   moved: 3\u001b[0m")).toBe("metrics\n   moved: 3\\x1b[0m")
  })
})
