/**
 * Reading a folder's messages for learning (learn.ts, evaluate.ts, examples.ts): range FETCHes
 * of the first bytes (BODY.PEEK: nothing becomes \Seen), parsed on the parser threads; the raw
 * source is not kept.
 */
import { Array as Arr, Effect } from "effect"
import { type FolderRef, type ParsedEmail, withInternalDate } from "../domain/Email.ts"
import { FINGERPRINT_BYTES } from "../domain/Fingerprint.ts"
import { MAX_BODY_CHARS } from "../mime/readMessage.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { MessageParser } from "../services/MessageParser.ts"
import { Settings } from "../services/Settings.ts"

/**
 * These UIDs of the folder, read (the first `maxBytes` of each); those that cannot be, by UID. A
 * message whose first `maxBytes` are not enough is fetched once more as far as sorting reads one:
 * one that cannot be read from them (its headers may be longer: Exchange and long relay chains
 * write 20 KB and more), and one cut in its text, before as much as sorting reads of it (an HTML
 * newsletter's style sheet alone can fill 16 KiB; not one cut in an attachment, after its text):
 * the model learns a message as the sorter will see the next one like it.
 */
export const readMessages = Effect.fnUntraced(function*(
  folder: FolderRef,
  uids: ReadonlyArray<number>,
  maxBytes: number = FINGERPRINT_BYTES
) {
  const settings = yield* Settings
  const first = yield* readAtMost(folder, uids, maxBytes)
  if (settings.maxMessageBytes <= maxBytes) return { read: first.read, unreadable: first.unreadable }
  const cutShort = new Set(first.read.filter((email) => first.cut.has(email.uid) && email.body.length < MAX_BODY_CHARS).map((email) => email.uid))
  const retry = [...first.unreadable, ...cutShort]
  if (retry.length === 0) return { read: first.read, unreadable: first.unreadable }
  const again = yield* readAtMost(folder, retry.toSorted((a, b) => a - b), settings.maxMessageBytes)
  const reread = new Set(again.read.map((email) => email.uid))
  // A message cut short that cannot be read again (deleted meanwhile, say) keeps its first reading.
  const kept = first.read.filter((email) => !reread.has(email.uid))
  return { read: [...kept, ...again.read], unreadable: again.unreadable.filter((uid) => !cutShort.has(uid)) }
})

const readAtMost = Effect.fnUntraced(function*(folder: FolderRef, uids: ReadonlyArray<number>, maxBytes: number) {
  const mailbox = yield* Mailbox
  const parser = yield* MessageParser
  const settings = yield* Settings
  const read: Array<ParsedEmail> = []
  const unreadable: Array<number> = []
  // Messages cut before an attachment began: their text may be cut short too.
  const cut = new Set<number>()
  for (const chunk of Arr.chunksOf(uids, settings.fetchChunkSize)) {
    if (!Arr.isReadonlyArrayNonEmpty(chunk)) continue
    const fetched = yield* mailbox.fetch(folder, chunk, maxBytes)
    if (!Arr.isReadonlyArrayNonEmpty(fetched)) continue
    const longer = new Set(fetched.filter((message) => message.size > message.source.length).map((message) => message.uid))
    const dated = withInternalDate(fetched)
    for (const result of yield* parser.read(fetched)) {
      if (result._tag === "Unreadable") {
        unreadable.push(result.uid)
        continue
      }
      read.push(dated(result.email))
      if (longer.has(result.email.uid) && result.attachments === 0) cut.add(result.email.uid)
    }
  }
  return { read, unreadable, cut }
})

