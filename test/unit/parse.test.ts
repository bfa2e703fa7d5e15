import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { MAX_BODY_CHARS, parseMessage } from "../../src/pipeline/parse.ts"

const message = (raw: string | Buffer) => {
  const source = typeof raw === "string" ? Buffer.from(raw.replace(/\n/g, "\r\n"), "utf8") : raw
  return { uid: 7, flags: [], size: source.length, source }
}

const parse = (raw: string | Buffer) => Effect.result(parseMessage(message(raw)))

describe("parsing", () => {
  it.effect("reads sender, subject, Message-ID and text", () =>
    Effect.gen(function*() {
      const result = yield* parse(
        "From: Banque <noreply@banque.example>\nSubject: Relevé\nMessage-ID: <a1@banque.example>\n\nBonjour,\n\n  votre relevé.\n"
      )
      assert.deepStrictEqual(Result.getOrThrow(result), {
        uid: 7,
        messageId: "<a1@banque.example>",
        from: "\"Banque\" <noreply@banque.example>",
        subject: "Relevé",
        body: "Bonjour, votre relevé."
      })
    }))

  it.effect("decodes RFC 2047 subjects and ISO-8859-1 bodies", () =>
    Effect.gen(function*() {
      const head = "From: a@example.com\nSubject: =?ISO-8859-1?Q?R=E9servation_h=F4tel?=\n" +
        "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
      const raw = Buffer.concat([Buffer.from(head.replace(/\n/g, "\r\n")), Buffer.from("Votre réservation à l'hôtel", "latin1")])
      const email = Result.getOrThrow(yield* parse(raw))
      assert.strictEqual(email.subject, "Réservation hôtel")
      assert.strictEqual(email.body, "Votre réservation à l'hôtel")
    }))

  it.effect("turns HTML-only mail into text", () =>
    Effect.gen(function*() {
      const email = Result.getOrThrow(
        yield* parse("From: a@example.com\nSubject: Promo\nContent-Type: text/html\n\n<p>Code <b>promo</b></p><script>x</script>")
      )
      assert.include(email.body, "Code promo")
      assert.notInclude(email.body, "<b>")
    }))

  it.effect("a message cut off mid-attachment (partial fetch) still gives its text", () =>
    Effect.gen(function*() {
      const raw = "From: a@example.com\nSubject: Facture\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" +
        "Content-Type: text/plain\n\nVotre facture est jointe.\n--b\nContent-Type: application/pdf\n" +
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfs"
      const email = Result.getOrThrow(yield* parse(raw))
      assert.strictEqual(email.body, "Votre facture est jointe.")
    }))

  it.effect("bodies are cut to a bounded length", () =>
    Effect.gen(function*() {
      const email = Result.getOrThrow(yield* parse(`From: a@example.com\nSubject: Long\n\n${"mot ".repeat(5000)}`))
      assert.strictEqual(email.body.length, MAX_BODY_CHARS)
    }))

  it.effect("an empty message or one with nothing readable is a ParseError naming the UID", () =>
    Effect.gen(function*() {
      const empty = yield* parse("")
      assert.isTrue(Result.isFailure(empty))
      if (Result.isFailure(empty)) assert.strictEqual(empty.failure.uid, 7)
      assert.isTrue(Result.isFailure(yield* parse("\n\n")))
    }))

  it.effect("an unknown charset does not stop parsing", () =>
    Effect.gen(function*() {
      const email = Result.getOrThrow(
        yield* parse("From: a@example.com\nSubject: Hi\nContent-Type: text/plain; charset=x-unknown-9\n\nplain words")
      )
      assert.strictEqual(email.body, "plain words")
    }))
})
