/**
 * Fetch stage: the chosen UIDs of a folder, page after page, as range FETCHes of `fetchChunkSize`
 * messages, passed on a chunk (one FETCH's messages) at a time.
 * A chunk the server rejects is fetched again one UID at a time, so one bad message cannot
 * hide the others; failures that concern the whole folder stop its pass instead.
 */
import { Array as Arr, Effect, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { FetchedMessage, FolderRef } from "../domain/Email.ts"
import type { FolderNotFound, ImapAuthError, ImapConnectError, MailboxFailure, UidValidityChanged } from "../domain/Errors.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import type { Reporter } from "./report.ts"

/** Failures after which no UID of the folder can be trusted or reached: the folder's pass stops. */
export type FolderAbort = ImapConnectError | ImapAuthError | FolderNotFound | UidValidityChanged

export const isFolderAbort = (error: MailboxFailure): error is FolderAbort =>
  error._tag === "ImapConnectError" ||
  error._tag === "ImapAuthError" ||
  error._tag === "FolderNotFound" ||
  error._tag === "UidValidityChanged"

/**
 * The UIDs in FETCH-sized chunks. The first is only as large as the first wave of classification
 * calls needs (`batchSize × workers`), so classifying starts as soon as that much is read.
 */
export const fetchChunks = (
  uids: ReadonlyArray<number>,
  settings: { readonly fetchChunkSize: number; readonly batchSize: number; readonly workers: number }
): ReadonlyArray<NonEmptyReadonlyArray<number>> => {
  const first = Math.min(settings.fetchChunkSize, settings.batchSize * settings.workers)
  const head = uids.slice(0, first)
  return [...(Arr.isReadonlyArrayNonEmpty(head) ? [head] : []), ...Arr.chunksOf(uids.slice(first), settings.fetchChunkSize)]
}

export const fetchStage = <E, R>(
  folder: FolderRef,
  pages: Stream.Stream<ReadonlyArray<number>, E, R>,
  reporter: Reporter
): Stream.Stream<NonEmptyReadonlyArray<FetchedMessage>, E | FolderAbort, R | Mailbox | Settings> =>
  Stream.unwrap(Effect.gen(function*() {
    const mailbox = yield* Mailbox
    const settings = yield* Settings

    const fetchChunk = (chunk: NonEmptyReadonlyArray<number>): Effect.Effect<ReadonlyArray<FetchedMessage>, FolderAbort> =>
      mailbox.fetch(folder, chunk, settings.maxMessageBytes).pipe(
        Effect.catch((error) => {
          if (isFolderAbort(error)) return Effect.fail(error)
          if (chunk.length === 1) {
            return reporter.record({
              _tag: "Failed",
              failure: { folder: folder.path, uid: chunk[0], stage: "fetch", reason: error.message, retry: true }
            }).pipe(Effect.as([]))
          }
          return Effect.flatMap(
            Effect.forEach(chunk, (uid) => fetchChunk([uid])),
            (parts) => Effect.succeed(parts.flat())
          )
        })
      )

    return pages.pipe(
      Stream.flatMap((page) => Stream.fromIterable(fetchChunks(page, settings))),
      Stream.mapEffect(fetchChunk),
      Stream.filter(Arr.isReadonlyArrayNonEmpty)
    )
  }))
