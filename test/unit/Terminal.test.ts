/** Text from mail or servers reaches a terminal only with its control characters escaped. */
import { describe, expect, it } from "vitest"
import { escapeControls, escapeControlsKeepingLines, escapeJsonControls } from "../../src/domain/Terminal.ts"

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

  it("characters that hide text (zero-width space, Unicode tags) and lone halves of an emoji are shown", () => {
    expect(escapeControls("a\u200bb\u{e0049}c\ud83d")).toBe("a\\u200bb\\u{e0049}c\\ud83d")
    // Invisible too: soft hyphen, Hangul filler, Mongolian vowel separator, a deprecated format control, an annotation mark.
    expect(escapeControls("p\u00ada\u3164y\u180e\u206a\ufff9")).toBe("p\\xada\\u3164y\\u180e\\u206a\\ufff9")
    // The joiners stay: an emoji family is one picture.
    expect(escapeControls("👩\u200d👧")).toBe("👩\u200d👧")
  })

  it("JSON keeps its meaning, with C1 controls, overrides and Unicode tags written as \\u escapes", () => {
    const value = { folder: "C1\u009bX \u202eevil \u{e0049} é 😀" }
    const json = escapeJsonControls(JSON.stringify(value))
    expect(json).toBe(`{"folder":"C1\\u009bX \\u202eevil \\udb40\\udc49 é 😀"}`)
    expect(JSON.parse(json)).toEqual(value)
  })

  it("ordinary text, accents and emoji are left alone; our own line breaks can be kept", () => {
    expect(escapeControls("Réservation hôtel — 📊 ok 👨‍👩‍👧")).toBe("Réservation hôtel — 📊 ok 👨‍👩‍👧")
    expect(escapeControlsKeepingLines("metrics\n   moved: 3\u001b[0m")).toBe("metrics\n   moved: 3\\x1b[0m")
  })
})
