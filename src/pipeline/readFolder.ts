/**
 * Reading a folder's messages for learning (learn.ts, evaluate.ts, examples.ts): range FETCHes
 * of the first bytes (BODY.PEEK: nothing becomes \Seen), parsed on the parser threads; the raw
 * source is not kept.
 */
import { Array as Arr, Effect } from "effect"
import type { FolderRef, ParsedEmail } from "../domain/Email.ts"
import { FINGERPRINT_BYTES } from "../domain/Fingerprint.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { MessageParser } from "../services/MessageParser.ts"
import { Settings } from "../services/Settings.ts"

/**
 * These UIDs of the folder, read (the first `maxBytes` of each); those that cannot be, by UID. A
 * message that cannot be read from its first `maxBytes` (its headers may be longer: Exchange and
 * long relay chains write 20 KB and more) is fetched once more as far as sorting reads one.
 */
export const readMessages = Effect.fnUntraced(function*(
  folder: FolderRef,
  uids: ReadonlyArray<number>,
  maxBytes: number = FINGERPRINT_BYTES
) {
  const settings = yield* Settings
  const first = yield* readAtMost(folder, uids, maxBytes)
  if (first.unreadable.length === 0 || settings.maxMessageBytes <= maxBytes) return first
  const again = yield* readAtMost(folder, first.unreadable, settings.maxMessageBytes)
  return { read: [...first.read, ...again.read], unreadable: again.unreadable }
})

const readAtMost = Effect.fnUntraced(function*(folder: FolderRef, uids: ReadonlyArray<number>, maxBytes: number) {
  const mailbox = yield* Mailbox
  const parser = yield* MessageParser
  const settings = yield* Settings
  const read: Array<ParsedEmail> = []
  const unreadable: Array<number> = []
  for (const chunk of Arr.chunksOf(uids, settings.fetchChunkSize)) {
    if (!Arr.isReadonlyArrayNonEmpty(chunk)) continue
    const fetched = yield* mailbox.fetch(folder, chunk, maxBytes)
    if (!Arr.isReadonlyArrayNonEmpty(fetched)) continue
    for (const result of yield* parser.read(fetched)) {
      if (result._tag === "Read") read.push(result.email)
      else unreadable.push(result.uid)
    }
  }
  return { read, unreadable }
})

/**
 * Oldest first by the Date header; undated mail last (nothing says how old it is); ties in the
 * order given, so the same mail gives the same order on every run.
 */
export const oldestFirst = <A>(items: ReadonlyArray<A>, dateOf: (item: A) => number | undefined): Array<A> =>
  items.toSorted((a, b) => (dateOf(a) ?? Infinity) - (dateOf(b) ?? Infinity) || 0)
