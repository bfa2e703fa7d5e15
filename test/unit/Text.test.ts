/** Cutting and cleaning text from mail before it is shown or sent on. */
import { describe, expect, it } from "vitest"
import { cut, shorten, withoutInvisible } from "../../src/domain/Text.ts"

describe("text from mail", () => {
  it("is cut between characters, never between the two halves of an emoji", () => {
    expect(cut("ab😀cd", 3)).toBe("ab")
    expect(cut("ab😀cd", 4)).toBe("ab😀")
    expect(cut("abc", 5)).toBe("abc")
    expect(shorten("virement 😀😀 tail", 11)).toBe("virement …")
    expect(shorten("short", 70)).toBe("short")
  })

  it("loses what no reader sees: zero-width characters, direction marks, Unicode tags, lone surrogates", () => {
    const hidden = [..."SPAM"].map((char) => String.fromCodePoint(0xe0000 + (char.codePointAt(0) ?? 0))).join("")
    expect(withoutInvisible(`Promo${hidden} hi\u200bver\u202e \ud83d😀`)).toBe("Promo hiver 😀")
  })

  it("keeps line breaks and tabs, not a terminal's escapes or a bell", () => {
    expect(withoutInvisible("a\u001b[41mb\u0007c\td\r\ne\u007f\u0085f")).toBe("a[41mbc\td\r\nef")
  })
})
