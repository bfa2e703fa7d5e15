/**
 * An IMAP mailbox held in memory: the demo sorts one, and unit tests use it instead of a server.
 * It keeps IMAP's rules that matter here (UIDs, UIDVALIDITY, flags untouched by fetches, new UIDs
 * in the target on MOVE) and records every command, so tests can count round trips.
 */
import { Context, type Duration, Effect, Layer } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { FetchedMessage, FolderRef, FolderStatus } from "../domain/Email.ts"
import {
  FolderNotFound,
  InvalidFolderName,
  MailboxError,
  type MailboxFailure,
  MoveUnsupported,
  UidValidityChanged
} from "../domain/Errors.ts"
import { fingerprint } from "../domain/Fingerprint.ts"
import { nameProblem } from "../domain/FolderNames.ts"
import { mayCreate } from "../domain/Folders.ts"
import { Mailbox, type FolderInfo, type MailboxApi, type MessageKey, type MoveReceipt, type UidSearch } from "./Mailbox.ts"

export interface StoredMessage {
  readonly uid: number
  readonly flags: ReadonlySet<string>
  readonly source: Uint8Array
  /** When it arrived (IMAP's INTERNALDATE), epoch ms; kept by moves and copies. */
  readonly internalDate: number
}

interface Folder {
  readonly specialUse: string | undefined
  readonly selectable: boolean
  uidValidity: bigint
  uidNext: number
  readonly messages: Map<number, StoredMessage>
}

/** One command as the server would have received it. */
export interface MemoryCommand {
  readonly command: "LIST" | "CREATE" | "SELECT" | "SEARCH" | "FETCH" | "MOVE" | "COPY+EXPUNGE" | "COPY" | "EXPUNGE" | "IDLE" | "STATUS"
  readonly folder: string
  readonly uids: ReadonlyArray<number>
  readonly target?: string
}

export interface MemoryMailboxOptions {
  /** Server capabilities: without `move`, moves use COPY + UID EXPUNGE; without both, they are refused. */
  readonly move?: boolean
  readonly uidPlus?: boolean
  /** The server's hierarchy delimiter, for `checkNames` (default "/"). */
  readonly delimiter?: string
  /** Dry run: every command that would change the mailbox is refused. */
  readonly readOnly?: boolean
  /** The name of the folder marked \\Junk (Bridge's: Spam). */
  readonly junkFolder?: string
}

export interface MemoryMailboxApi {
  /** Adds a message (arrived now, unless `internalDate` says when). */
  readonly append: (
    folder: string,
    source: string | Uint8Array,
    flags?: ReadonlyArray<string>,
    internalDate?: Date
  ) => Effect.Effect<number>
  readonly messages: (folder: string) => Effect.Effect<ReadonlyArray<StoredMessage>>
  readonly folders: Effect.Effect<ReadonlyArray<string>>
  readonly commands: Effect.Effect<ReadonlyArray<MemoryCommand>>
  /** Gives a folder a new UIDVALIDITY, as a server does after rebuilding its index. */
  readonly resetUidValidity: (folder: string) => Effect.Effect<void>
  /** Adds flags to a message, as another client's `UID STORE +FLAGS` does (`\\Deleted`, say). */
  readonly addFlags: (folder: string, uid: number, flags: ReadonlyArray<string>) => Effect.Effect<void>
}

/** Bridge's layout: system folders, and the `Folders`/`Labels` parents that hold user mailboxes. */
const bridgeLayout: ReadonlyArray<readonly [string, string | undefined, boolean]> = [
  ["INBOX", undefined, true],
  ["Drafts", "\\Drafts", true],
  ["Sent", "\\Sent", true],
  ["Starred", "\\Flagged", true],
  ["Archive", "\\Archive", true],
  ["Spam", "\\Junk", true],
  ["Trash", "\\Trash", true],
  ["All Mail", "\\All", true],
  ["Folders", undefined, false],
  ["Labels", undefined, false]
]

const encoder = new TextEncoder()

