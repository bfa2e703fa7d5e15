/**
 * Raw message bytes → the sender, subject and plain-text body a classifier reads. postal-mime
 * decodes MIME, transfer encodings, RFC 2047 words and charsets; HTML-only mail is turned into
 * text. Only the first bytes of a message were fetched, so a cut-off tail (in practice:
 * attachments) is expected and harmless.
 *
 * Plain promises, no Effect: this module is all a parser thread loads (MessageParser.ts).
 */
import { decodeHTML } from "entities"
import PostalMime, { type Address } from "postal-mime"
import type { FetchedMessage, ParsedEmail } from "../domain/Email.ts"
import { fingerprint } from "../domain/Fingerprint.ts"
import { cut } from "../domain/Text.ts"

/** Body characters kept per email: more than any classifier reads. */
export const MAX_BODY_CHARS = 4000

/**
 * A Message-ID is kept to this many characters (RFC 5322's line limit): it is stored in the
 * journal and searched for, and a hostile one may be megabytes long. Its prefix still finds the
 * message (IMAP SEARCH HEADER matches substrings), and the fingerprint tells it apart.
 */
export const MAX_MESSAGE_ID_CHARS = 998

/**
 * Lines beginning with "--" (MIME boundaries, among others) read of a message: a message of
 * thousands of tiny parts (150 KB of them made a pass of 100 take 1 GB and a minute) is read to
 * the last part before the next one. Real mail has tens of parts, its text first.
 */
export const MAX_PART_LINES = 256

/** `source` up to the line that begins the (`max` + 1)-th "--" line (all of it when there are fewer). */
export const untilPartLine = (source: Uint8Array, max: number): Uint8Array => {
  let seen = 0
  for (let index = source.indexOf(0x0a); index !== -1; index = source.indexOf(0x0a, index + 1)) {
    if (source[index + 1] === 0x2d && source[index + 2] === 0x2d && ++seen > max) return source.subarray(0, index + 1)
  }
  return source
}

/**
 * What reading one message gave: the email, or why it cannot be read; `retry` when the fault
 * was not the message's (a parser thread that stopped), so a later pass reads it again.
 */
export type ReadResult =
  | {
    readonly _tag: "Read"
    readonly email: ParsedEmail
    /** Attachments begun in what was read: a message cut after one began was cut after its text. */
    readonly attachments: number
  }
  | { readonly _tag: "Unreadable"; readonly uid: number; readonly reason: string; readonly retry: boolean }

/**
 * Every run of whitespace becomes one space. Runs that already are one space are not matched
 * at all, which makes this four times faster on ordinary text than replacing every /\s+/.
 */
const collapse = (text: string): string => text.replace(/(?:[^\S ]| (?=\s))\s*/g, " ").trim()

/**
 * The text of an HTML body, enough to classify: no scripts, styles or tags, entities decoded.
 * An element or tag left open (the message was cut, or is hostile) runs to the end of the text:
 * without the `$`, every later "<" would scan to the end again, quadratic in the length.
 */
export const htmlToText = (html: string): string =>
  decodeHTML(
    html
      .replace(/<(script|style|head)\b[\s\S]*?(?:<\/\1\s*>|$)/gi, " ")
      .replace(/<[^>]*(?:>|$)/g, " ")
  )

/** Recipients kept per header, and characters per address or header value: a hostile message may hold megabytes. */
const MAX_ADDRESSES = 50
const MAX_FIELD_CHARS = 320

/** The lower-case addresses of a To or Cc header, groups opened. */
const addresses = (list: ReadonlyArray<Address> | undefined): ReadonlyArray<string> =>
  (list ?? [])
    .flatMap((entry) => (entry.group === undefined ? [entry] : entry.group))
    .slice(0, MAX_ADDRESSES)
    .flatMap((mailbox) => (mailbox.address === "" ? [] : [cut(mailbox.address, MAX_FIELD_CHARS).toLowerCase()]))

const dateOf = (value: string | undefined): number | undefined => {
  const millis = value === undefined ? Number.NaN : Date.parse(value)
  return Number.isFinite(millis) ? millis : undefined
}

const unreadable = (uid: number, reason: string): ReadResult => ({ _tag: "Unreadable", uid, reason, retry: false })

export const readMessage = async (message: Pick<FetchedMessage, "uid" | "source">): Promise<ReadResult> => {
  if (message.source.length === 0) return unreadable(message.uid, "the server returned an empty message")
  try {
    const parsed = await PostalMime.parse(untilPartLine(message.source, MAX_PART_LINES), { maxNestingDepth: 32 })
    const subject = collapse(parsed.subject ?? "")
    const text = parsed.text ?? (parsed.html === undefined ? "" : htmlToText(parsed.html))
    const body = cut(collapse(text), MAX_BODY_CHARS)
    const sender = parsed.from
    const from = sender === undefined
      ? ""
      : collapse(sender.name === "" ? sender.address ?? "" : `${sender.name} <${sender.address ?? ""}>`)
    const fromAddress = cut(sender?.address ?? "", MAX_FIELD_CHARS).toLowerCase()
    const header = (key: string) => parsed.headers.find((line) => line.key === key)?.value
    if (subject === "" && body === "" && from === "") {
      return unreadable(message.uid, "no sender, subject or text could be read")
    }
    const email: ParsedEmail = {
      uid: message.uid,
      messageId: parsed.messageId === undefined ? undefined : cut(parsed.messageId, MAX_MESSAGE_ID_CHARS),
      fingerprint: fingerprint(message.source),
      from,
      fromAddress,
      fromName: cut(collapse(sender?.name ?? ""), MAX_FIELD_CHARS),
      to: addresses(parsed.to),
      cc: addresses(parsed.cc),
      listId: cut(collapse(header("list-id") ?? ""), MAX_FIELD_CHARS),
      listUnsubscribe: header("list-unsubscribe") !== undefined,
      date: dateOf(parsed.date),
      subject,
      body
    }
    return { _tag: "Read", email, attachments: parsed.attachments.length }
  } catch (error) {
    return unreadable(message.uid, error instanceof Error ? error.message : String(error))
  }
}
