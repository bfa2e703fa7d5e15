/** Where each message of an in-memory mailbox is, by Message-ID: for "nothing lost, nothing misfiled" checks. */
import { Effect } from "effect"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"

/** The Message-ID header of a raw message ("?" when it has none). */
export const messageIdOf = (source: Uint8Array | string): string =>
  /^Message-ID:\s*(\S+)/im.exec(typeof source === "string" ? source : Buffer.from(source).toString("latin1"))?.[1] ?? "?"

export const placement = Effect.gen(function*() {
  const mailbox = yield* MemoryMailbox
  const placed = new Map<string, string>()
  for (const folder of yield* mailbox.folders) {
    for (const message of yield* mailbox.messages(folder)) placed.set(messageIdOf(message.source), folder)
  }
  return placed
})