/** Whether a message is one `search` asks for. IMAP's BEFORE compares dates only: before the day `seenBefore` falls on. */
const matches = (message: StoredMessage, search: UidSearch): boolean =>
  "deleted" in search
    ? message.flags.has("\\Deleted")
    : "seenBefore" in search
    ? message.flags.has("\\Seen") && !message.flags.has("\\Deleted") &&
      message.internalDate < new Date(search.seenBefore).setUTCHours(0, 0, 0, 0)
    : (!search.unseenOnly || !message.flags.has("\\Seen")) && (search.undeleted !== true || !message.flags.has("\\Deleted"))

const messageIdOf = (message: StoredMessage): string | undefined =>
  /^Message-ID:\s*(\S+)/im.exec(new TextDecoder().decode(message.source.subarray(0, 64 * 1024)))?.[1]

export class MemoryMailbox extends Context.Service<MemoryMailbox, MemoryMailboxApi>()("proton-lumo-ai/MemoryMailbox") {
  /** An empty Bridge-like mailbox, as both the `Mailbox` service and its inspector. */
  static readonly layer = (options: MemoryMailboxOptions = {}): Layer.Layer<Mailbox | MemoryMailbox> =>
    Layer.effectContext(Effect.sync(() => {
      const { mailbox, inspector } = make(options)
      return Context.make(Mailbox, mailbox).pipe(Context.add(MemoryMailbox, inspector))
    }))
}

