/**
 * The two mailboxes `npm run bench:learn` sorts (in memory, and a private Dovecot on 127.0.0.1),
 * and what the simulated user does with them: find each message again (by the sha1 of its
 * source) and move it. The user goes through the sorter's own `Mailbox` service, which both
 * mailboxes implement, so the same code runs on both.
 */
import { createHash } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { ImapFlow } from "imapflow"
import { Mailbox, type MailboxApi } from "../../src/services/Mailbox.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { freshUser, type DovecotInstance, imapOptions } from "../../test/support/imap.ts"
import { imapLayer } from "../../test/support/live.ts"

export interface SeedMail {
  readonly source: Buffer
  readonly seen: boolean
  readonly date: number
}

/** One fresh mailbox for one run: the sorter's Mailbox (built once, kept across passes) and a way to fill it. */
export interface OpenMailbox {
  readonly api: MailboxApi
  readonly layer: Layer.Layer<Mailbox>
  readonly seed: (folder: string, mail: ReadonlyArray<SeedMail>) => Effect.Effect<void>
}

export type BackendName = "memory" | "dovecot"

export const openMemory = Effect.gen(function*() {
  const context = yield* Layer.build(MemoryMailbox.layer())
  const api = Context.get(context, Mailbox)
  const inspector = Context.get(context, MemoryMailbox)
  const opened: OpenMailbox = {
    api,
    layer: Layer.succeed(Mailbox, api),
    seed: (folder, mail) =>
      Effect.forEach(mail, (m) => inspector.append(folder, m.source, m.seen ? ["\\Seen"] : [], new Date(m.date)), { discard: true })
  }
  return opened
})

export const openDovecot = (instance: DovecotInstance) =>
  Effect.gen(function*() {
    const user = freshUser("learn")
    const context = yield* Layer.build(imapLayer(instance, user)).pipe(Effect.orDie)
    const api = Context.get(context, Mailbox)
    const opened: OpenMailbox = {
      api,
      layer: Layer.succeed(Mailbox, api),
      seed: (folder, mail) =>
        Effect.promise(async () => {
          const client = new ImapFlow(await imapOptions(instance, user))
          await client.connect()
          try {
            const exists = (await client.list()).some((box) => box.path === folder)
            if (!exists) await client.mailboxCreate(folder)
            for (const m of mail) {
              const appended = await client.append(folder, m.source, m.seen ? ["\\Seen"] : [], new Date(m.date))
              if (appended === false) throw new Error(`APPEND to ${folder} failed`)
            }
          } finally {
            await client.logout()
          }
        })
    }
    return opened
  })

export const sha1 = (bytes: Uint8Array): string => createHash("sha1").update(bytes).digest("hex")

/** Where a message is: its folder and UID there. */
export interface Place {
  readonly folder: string
  readonly uid: number
}

/** Each folder's UIDNEXT: messages below it were there before (see `locate`). */
export const uidNexts = (api: MailboxApi) =>
  Effect.gen(function*() {
    const next = new Map<string, number>()
    for (const folder of yield* api.listFolders) {
      if (!folder.selectable) continue
      next.set(folder.path, (yield* api.openFolder(folder.path)).uidNext)
    }
    return next
  }).pipe(Effect.orDie)

/**
 * The messages of these folders (those that exist) that arrived since `since` (a folder's UIDNEXT
 * then; all of a folder it does not name), by the sha1 of their source.
 */
export const locate = (api: MailboxApi, folders: ReadonlyArray<string>, since: ReadonlyMap<string, number> = new Map()) =>
  Effect.gen(function*() {
    const existing = new Set((yield* api.listFolders).filter((f) => f.selectable).map((f) => f.path))
    const places = new Map<string, Place>()
    for (const path of folders) {
      if (!existing.has(path) && path !== "INBOX") continue
      const ref = yield* api.openFolder(path)
      const from = since.get(ref.path) ?? 0
      const uids = (yield* api.searchUids(ref, { unseenOnly: false })).filter((uid) => uid >= from)
      for (let start = 0; start < uids.length; start += 500) {
        const chunk = uids.slice(start, start + 500)
        const [first, ...rest] = chunk
        if (first === undefined) continue
        for (const message of yield* api.fetch(ref, [first, ...rest], 64 * 1024 * 1024)) {
          places.set(sha1(message.source), { folder: ref.path, uid: message.uid })
        }
      }
    }
    return places
  }).pipe(Effect.orDie)

/** Moves messages as a user does (one UID MOVE per source and target), creating the targets. */
export const moveAsUser = (api: MailboxApi, moves: ReadonlyArray<{ readonly from: Place; readonly to: string }>) =>
  Effect.gen(function*() {
    const groups = new Map<string, { from: string; to: string; uids: Array<number> }>()
    for (const move of moves) {
      const key = `${move.from.folder}\u0000${move.to}`
      const group = groups.get(key) ?? { from: move.from.folder, to: move.to, uids: [] }
      group.uids.push(move.from.uid)
      groups.set(key, group)
    }
    for (const group of groups.values()) {
      yield* api.ensureFolder(group.to)
      const ref = yield* api.openFolder(group.from)
      const uids: NonEmptyReadonlyArray<number> | undefined = group.uids.length > 0 ? [group.uids[0] ?? 0, ...group.uids.slice(1)] : undefined
      if (uids !== undefined) yield* api.move(ref, uids, group.to)
    }
  }).pipe(Effect.orDie)
