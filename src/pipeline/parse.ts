/**
 * Parse stage: each fetched chunk is read by the MessageParser (on parser threads where the
 * machine has cores to spare), up to `workers` chunks at once. An unreadable message is
 * reported and dropped; the others go on, in order.
 */
import { Effect, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { type FetchedMessage, type ParsedEmail, withInternalDate } from "../domain/Email.ts"
import { MessageParser } from "../services/MessageParser.ts"
import { Settings } from "../services/Settings.ts"
import type { Reporter } from "./report.ts"

/** Whether the source holds the blank line that ends a message's header. */
const holdsHeaderEnd = (source: Uint8Array): boolean => {
  const text = Buffer.from(source.buffer, source.byteOffset, source.byteLength)
  return text.includes("\r\n\r\n") || text.includes("\n\n")
}

/**
 * Why a message could not be read: a header longer than what is read of a message (relay chains
 * gone wrong, a hostile sender) is said as such, not as mail without a sender or subject.
 */
const unreadableWhy = (message: FetchedMessage | undefined, reason: string): string =>
  message !== undefined && message.size > message.source.length && !holdsHeaderEnd(message.source)
    ? `its header is longer than the ${Math.round(message.source.length / 1024)} KiB read of each message`
    : reason

export const parseStage = (folder: string, reporter: Reporter, reasked: (uid: number) => boolean = () => false) =>
<E, R>(
  chunks: Stream.Stream<NonEmptyReadonlyArray<FetchedMessage>, E, R>
): Stream.Stream<ParsedEmail, E, R | Settings | MessageParser> =>
  Stream.unwrap(Effect.gen(function*() {
    const settings = yield* Settings
    const parser = yield* MessageParser

    const parseChunk = Effect.fn("parse.chunk")(function*(chunk: NonEmptyReadonlyArray<FetchedMessage>) {
      const emails: Array<ParsedEmail> = []
      const dated = withInternalDate(chunk)
      const fetched = new Map(chunk.map((message) => [message.uid, message]))
      for (const result of yield* parser.read(chunk)) {
        if (result._tag === "Read") emails.push(dated(reasked(result.email.uid) ? { ...result.email, reasked: true } : result.email))
        else {
          yield* reporter.record({
            _tag: "Failed",
            failure: { folder, uid: result.uid, stage: "parse", reason: unreadableWhy(fetched.get(result.uid), result.reason), retry: result.retry }
          })
        }
      }
      return emails
    })

    return chunks.pipe(
      Stream.mapEffect(parseChunk, { concurrency: settings.workers }),
      Stream.flattenIterable
    )
  }))