const make = (options: MemoryMailboxOptions): { mailbox: MailboxApi; inspector: MemoryMailboxApi } => {
  const canMove = options.move ?? true
  const canUidPlus = options.uidPlus ?? true
  const hierarchy = { prefix: "", delimiter: options.delimiter ?? "/" }
  const refuseInDryRun = (operation: string, folder: string) =>
    options.readOnly === true
      ? Effect.fail(new MailboxError({ operation, folder, reason: "dry run: nothing may change on the server" }))
      : Effect.void
  let nextUidValidity = 1000n
  const folders = new Map<string, Folder>()
  const log: Array<MemoryCommand> = []
  /** Waiting IDLEs, woken by every APPEND. */
  const idlers = new Set<() => void>()

  const addFolder = (path: string, specialUse: string | undefined, selectable: boolean): Folder => {
    const folder: Folder = { specialUse, selectable, uidValidity: nextUidValidity++, uidNext: 1, messages: new Map() }
    folders.set(path, folder)
    return folder
  }
  for (const [path, specialUse, selectable] of bridgeLayout) {
    addFolder(specialUse === "\\Junk" ? options.junkFolder ?? path : path, specialUse, selectable)
  }

  const record = (entry: MemoryCommand) => log.push(entry)

  const lookup = (path: string): Folder | undefined => folders.get(path.toUpperCase() === "INBOX" ? "INBOX" : path)

  /** The folder, provided it still has the UIDVALIDITY the caller's UIDs belong to. */
  const selected = (ref: FolderRef): Effect.Effect<Folder, FolderNotFound | UidValidityChanged> => {
    const folder = lookup(ref.path)
    if (folder === undefined) return Effect.fail(new FolderNotFound({ folder: ref.path }))
    if (folder.uidValidity !== ref.uidValidity) {
      return Effect.fail(
        new UidValidityChanged({
          folder: ref.path,
          expected: String(ref.uidValidity),
          actual: String(folder.uidValidity)
        })
      )
    }
    return Effect.succeed(folder)
  }

  const appendTo = (folder: Folder, source: Uint8Array, flags: ReadonlySet<string>, internalDate: number): number => {
    const uid = folder.uidNext++
    folder.messages.set(uid, { uid, flags, source, internalDate })
    for (const wake of idlers) wake()
    return uid
  }


  const listFolders = Effect.sync((): ReadonlyArray<FolderInfo> => {
    record({ command: "LIST", folder: "*", uids: [] })
    return [...folders].map(([path, folder]) => ({
      path,
      delimiter: "/",
      specialUse: folder.specialUse,
      selectable: folder.selectable
    }))
  }).pipe(Effect.withSpan("Mailbox.listFolders"))

  const ensureFolder = Effect.fn("Mailbox.ensureFolder")((path: string) =>
    Effect.suspend(() => {
      const parts = path.split("/")
      const missing = parts.map((_, index) => parts.slice(0, index + 1).join("/")).filter((level) => lookup(level) === undefined)
      const refused = missing.find((level) => !mayCreate(level, [...folders.keys()]))
      if (refused !== undefined) {
        return Effect.fail(new MailboxError({ operation: "CREATE", folder: refused, reason: "Bridge refuses it" }))
      }
      if (missing.length === 0) return Effect.void
      return Effect.map(refuseInDryRun("CREATE", path), () => {
        for (const level of missing) {
          record({ command: "CREATE", folder: level, uids: [] })
          addFolder(level, undefined, true)
        }
      })
    })
  )

  const checkNames = Effect.fn("Mailbox.checkNames")((names: ReadonlyArray<string>) =>
    Effect.suspend(() => {
      for (const name of names) {
        const problem = nameProblem(hierarchy, name)
        if (problem !== undefined) return Effect.fail(new InvalidFolderName({ folder: name, reason: problem }))
      }
      return Effect.void
    })
  )

  /** The folder as it is now (SELECT or STATUS). */
  const statusOf = (command: "SELECT" | "STATUS", path: string): Effect.Effect<FolderStatus, FolderNotFound> =>
    Effect.suspend(() => {
      record({ command, folder: path, uids: [] })
      const folder = lookup(path)
      if (folder === undefined || !folder.selectable) return Effect.fail(new FolderNotFound({ folder: path }))
      return Effect.succeed({
        path: path.toUpperCase() === "INBOX" ? "INBOX" : path,
        uidValidity: folder.uidValidity,
        uidNext: folder.uidNext,
        messages: folder.messages.size
      })
    })

  const openFolder = Effect.fn("Mailbox.openFolder")((path: string) => statusOf("SELECT", path))

  const folderStatus = Effect.fn("Mailbox.folderStatus")((path: string) => statusOf("STATUS", path))

  const searchUids = Effect.fn("Mailbox.searchUids")((ref: FolderRef, search: UidSearch) =>
    Effect.map(selected(ref), (folder) => {
      record({ command: "SEARCH", folder: ref.path, uids: [] })
      return [...folder.messages.values()]
        .filter((message) => matches(message, search))
        .map((message) => message.uid)
        .sort((a, b) => a - b)
    })
  )

  const fetch = Effect.fn("Mailbox.fetch")((ref: FolderRef, uids: NonEmptyReadonlyArray<number>, maxBytes: number) =>
    Effect.map(selected(ref), (folder) => {
      record({ command: "FETCH", folder: ref.path, uids })
      return uids.flatMap((uid): ReadonlyArray<FetchedMessage> => {
        const message = folder.messages.get(uid)
        return message === undefined
          ? []
          : [{
            uid,
            flags: [...message.flags],
            size: message.source.length,
            source: message.source.slice(0, maxBytes),
            internalDate: message.internalDate
          }]
      })
    })
  )

  /** Appends copies of `uids` to `target` (removing the originals when `move`): what a server would answer. */
  const transfer = (
    ref: FolderRef,
    uids: NonEmptyReadonlyArray<number>,
    target: string,
    method: MoveReceipt["method"]
  ): Effect.Effect<MoveReceipt, MailboxFailure> =>
    Effect.flatMap(selected(ref), (folder) => {
      const destination = lookup(target)
      if (destination === undefined || !destination.selectable) {
        return Effect.fail(new MailboxError({ operation: method, folder: ref.path, reason: `no folder "${target}"` }))
      }
      record({ command: method, folder: ref.path, uids, target })
      const moved = uids.flatMap((uid) => {
        const message = folder.messages.get(uid)
        if (message === undefined) return []
        if (method !== "COPY") folder.messages.delete(uid)
        const targetUid = appendTo(destination, message.source, message.flags, message.internalDate)
        // Without UIDPLUS there is no COPYUID: the server does not say where the message went.
        return [{ uid, targetUid: canUidPlus ? targetUid : undefined }]
      })
      return Effect.succeed({ moved, method, targetUidValidity: canUidPlus ? destination.uidValidity : undefined })
    })

  const move = Effect.fn("Mailbox.move")((ref: FolderRef, uids: NonEmptyReadonlyArray<number>, target: string) =>
    Effect.andThen(
      refuseInDryRun("MOVE", ref.path),
      !canMove && !canUidPlus
        ? Effect.fail(new MoveUnsupported({ folder: ref.path, reason: "the server offers neither MOVE nor UIDPLUS" }))
        : transfer(ref, uids, target, canMove ? "MOVE" : "COPY+EXPUNGE")
    )
  )

  const copy = Effect.fn("Mailbox.copy")((ref: FolderRef, uids: NonEmptyReadonlyArray<number>, target: string) =>
    Effect.andThen(refuseInDryRun("COPY", ref.path), transfer(ref, uids, target, "COPY"))
  )

  const findMessages = Effect.fn("Mailbox.findMessages")((ref: FolderRef, keys: ReadonlyArray<MessageKey>) =>
    Effect.map(selected(ref), (folder) => {
      record({ command: "SEARCH", folder: ref.path, uids: [] })
      const messages = [...folder.messages.values()]
      return keys.map((key) =>
        messages
          .filter((message) =>
            messageIdOf(message) === key.messageId &&
            (key.fingerprint === undefined || fingerprint(message.source) === key.fingerprint)
          )
          .map((message) => message.uid)
      )
    })
  )

  const remove = Effect.fn("Mailbox.remove")((ref: FolderRef, uids: NonEmptyReadonlyArray<number>) =>
    Effect.flatMap(Effect.andThen(refuseInDryRun("EXPUNGE", ref.path), selected(ref)), (folder) => {
      if (!canUidPlus) {
        return Effect.fail(new MoveUnsupported({ folder: ref.path, reason: "the server offers no UIDPLUS (UID EXPUNGE)" }))
      }
      record({ command: "EXPUNGE", folder: ref.path, uids })
      for (const uid of uids) folder.messages.delete(uid)
      return Effect.void
    })
  )

  const waitForMail = Effect.fn("Mailbox.waitForMail")((ref: FolderRef, since: number, within: Duration.Duration) =>
    Effect.flatMap(selected(ref), (folder) =>
      Effect.callback<boolean>((resume) => {
        record({ command: "IDLE", folder: ref.path, uids: [] })
        const check = () => {
          if ([...folder.messages.keys()].some((uid) => uid >= since)) resume(Effect.succeed(true))
        }
        check()
        idlers.add(check)
        return Effect.sync(() => idlers.delete(check))
      }).pipe(Effect.timeoutOrElse({ duration: within, orElse: () => Effect.succeed(false) })))
  )

  const inspector: MemoryMailboxApi = {
    append: Effect.fn("MemoryMailbox.append")((
      path: string,
      source: string | Uint8Array,
      flags: ReadonlyArray<string> = [],
      internalDate: Date = new Date()
    ) =>
      Effect.sync(() => {
        const folder = lookup(path) ?? addFolder(path, undefined, true)
        const bytes = typeof source === "string" ? encoder.encode(source) : source
        return appendTo(folder, bytes, new Set(flags), internalDate.getTime())
      })
    ),
    messages: Effect.fn("MemoryMailbox.messages")((path: string) =>
      Effect.sync(() => [...(lookup(path)?.messages.values() ?? [])])
    ),
    folders: Effect.sync(() => [...folders.keys()]).pipe(Effect.withSpan("MemoryMailbox.folders")),
    commands: Effect.sync(() => [...log]).pipe(Effect.withSpan("MemoryMailbox.commands")),
    resetUidValidity: Effect.fn("MemoryMailbox.resetUidValidity")((path: string) =>
      Effect.sync(() => {
        const folder = lookup(path)
        if (folder !== undefined) folder.uidValidity = nextUidValidity++
      })
    ),
    addFlags: Effect.fn("MemoryMailbox.addFlags")((path: string, uid: number, flags: ReadonlyArray<string>) =>
      Effect.sync(() => {
        const folder = lookup(path)
        const message = folder?.messages.get(uid)
        if (folder !== undefined && message !== undefined) {
          folder.messages.set(uid, { ...message, flags: new Set([...message.flags, ...flags]) })
        }
      })
    )
  }

  return {
    mailbox: {
      listFolders,
      checkNames,
      ensureFolder,
      openFolder,
      folderStatus,
      searchUids,
      fetch,
      move,
      copy,
      findMessages,
      remove,
      movesAtomically: Effect.succeed(canMove),
      waitForMail
    },
    inspector
  }
}
