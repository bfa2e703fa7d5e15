import { describe, expect, it } from "vitest"
import type { ParsedEmail } from "../../src/domain/Email.ts"
import { FINGERPRINT_BYTES, fingerprint } from "../../src/domain/Fingerprint.ts"
import { MAX_BODY_CHARS, MAX_PART_LINES, type ReadResult, readMessage, untilPartLine } from "../../src/mime/readMessage.ts"

const message = (raw: string | Buffer) => ({
  uid: 7,
  source: typeof raw === "string" ? Buffer.from(raw.replace(/\n/g, "\r\n"), "utf8") : raw
})

const read = (raw: string | Buffer): Promise<ReadResult> => readMessage(message(raw))

const email = async (raw: string | Buffer): Promise<ParsedEmail> => {
  const result = await read(raw)
  if (result._tag !== "Read") throw new Error(`unreadable: ${result.reason}`)
  return result.email
}

describe("reading a message", () => {
  it("reads sender, recipients, list headers, date, subject, Message-ID and text, whitespace collapsed, and fingerprints the source", async () => {
    const source = "From: Banque <NoReply@Banque.example>\nTo: Camille <camille@example.org>, equipe: a@x.example, B@y.example;\n" +
      "Cc: z@z.example\nList-Id: Relevés <releves.banque.example>\nList-Unsubscribe: <mailto:u@banque.example>\n" +
      "Date: Tue, 24 Nov 2026 09:00:00 +0100\nSubject: Relevé\nMessage-ID: <a1@banque.example>\n\nBonjour,\n\n  votre relevé.\n"
    expect(await email(source)).toEqual({
      uid: 7,
      messageId: "<a1@banque.example>",
      fingerprint: fingerprint(message(source).source),
      from: "Banque <NoReply@Banque.example>",
      fromAddress: "noreply@banque.example",
      fromName: "Banque",
      to: ["camille@example.org", "a@x.example", "b@y.example"],
      cc: ["z@z.example"],
      listId: "Relevés <releves.banque.example>",
      listUnsubscribe: true,
      date: Date.UTC(2026, 10, 24, 8),
      subject: "Relevé",
      body: "Bonjour, votre relevé."
    })
  })

  it("mail without recipients, list headers or a readable date reads as empty fields", async () => {
    const parsed = await email("From: a@example.com\nDate: not a date\nSubject: Hi\n\nbody\n")
    expect([parsed.to, parsed.cc, parsed.listId, parsed.listUnsubscribe, parsed.date, parsed.fromName])
      .toEqual([[], [], "", false, undefined, ""])
    expect(parsed.from).toBe("a@example.com")
  })

  it("a Message-ID is kept to 998 characters however long the header is", async () => {
    const long = `<${"x".repeat(100_000)}@evil.example>`
    const parsed = await email(`From: a@example.com\nMessage-ID: ${long}\nSubject: Hi\n\nbody\n`)
    expect(parsed.messageId).toBe(long.slice(0, 998))
  })

  it("a reused Message-ID does not make another message look the same: the fingerprint covers the content", async () => {
    const bank = await email("From: bank@example.com\nMessage-ID: <x@bank.example>\nSubject: Statement\n\nYour statement.\n")
    const copy = await email("From: bank@example.com\nMessage-ID: <x@bank.example>\nSubject: Statement\n\nYour statement.\n")
    const forged = await email("From: phish@example.com\nMessage-ID: <x@bank.example>\nSubject: Statement\n\nLog in here.\n")
    expect(bank.fingerprint).toEqual(copy.fingerprint)
    expect(forged.fingerprint).not.toEqual(bank.fingerprint)
    // Only the first FINGERPRINT_BYTES count: the same with other attachments' tails is the same message.
    const head = "From: a@example.com\nSubject: Big\n\n" + "x".repeat(FINGERPRINT_BYTES)
    expect((await email(head + "tail one")).fingerprint).toEqual((await email(head + "tail two")).fingerprint)
  })

  it("every kind and length of whitespace run becomes one space; single spaces stay", async () => {
    const spaced = await email("From: a@example.com\nSubject:  Two  spaces\tand tab\n\n a b \t\u00a0c\n\n\u2028d\u3000 e \n")
    expect([spaced.subject, spaced.body]).toEqual(["Two spaces and tab", "a b c d e"])
  })

  it("decodes RFC 2047 subjects and ISO-8859-1 bodies", async () => {
    const head = "From: a@example.com\nSubject: =?ISO-8859-1?Q?R=E9servation_h=F4tel?=\n" +
      "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
    const raw = Buffer.concat([Buffer.from(head.replace(/\n/g, "\r\n")), Buffer.from("Votre réservation à l'hôtel", "latin1")])
    const decoded = await email(raw)
    expect(decoded.subject).toBe("Réservation hôtel")
    expect(decoded.body).toBe("Votre réservation à l'hôtel")
  })

  it("turns HTML-only mail into text: no tags, scripts or styles, entities decoded", async () => {
    const html = await email(
      "From: a@example.com\nSubject: Promo\nContent-Type: text/html\n\n" +
        "<style>p{color:red}</style><p>Code <b>promo</b> &eacute;t&eacute;</p><script>x()</script>"
    )
    expect(html.body).toBe("Code promo été")
  })

  it("HTML cut off inside a tag or a script keeps the text before it", async () => {
    const head = "From: a@example.com\nSubject: Promo\nContent-Type: text/html\n\n<p>Code promo</p>"
    expect((await email(`${head}<script>var a = "<p>not text</p>`)).body).toBe("Code promo")
    expect((await email(`${head}<a href="https://example.com/x`)).body).toBe("Code promo")
  })

  it("hostile HTML full of unclosed tags is read in one pass, not hung on", async () => {
    // 100,000 unclosed "<" and "<script": each used to rescan the rest of the text.
    const hostile = await email(
      `From: a@example.com\nSubject: Hostile\nContent-Type: text/html\n\nHello ${"<".repeat(100_000)}${"<script ".repeat(20_000)}`
    )
    expect(hostile.body).toBe("Hello")
  })

  it("a message cut off mid-attachment (partial fetch) still gives its text", async () => {
    const raw = "From: a@example.com\nSubject: Facture\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" +
      "Content-Type: text/plain\n\nVotre facture est jointe.\n--b\nContent-Type: application/pdf\n" +
      "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfs"
    expect((await email(raw)).body).toBe("Votre facture est jointe.")
  })

  it("a message of thousands of parts is read to its 256th '--' line: its text, none of the parts after, the same fingerprint", async () => {
    const parts = Array.from({ length: 3000 }, (_, n) => `--b\nContent-Type: application/octet-stream\n\npart${n}\n`).join("")
    const raw = "From: a@example.com\nSubject: Many\nContent-Type: multipart/mixed; boundary=b\n\n--b\n" +
      `Content-Type: text/plain\n\nThe text comes first.\n${parts}--b--\n`
    const result = await read(raw)
    if (result._tag !== "Read") throw new Error("unreadable")
    expect(result.email.body).toBe("The text comes first.")
    expect(result.attachments).toBe(MAX_PART_LINES - 1)
    expect(result.email.fingerprint).toBe(fingerprint(message(raw).source))
    const lines = Buffer.from("a\n--1\nb\n--2\n--3\n")
    expect(Buffer.from(untilPartLine(lines, 2)).toString()).toBe("a\n--1\nb\n--2\n")
    expect(untilPartLine(lines, 3)).toBe(lines)
  })

  it("bodies are cut to a bounded length, never inside an emoji", async () => {
    expect((await email(`From: a@example.com\nSubject: Long\n\n${"mot ".repeat(5000)}`)).body.length).toBe(MAX_BODY_CHARS)
    const emoji = await email(`From: a@example.com\nSubject: Long\nContent-Type: text/plain; charset=utf-8\n\n${"x".repeat(MAX_BODY_CHARS - 1)}😀 tail`)
    expect(emoji.body).toBe("x".repeat(MAX_BODY_CHARS - 1))
  })

  it("an empty message or one with nothing readable is unreadable, naming the UID, not to be retried", async () => {
    expect(await read("")).toEqual({ _tag: "Unreadable", uid: 7, reason: "the server returned an empty message", retry: false })
    expect(await read("\n\n")).toMatchObject({ _tag: "Unreadable", uid: 7, retry: false })
  })

  it("an unknown charset does not stop reading", async () => {
    expect((await email("From: a@example.com\nSubject: Hi\nContent-Type: text/plain; charset=x-unknown-9\n\nplain words")).body)
      .toBe("plain words")
  })
})
