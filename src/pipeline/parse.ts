/**
 * Parse stage: raw message bytes → the sender, subject and plain-text body a classifier reads.
 * mailparser decodes MIME, transfer encodings, RFC 2047 words and charsets; HTML-only mail is
 * turned into text. Only the first bytes of a message were fetched, so a cut-off tail (in
 * practice: attachments) is expected and harmless.
 */
import { Effect, Stream } from "effect"
import { simpleParser } from "mailparser"
import type { FetchedMessage, ParsedEmail } from "../domain/Email.ts"
import { ParseError } from "../domain/Errors.ts"
import { Settings } from "../services/Settings.ts"
import type { Reporter } from "./report.ts"

/** Body characters kept per email: more than any classifier reads. */
export const MAX_BODY_CHARS = 4000

const collapse = (text: string): string => text.replace(/\s+/g, " ").trim()

export const parseMessage = Effect.fn("parse.message")(function*(message: FetchedMessage) {
  if (message.source.length === 0) {
    return yield* new ParseError({ uid: message.uid, reason: "the server returned an empty message" })
  }
  const parsed = yield* Effect.tryPromise({
    try: () =>
      simpleParser(Buffer.from(message.source.buffer, message.source.byteOffset, message.source.length), {
        skipImageLinks: true,
        skipTextToHtml: true,
        skipTextLinks: true,
        keepCidLinks: true
      }),
    catch: (error) => new ParseError({ uid: message.uid, reason: error instanceof Error ? error.message : String(error) })
  })
  const subject = collapse(parsed.subject ?? "")
  const body = collapse(parsed.text ?? "").slice(0, MAX_BODY_CHARS)
  const from = collapse(parsed.from?.text ?? "")
  if (subject === "" && body === "" && from === "") {
    return yield* new ParseError({ uid: message.uid, reason: "no sender, subject or text could be read" })
  }
  const email: ParsedEmail = { uid: message.uid, messageId: parsed.messageId, from, subject, body }
  return email
})

/** Parses up to `workers` messages at once; an unparseable message is reported and dropped. */
export const parseStage = (folder: string, reporter: Reporter) =>
<E, R>(messages: Stream.Stream<FetchedMessage, E, R>): Stream.Stream<ParsedEmail, E, R | Settings> =>
  Stream.unwrap(Effect.map(Effect.service(Settings), (settings) =>
    messages.pipe(
      Stream.mapEffect(
        (message) =>
          parseMessage(message).pipe(
            Effect.map((email): ReadonlyArray<ParsedEmail> => [email]),
            Effect.catch((error) =>
              reporter.record({
                _tag: "Failed",
                failure: { folder, uid: message.uid, stage: "parse", reason: error.reason, retry: false }
              }).pipe(Effect.as([]))
            )
          ),
        { concurrency: settings.workers }
      ),
      Stream.flattenIterable
    )))
