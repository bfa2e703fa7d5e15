/**
 * Parse stage: each fetched chunk is read by the MessageParser (on parser threads where the
 * machine has cores to spare), up to `workers` chunks at once. An unreadable message is
 * reported and dropped; the others go on, in order.
 */
import { Effect, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { FetchedMessage, ParsedEmail } from "../domain/Email.ts"
import { MessageParser } from "../services/MessageParser.ts"
import { Settings } from "../services/Settings.ts"
import type { Reporter } from "./report.ts"

export const parseStage = (folder: string, reporter: Reporter, reasked: (uid: number) => boolean = () => false) =>
<E, R>(
  chunks: Stream.Stream<NonEmptyReadonlyArray<FetchedMessage>, E, R>
): Stream.Stream<ParsedEmail, E, R | Settings | MessageParser> =>
  Stream.unwrap(Effect.gen(function*() {
    const settings = yield* Settings
    const parser = yield* MessageParser

    const parseChunk = Effect.fn("parse.chunk")(function*(chunk: NonEmptyReadonlyArray<FetchedMessage>) {
      const emails: Array<ParsedEmail> = []
      for (const result of yield* parser.read(chunk)) {
        if (result._tag === "Read") emails.push(reasked(result.email.uid) ? { ...result.email, reasked: true } : result.email)
        else {
          yield* reporter.record({
            _tag: "Failed",
            failure: { folder, uid: result.uid, stage: "parse", reason: result.reason, retry: result.retry }
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
