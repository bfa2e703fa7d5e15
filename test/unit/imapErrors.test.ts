/** What an IMAP error may say: never the password, in whatever form a server echoes it; and why connecting failed. */
import { createServer } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { ImapFlow } from "imapflow"
import { connectReason, imapErrorInfo } from "../../src/imap/errors.ts"

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

/** A server on 127.0.0.1 that writes `line` to whoever connects, then closes; what connecting to it fails with. */
const connectFailure = (line: string) =>
  new Promise<{ readonly error: unknown; readonly port: number }>((resolve) => {
    const server = createServer((socket) => socket.end(line))
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const client = new ImapFlow({ host: "127.0.0.1", port, secure: false, logger: false, auth: { user: "u", pass: "p" } })
      client.on("error", () => undefined)
      client.connect().then(
        () => resolve({ error: undefined, port }),
        (error: unknown) => resolve({ error, port })
      ).finally(() => server.close())
    })
  })

describe("why connecting failed, in the user's words", () => {
  it("a port that answers, then closes, without an IMAP greeting: asked whether it is the IMAP port", async () => {
    const { error, port } = await connectFailure("HTTP/1.1 400 Bad Request\r\n\r\n")
    assert.isDefined(error)
    const reason = connectReason(imapErrorInfo(error, Redacted.make("p")), { tls: "starttls", port })
    assert.strictEqual(reason, `the server on port ${port} closed the connection without an IMAP greeting: is it the IMAP port (Bridge shows IMAP 1143 beside SMTP 1025)?`)
  })

  it("a server that greets with BYE: what it said", async () => {
    const { error, port } = await connectFailure("* BYE Too many connections\r\n")
    assert.isDefined(error)
    const reason = connectReason(imapErrorInfo(error, Redacted.make("p")), { tls: "starttls", port })
    assert.strictEqual(reason, "the server closed the connection as it greeted: Too many connections")
  })
})
