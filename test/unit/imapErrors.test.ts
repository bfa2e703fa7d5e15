/** What an IMAP error may say: never the password, in whatever form a server echoes it. */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { imapErrorInfo } from "../../src/imap/errors.ts"

describe("IMAP error texts", () => {
  it("cut the password as it is, as the IMAP quoted string LOGIN sent, and in base64", () => {
    const password = Redacted.make('S3cret"PW\\x')
    const quoted = 'S3cret\\"PW\\\\x'
    const base64 = Buffer.from('S3cret"PW\\x').toString("base64")
    for (const echoed of [`bad "${quoted}"`, `bad S3cret"PW\\x`, `bad ${base64}`]) {
      const info = imapErrorInfo({ responseText: `${echoed} [AUTHENTICATIONFAILED]`, authenticationFailed: true }, password)
      assert.notInclude(info.text, "S3cret", echoed)
      assert.notInclude(info.text, base64, echoed)
      assert.include(info.text, "<redacted>")
      assert.include(info.text, "[AUTHENTICATIONFAILED]")
      assert.isTrue(info.authenticationFailed)
    }
  })
})
