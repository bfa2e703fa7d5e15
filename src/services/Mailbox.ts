/**
 * The IMAP mailbox the sorter reads and moves mail in.
 *
 * The live layer keeps one imapflow connection (reconnecting when it drops) and runs every
 * command under imapflow's mailbox lock, so concurrent pipeline stages never interleave
 * SELECTs. Nothing here can mark mail \Seen (fetches use BODY.PEEK) or expunge anything but
 * the exact UIDs being moved; a read-only mailbox (dry run) opens folders with EXAMINE and
 * refuses every command that would change the server.
 *
 * Folder names are the user's (levels joined by "/"); the live layer spells them the server's
 * way (its personal namespace prefix and hierarchy delimiter, domain/FolderNames.ts) and back.
 */
import { Array as Arr, Context, Deferred, Duration, Effect, Layer, Redacted, References, type Scope, SynchronizedRef } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { type CopyResponseObject, type FetchMessageObject, ImapFlow } from "imapflow"
import type { FetchedMessage, FolderRef, FolderStatus } from "../domain/Email.ts"
import {
  FolderNotFound,
  ImapAuthError,
  ImapConnectError,
  InvalidFolderName,
  MailboxError,
  type MailboxFailure,
  MoveIncomplete,
  MoveUnsupported,
  UidValidityChanged
} from "../domain/Errors.ts"
import { FINGERPRINT_BYTES, fingerprint } from "../domain/Fingerprint.ts"
import { fromServerName, type Hierarchy, nameProblem, toServerName } from "../domain/FolderNames.ts"
import { missingLevels, refusedLevel } from "../domain/Folders.ts"
import { countReconnect } from "../domain/Telemetry.ts"
import { escapeControls } from "../domain/Terminal.ts"
import { toSequenceSet } from "../domain/UidSet.ts"
import { connectReason, imapErrorInfo, isCertificateProblem } from "../imap/errors.ts"
import { imapLogger } from "../imap/log.ts"
import { presentedCertificate, shortFingerprint, tlsSetup } from "../imap/tls.ts"
import type { ImapSettings } from "./Settings.ts"

export interface FolderInfo {
  /** The user's name for it (levels joined by "/", no personal prefix). */
  readonly path: string
  readonly delimiter: string
  /** RFC 6154 attribute such as `\Junk`, when the server names one. */
  readonly specialUse: string | undefined
  readonly selectable: boolean
}

/** A message the server moved (or copied), and its UID in the target when the server said (COPYUID). */
export interface MovedMessage {
  readonly uid: number
  readonly targetUid: number | undefined
}

export interface MoveReceipt {
  /**
   * The UIDs the server confirmed it moved (or copied). A UID asked for but absent was not: another
   * client expunged or moved it first.
   */
  readonly moved: ReadonlyArray<MovedMessage>
  /** The target's UIDVALIDITY, which the target UIDs belong to (with COPYUID). */
  readonly targetUidValidity: bigint | undefined
  readonly method: "MOVE" | "COPY+EXPUNGE" | "COPY"
}

/**
 * A message to look for: its Message-ID, and the fingerprint of its source when known (a
 * Message-ID alone can be reused by anyone; journal entries from before fingerprints lack one).
 */
export interface MessageKey {
  readonly messageId: string
  readonly fingerprint: string | undefined
}

/**
 * Which of a folder's messages a search returns: all, or only unread ones, and of those, with
 * `undeleted`, only those not flagged `\Deleted` (what is sorted: mail the user deleted, in a
 * client that marks and expunges later, is not theirs to keep); or (what the learned classifier
 * reads as mail that stays) those read that arrived before a day (`SEEN BEFORE`), not flagged
 * `\Deleted`; or those flagged `\Deleted` and not expunged yet (what a COPY + EXPUNGE cut short leaves).
 */
export type UidSearch =
  | { readonly unseenOnly: boolean; readonly undeleted?: boolean }
  /** Read, and arrived on a day before the one `seenBefore` falls in (UTC): at least that old. */
  | { readonly seenBefore: Date }
  | { readonly deleted: true }

export interface MailboxApi {
  /** Every folder, by the user's names. */
  readonly listFolders: Effect.Effect<ReadonlyArray<FolderInfo>, MailboxFailure>
  /** Fails, naming the folder and why, if one of `names` cannot exist on this server. */
  readonly checkNames: (names: ReadonlyArray<string>) => Effect.Effect<void, InvalidFolderName | MailboxFailure>
  /**
   * Creates `path` and each missing parent; nothing when it exists. On Bridge, only under
   * `Folders/` and `Labels/` (anything else is refused before the server is asked).
   */
  readonly ensureFolder: (path: string) => Effect.Effect<void, MailboxFailure>
  /** Selects a folder; its UIDVALIDITY pins the meaning of every UID used afterwards. */
  readonly openFolder: (path: string) => Effect.Effect<FolderStatus, MailboxFailure>
  /**
   * The folder's UIDVALIDITY, UIDNEXT and message count as they are now (`STATUS`): read-only,
   * whichever folder is selected. A watcher compares UIDNEXTs to see new mail.
   */
  readonly folderStatus: (path: string) => Effect.Effect<FolderStatus, MailboxFailure>
  /** The UIDs of the folder's messages that `search` asks for, in ascending order. */
  readonly searchUids: (folder: FolderRef, search: UidSearch) => Effect.Effect<ReadonlyArray<number>, MailboxFailure>
  /**
   * One range FETCH of these UIDs: flags, size and the first `maxBytes` of each message
   * (`BODY.PEEK[]<0.maxBytes>`, so nothing becomes \Seen). UIDs no longer there are absent.
   */
  readonly fetch: (
    folder: FolderRef,
    uids: NonEmptyReadonlyArray<number>,
    maxBytes: number
  ) => Effect.Effect<ReadonlyArray<FetchedMessage>, MailboxFailure>
  /** Moves exactly these UIDs: `UID MOVE`, or `UID COPY` + `\Deleted` + `UID EXPUNGE` of those copied. */
  readonly move: (
    folder: FolderRef,
    uids: NonEmptyReadonlyArray<number>,
    target: string
  ) => Effect.Effect<MoveReceipt, MailboxFailure>
  /** `UID COPY` of these UIDs to `target`; they stay where they are (on Bridge: adds a label). */
  readonly copy: (
    folder: FolderRef,
    uids: NonEmptyReadonlyArray<number>,
    target: string
  ) => Effect.Effect<MoveReceipt, MailboxFailure>
  /**
   * For each key, the UIDs of the folder's messages with exactly that Message-ID and, when the
   * key has one, that fingerprint. One SEARCH and one FETCH per 50 keys.
   */
  readonly findMessages: (
    folder: FolderRef,
    keys: ReadonlyArray<MessageKey>
  ) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, MailboxFailure>
  /**
   * Removes exactly these UIDs from the folder (`UID STORE +FLAGS (\Deleted)`, `UID EXPUNGE`);
   * refused without UIDPLUS, where only a mailbox-wide EXPUNGE exists.
   */
  readonly remove: (folder: FolderRef, uids: NonEmptyReadonlyArray<number>) => Effect.Effect<void, MailboxFailure>
  /**
   * Whether the server moves with MOVE, so that no move of ours is ever left half done (a copy
   * in both folders); without it, moves are COPY, then \Deleted and UID EXPUNGE.
   */
  readonly movesAtomically: Effect.Effect<boolean, MailboxFailure>
  /**
   * Waits (IMAP IDLE) until the server announces new mail in the folder, or `within` has passed;
   * true when there is mail the folder did not hold at `since` (its UIDNEXT then).
   */
  readonly waitForMail: (
    folder: FolderRef,
    since: number,
    within: Duration.Duration
  ) => Effect.Effect<boolean, MailboxFailure>
}

export interface ImapOptions {
  /** Dry run: folders are opened with EXAMINE and nothing that changes the server is sent. */
  readonly readOnly?: boolean
  /**
   * false: a dropped connection is not made again; every later operation fails with
   * ImapConnectError, and the owner reconnects as it sees fit (a watcher, with its own backoff).
   */
  readonly reconnect?: boolean
  /**
   * How long connecting may take in all (greeting, TLS, login, the folder list): a server that
   * accepts the connection, then stops answering, is given up on after this, not after imapflow's
   * 5-minute socket timeout. Default: CONNECT_WITHIN.
   */
  readonly connectWithin?: Duration.Duration
}

/** A connection (greeting to folder list) normally takes a second; Bridge, busy syncing, several. */
const CONNECT_WITHIN = Duration.minutes(2)

export class Mailbox extends Context.Service<Mailbox, MailboxApi>()("proton-lumo-ai/Mailbox") {
  /** A real IMAP server through imapflow. Connects (and logs in) when the layer is built. */
  static readonly layerImap = (
    settings: ImapSettings,
    options: ImapOptions = {}
  ): Layer.Layer<Mailbox, ImapConnectError | ImapAuthError> => Layer.effect(Mailbox, makeImap(settings, options))

  /**
   * One more connection of its own (logged in now, logged out when the scope closes), outside
   * any layer: what MailWatch's watchers wait for new mail on.
   */
  static readonly connect = (
    settings: ImapSettings,
    options: ImapOptions = {}
  ): Effect.Effect<MailboxApi, ImapConnectError | ImapAuthError, Scope.Scope> => makeImap(settings, options)
}

/** Keys per SEARCH when looking messages up by Message-ID. */
const KEYS_PER_SEARCH = 50

const hierarchyOf = (imap: ImapFlow): Hierarchy => {
  const delimiter = imap.namespace?.delimiter
  return { prefix: imap.namespace?.prefix ?? "", delimiter: delimiter === null ? "" : delimiter ?? "/" }
}

/** imapflow gives INTERNALDATE as a Date, or as the server's text when it could not parse it. */
const internalDateOf = (date: Date | string | undefined): number | undefined => {
  const millis = date === undefined ? NaN : new Date(date).getTime()
  return Number.isFinite(millis) ? millis : undefined
}

const toFetched = (message: FetchMessageObject): ReadonlyArray<FetchedMessage> =>
  message.source === undefined
    ? []
    : [{
      uid: message.uid,
      flags: [...(message.flags ?? [])],
      size: message.size ?? message.source.length,
      source: message.source,
      internalDate: internalDateOf(message.internalDate)
    }]

/** Messages per FETCH when looking for Message-IDs: envelopes, then the first bytes of the close ones. */
const ENVELOPES_PER_FETCH = 500
const SOURCES_PER_FETCH = 50

/** A Message-ID as compared loosely: without brackets, spaces or case. */
const looseId = (id: string): string => id.replace(/[\s<>]/g, "").toLowerCase()

/**
 * The UIDs of the selected folder's messages for each key (see `findMessages`). SEARCH HEADER
 * matches substrings, so a short Message-ID ("@", from a hostile sender) matches a whole folder:
 * the candidates' envelopes are read first, in chunks, and only those whose Message-ID is the
 * key's, loosely (or who have none the server could parse), have their first bytes read and
 * fingerprinted. Memory stays bounded however many messages the SEARCH matched.
 */
const findIn = async (imap: ImapFlow, keys: ReadonlyArray<MessageKey>): Promise<ReadonlyArray<ReadonlyArray<number>>> => {
  const candidates = await imap.search({ or: keys.map((key) => ({ header: { "message-id": key.messageId } })) }, { uid: true })
  if (!Array.isArray(candidates) || candidates.length === 0) return keys.map(() => [])
  const wanted = new Set(keys.map((key) => looseId(key.messageId)))
  const ids = new Map<number, string | undefined>()
  for (const chunk of Arr.chunksOf(candidates, ENVELOPES_PER_FETCH)) {
    for (const message of await imap.fetchAll(toSequenceSet(chunk), { uid: true, envelope: true }, { uid: true })) {
      const id = message.envelope?.messageId
      if (id === undefined || wanted.has(looseId(id))) ids.set(message.uid, id)
    }
  }
  const prints = new Map<number, string>()
  if (keys.some((key) => key.fingerprint !== undefined)) {
    for (const chunk of Arr.chunksOf([...ids.keys()], SOURCES_PER_FETCH)) {
      const source = { start: 0, maxLength: FINGERPRINT_BYTES }
      const fetched = await imap.fetchAll(toSequenceSet(chunk), { uid: true, source }, { uid: true })
      for (const message of fetched) if (message.source !== undefined) prints.set(message.uid, fingerprint(message.source))
    }
  }
  const matches = (key: MessageKey, uid: number): boolean => {
    const id = ids.get(uid)
    return key.fingerprint === undefined
      ? id === key.messageId
      : prints.get(uid) === key.fingerprint && (id === undefined || looseId(id) === looseId(key.messageId))
  }
  return keys.map((key) => [...ids.keys()].filter((uid) => matches(key, uid)).sort((a, b) => a - b))
}

/** The server's name for the user's `path`, or why it has none. */
const serverName = (imap: ImapFlow, operation: string, path: string): Effect.Effect<string, MailboxError> => {
  const hierarchy = hierarchyOf(imap)
  const problem = nameProblem(hierarchy, path)
  return problem === undefined
    ? Effect.succeed(toServerName(hierarchy, path))
    : Effect.fail(new MailboxError({ operation, folder: path, reason: problem }))
}

/** Runs one command; the server's NO or BAD answer to it, if it gave one. */
const answered = async <A>(imap: ImapFlow, run: () => Promise<A>) => {
  let refusal: { readonly response: string; readonly code: string | undefined } | undefined
  const onResponse = (event: { readonly response: string; readonly code?: string | undefined }) => {
    if (event.response === "NO" || event.response === "BAD") refusal = { response: event.response, code: event.code }
  }
  imap.on("response", onResponse)
  try {
    return { result: await run(), refusal }
  } finally {
    imap.off("response", onResponse)
  }
}

/**
 * Runs a COPY or MOVE and fails if the server refused it. imapflow takes the NO a server gives a
 * command naming a message another client expunged meanwhile ([EXPUNGEISSUED], "Some of the
 * requested messages no longer exist") for a partial success, but Dovecot then did nothing, so it
 * must not count as done. That answer also told this session which messages are gone: the
 * command is sent once more, and the server then acts on the others. The mailbox lock keeps other
 * commands off the connection meanwhile.
 */
const accepted = async <A>(imap: ImapFlow, run: () => Promise<A>): Promise<A> => {
  let answer = await answered(imap, run)
  if (answer.refusal?.code === "EXPUNGEISSUED") answer = await answered(imap, run)
  const refusal = answer.refusal
  if (refusal === undefined) return answer.result
  throw new Error(`the server answered ${refusal.response}${refusal.code === undefined ? "" : ` [${refusal.code}]`}`)
}

/** What the server said it did (COPYUID): each source UID with its UID in the target. */
const receipt = (method: MoveReceipt["method"], uidMap: ReadonlyMap<number, number>, uidValidity: bigint | undefined): MoveReceipt => ({
  method,
  targetUidValidity: uidValidity,
  moved: [...uidMap].map(([uid, targetUid]) => ({ uid, targetUid }))
})

// ---------------------------------------------------------------------------------------------
// The live layer

const makeImap = Effect.fnUntraced(function*(settings: ImapSettings, options: ImapOptions) {
  const readOnly = options.readOnly === true
  const connectWithin = options.connectWithin ?? CONNECT_WITHIN
  const failure = (error: unknown) => imapErrorInfo(error, settings.password)
  const services = yield* Effect.context<never>()
  const logger = imapLogger(yield* References.MinimumLogLevel, (log) => Effect.runForkWith(services)(log))

  /** Why the connection failed; a pinned certificate the server no longer presents is named as such. */
  const connectError = (error: unknown, pinned: string | undefined) =>
    Effect.promise(async () => {
      const info = failure(error)
      if (info.authenticationFailed) {
        return new ImapAuthError({ host: settings.host, port: settings.port, user: settings.user, reason: info.text })
      }
      const presented = pinned !== undefined && isCertificateProblem(info.code)
        ? await presentedCertificate(settings)
        : undefined
      if (presented === undefined || presented === pinned) {
        return new ImapConnectError({ host: settings.host, port: settings.port, reason: connectReason(info, settings) })
      }
      return new ImapConnectError({
        host: settings.host,
        port: settings.port,
        certificate: presented,
        reason: `the server's certificate (SHA-256 ${shortFingerprint(presented)}) is not the one pinned in ` +
          `PROTON_LUMO_IMAP_CA_FILE (SHA-256 ${shortFingerprint(pinned ?? "")}): if Bridge (or the server) made a new ` +
          "certificate, export it again to that file; the next attempt reads it"
      })
    })

  const connect = Effect.gen(function*() {
    // Read at every attempt: a certificate exported again is used without a restart.
    const tls = yield* tlsSetup(settings)
    return yield* Effect.tryPromise({
      try: async (signal) => {
        const client = new ImapFlow({
          host: settings.host,
          port: settings.port,
          secure: settings.tls === "tls",
          // STARTTLS is required, never opportunistic: no credentials over a plaintext socket.
          ...(settings.tls === "starttls" ? { doSTARTTLS: true } : {}),
          auth: { user: settings.user, pass: Redacted.value(settings.password) },
          tls: tls.options,
          logger,
          disableAutoIdle: true,
          connectionTimeout: 30_000,
          greetingTimeout: 16_000,
          // imapflow fills in its own version, vendor and support address (a server's log would
          // name ProtonLumoAI with them); empty ones are left out of the ID command.
          clientInfo: { name: "ProtonLumoAI", version: "", vendor: "", "support-url": "" }
        })
        // Socket errors also surface as failed commands; without a listener they would crash the process.
        client.on("error", () => undefined)
        // A stop (SIGTERM) while connecting closes the half-open connection at once.
        signal.addEventListener("abort", () => client.close())
        await client.connect()
        return client
      },
      catch: (error) => error
    }).pipe(
      Effect.catch((error) => Effect.flatMap(connectError(error, tls.pinned), Effect.fail)),
      // Interrupted at the limit, the attempt's abort signal closes the half-open connection.
      Effect.timeoutOrElse({
        duration: connectWithin,
        orElse: () =>
          Effect.fail(
            new ImapConnectError({
              host: settings.host,
              port: settings.port,
              reason: `the server stopped answering while connecting (no login and folder list within ${Duration.format(connectWithin)})`
            })
          )
      })
    )
  })

  const connection = yield* Effect.acquireRelease(
    // Interruptible: a server that never answers must not hold up a stop until its timeout.
    Effect.interruptible(Effect.flatMap(connect, (client) => SynchronizedRef.make(client))),
    (ref) =>
      Effect.flatMap(SynchronizedRef.get(ref), (client) =>
        Effect.promise(() => client.logout().catch(() => client.close())).pipe(
          Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.sync(() => client.close()) })
        ))
  )

  /** The connection, re-established if the server or the network dropped it (unless `reconnect` is false). */
  const client = SynchronizedRef.updateAndGetEffect(
    connection,
    (current): Effect.Effect<ImapFlow, ImapConnectError | ImapAuthError> => {
      if (current.usable) return Effect.succeed(current)
      if (options.reconnect === false) {
        return Effect.fail(new ImapConnectError({ host: settings.host, port: settings.port, reason: "connection closed" }))
      }
      return Effect.sync(() => current.close()).pipe(
        Effect.andThen(connect),
        Effect.tap(() => Effect.andThen(Effect.logInfo("IMAP connection lost; reconnected"), countReconnect))
      )
    }
  )

  const attempt = <A>(operation: string, folder: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (error) => new MailboxError({ operation, folder, reason: failure(error).text })
    })

  /**
   * A command the lost connection cut off was not refused: what the server did is not known. So it
   * is a connection failure (the pass stops), and the journal's pending entries are read back from
   * the server by the next pass (pipeline/recover.ts), which finishes a move half done.
   */
  const cutOff = <E>(imap: ImapFlow, operation: string) => (error: E): E | ImapConnectError =>
    imap.usable
      ? error
      : new ImapConnectError({ host: settings.host, port: settings.port, reason: `the connection was lost during ${operation}` })

  const refuseInDryRun = (operation: string, folder: string) =>
    readOnly
      ? Effect.fail(new MailboxError({ operation, folder, reason: "dry run: nothing may change on the server" }))
      : Effect.void

  /** Runs `use` with `path` selected and locked, after checking its UIDVALIDITY is still `expected`. */
  const inFolder = <A>(
    path: string,
    expected: bigint | undefined,
    use: (imap: ImapFlow, selected: FolderStatus) => Effect.Effect<A, MailboxFailure>
  ): Effect.Effect<A, MailboxFailure> =>
    Effect.flatMap(client, (imap) =>
      Effect.flatMap(serverName(imap, "SELECT", path), (name) =>
        Effect.acquireUseRelease(
          Effect.tryPromise({
            try: () => imap.getMailboxLock(name, { readOnly }),
            catch: (error) => {
              const info = failure(error)
              const operation = readOnly ? "EXAMINE" : "SELECT"
              return info.mailboxMissing
                ? new FolderNotFound({ folder: path })
                : cutOff<MailboxError>(imap, operation)(new MailboxError({ operation, folder: path, reason: info.text }))
            }
          }),
          (): Effect.Effect<A, MailboxFailure> => {
            const selected = imap.mailbox
            if (selected === false) {
              return Effect.fail(new MailboxError({ operation: "SELECT", folder: path, reason: "no folder selected" }))
            }
            if (expected !== undefined && selected.uidValidity !== expected) {
              return Effect.fail(
                new UidValidityChanged({ folder: path, expected: String(expected), actual: String(selected.uidValidity) })
              )
            }
            const user = fromServerName(hierarchyOf(imap), selected.path)
            return use(imap, {
              path: user,
              uidValidity: selected.uidValidity,
              uidNext: selected.uidNext,
              messages: selected.exists
            })
          },
          (lock) => Effect.sync(() => lock.release())
        )))

  const listFolders = Effect.flatMap(client, (imap) =>
    attempt("LIST", "*", async () => {
      const hierarchy = hierarchyOf(imap)
      return (await imap.list()).map((entry): FolderInfo => ({
        path: fromServerName(hierarchy, entry.path),
        delimiter: entry.delimiter,
        specialUse: entry.specialUse,
        selectable: !entry.flags.has("\\Noselect") && !entry.flags.has("\\NonExistent")
      }))
    }).pipe(Effect.mapError(cutOff(imap, "LIST")))).pipe(Effect.withSpan("Mailbox.listFolders"))

  const checkNames = Effect.fn("Mailbox.checkNames")((names: ReadonlyArray<string>) =>
    Effect.flatMap(client, (imap): Effect.Effect<void, InvalidFolderName> => {
      const hierarchy = hierarchyOf(imap)
      for (const name of names) {
        const problem = nameProblem(hierarchy, name)
        if (problem !== undefined) return Effect.fail(new InvalidFolderName({ folder: name, reason: problem }))
      }
      return Effect.void
    })
  )

  const ensureFolder = Effect.fn("Mailbox.ensureFolder")((path: string) =>
    Effect.flatMap(listFolders, (folders) => {
      const existing = folders.map((folder) => folder.path)
      if (existing.includes(path)) return Effect.void
      const missing = missingLevels(path, existing)
      const refused = refusedLevel(path, existing)
      if (refused !== undefined) {
        return Effect.fail(
          new MailboxError({ operation: "CREATE", folder: refused, reason: "Bridge creates folders only under Folders/ and labels under Labels/" })
        )
      }
      return refuseInDryRun("CREATE", path).pipe(
        Effect.andThen(Effect.forEach(missing, (level) =>
          Effect.flatMap(client, (imap) =>
            Effect.flatMap(serverName(imap, "CREATE", level), (name) =>
              attempt("CREATE", level, async () => {
                await imap.mailboxCreate(name)
              }))), { discard: true })),
        // Said, as a folder the user renamed or deleted on the server comes back this way.
        Effect.andThen(Effect.logInfo(`created the folder ${escapeControls(path)}: it was not on the server`))
      )
    })
  )

  const openFolder = Effect.fn("Mailbox.openFolder")((path: string) =>
    inFolder(path, undefined, (_, selected) => Effect.succeed(selected))
  )

  const folderStatus = Effect.fn("Mailbox.folderStatus")((path: string) =>
    Effect.flatMap(client, (imap) =>
      Effect.flatMap(serverName(imap, "STATUS", path), (name) =>
        Effect.tryPromise({
          try: () => imap.status(name, { messages: true, uidNext: true, uidValidity: true }),
          catch: (error): MailboxFailure => {
            const info = failure(error)
            return info.mailboxMissing || info.code === "NotFound"
              ? new FolderNotFound({ folder: path })
              : cutOff<MailboxError>(imap, "STATUS")(new MailboxError({ operation: "STATUS", folder: path, reason: info.text }))
          }
        }).pipe(Effect.flatMap((answer) =>
          // imapflow answers false, not an error, for a failure other than NO: a lost connection among them.
          answer === false || answer.uidNext === undefined || answer.uidValidity === undefined
            ? Effect.fail(
              cutOff<MailboxError>(imap, "STATUS")(
                new MailboxError({ operation: "STATUS", folder: path, reason: "the server gave no UIDNEXT or UIDVALIDITY" })
              )
            )
            : Effect.succeed<FolderStatus>({
              path: fromServerName(hierarchyOf(imap), name),
              uidValidity: answer.uidValidity,
              uidNext: answer.uidNext,
              messages: answer.messages ?? 0
            })
        ))))
  )

  const searchUids = Effect.fn("Mailbox.searchUids")((folder: FolderRef, search: UidSearch) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      attempt("SEARCH", folder.path, async () => {
        const query = "seenBefore" in search
          // The day it falls in, at 00:00 UTC: IMAP's BEFORE compares days, and imapflow turns any other
          // time into the next day (mail 2 days and 22 hours old was taken for more than 3 days old).
          ? { seen: true, deleted: false, before: new Date(new Date(search.seenBefore).setUTCHours(0, 0, 0, 0)) }
          : "deleted" in search
          ? { deleted: true }
          : search.unseenOnly
          ? { seen: false, ...(search.undeleted === true ? { deleted: false } : {}) }
          : search.undeleted === true
          ? { deleted: false }
          : { all: true }
        const uids = await imap.search(query, { uid: true })
        if (!Array.isArray(uids)) throw new Error("the server refused the search")
        return uids.sort((a, b) => a - b)
      }))
  )

  const fetch = Effect.fn("Mailbox.fetch")((folder: FolderRef, uids: NonEmptyReadonlyArray<number>, maxBytes: number) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      attempt("FETCH", folder.path, async () => {
        const messages = await imap.fetchAll(
          toSequenceSet(uids),
          { uid: true, flags: true, size: true, internalDate: true, source: { start: 0, maxLength: maxBytes } },
          { uid: true }
        )
        return messages.flatMap(toFetched)
      }))
  )

  /** Which of `uids` the selected folder holds now. */
  const present = (imap: ImapFlow, folder: string, uids: NonEmptyReadonlyArray<number>) =>
    attempt("UID SEARCH", folder, async () => {
      const found = await imap.search({ uid: toSequenceSet(uids) }, { uid: true })
      return Array.isArray(found) ? found : []
    })

  /**
   * What a COPY or MOVE did, as the server confirmed it: its COPYUID map (UIDPLUS). Without one:
   * after a COPY, the UIDs still there; after a MOVE, nothing when the server has UIDPLUS (it says
   * COPYUID for whatever it moves: "OK No messages found" is what Dovecot answers when another
   * client took them all first), else those there before (`before`) and gone now.
   */
  const confirmed = (
    imap: ImapFlow,
    folder: string,
    method: "MOVE" | "COPY",
    uids: NonEmptyReadonlyArray<number>,
    answer: CopyResponseObject,
    before?: ReadonlyArray<number>
  ): Effect.Effect<MoveReceipt, MailboxError> =>
    answer.uidMap !== undefined
      ? Effect.succeed(receipt(method, answer.uidMap, answer.uidValidity))
      : method === "MOVE" && imap.capabilities.has("UIDPLUS")
      ? Effect.succeed({ method, targetUidValidity: undefined, moved: [] })
      : Effect.map(present(imap, folder, uids), (after) => {
        const still = new Set(after)
        const done = method === "COPY" ? after : (before ?? uids).filter((uid) => !still.has(uid))
        return { method, targetUidValidity: undefined, moved: done.map((uid) => ({ uid, targetUid: undefined })) }
      })

  /** `UID COPY`: what was copied, as the server confirmed it. */
  const copyIn = (imap: ImapFlow, folder: string, uids: NonEmptyReadonlyArray<number>, target: string) =>
    Effect.gen(function*() {
      const name = yield* serverName(imap, "UID COPY", target)
      const answer = yield* attempt("UID COPY", folder, () =>
        accepted(imap, async () => {
          const copied = await imap.messageCopy(toSequenceSet(uids), name, { uid: true })
          if (copied === false) throw new Error(`the server refused to copy to "${target}"`)
          return copied
        })).pipe(Effect.mapError(cutOff(imap, "UID COPY")))
      return yield* confirmed(imap, folder, "COPY", uids, answer)
    })

  const move = Effect.fn("Mailbox.move")((folder: FolderRef, uids: NonEmptyReadonlyArray<number>, target: string) =>
    Effect.andThen(
      refuseInDryRun("UID MOVE", folder.path),
      inFolder(folder.path, folder.uidValidity, (imap): Effect.Effect<MoveReceipt, MailboxFailure> =>
        Effect.gen(function*() {
          const uidPlus = imap.capabilities.has("UIDPLUS")
          if (imap.capabilities.has("MOVE")) {
            // Without UIDPLUS the server will not say what it moved: which UIDs exist is asked first.
            const before = uidPlus ? undefined : yield* present(imap, folder.path, uids)
            const name = yield* serverName(imap, "UID MOVE", target)
            const answer = yield* attempt("UID MOVE", folder.path, () =>
              accepted(imap, async () => {
                const moved = await imap.messageMove(toSequenceSet(uids), name, { uid: true })
                if (moved === false) throw new Error(`the server refused to move to "${target}"`)
                return moved
              })).pipe(Effect.mapError(cutOff(imap, "UID MOVE")))
            return yield* confirmed(imap, folder.path, "MOVE", uids, answer, before)
          }
          // Without UIDPLUS the only EXPUNGE is mailbox-wide: it would also erase mail the user
          // marked \Deleted. Refuse rather than risk that.
          if (!uidPlus) {
            return yield* new MoveUnsupported({ folder: folder.path, reason: "the server offers neither MOVE nor UIDPLUS" })
          }
          const copied = yield* copyIn(imap, folder.path, uids, target)
          const [first, ...rest] = copied.moved.map((message) => message.uid)
          // With uid: true and UIDPLUS this is UID STORE +FLAGS (\Deleted) then UID EXPUNGE of exactly those copied.
          if (first !== undefined) {
            yield* Effect.tryPromise({
              try: async () => {
                if (!(await imap.messageDelete(toSequenceSet([first, ...rest]), { uid: true }))) {
                  throw new Error("the server refused UID STORE or UID EXPUNGE")
                }
              },
              catch: (error) => cutOff<MoveIncomplete>(imap, "UID STORE and UID EXPUNGE, after the copy")(
                new MoveIncomplete({ folder: folder.path, target, reason: failure(error).text })
              )
            })
          }
          return { ...copied, method: "COPY+EXPUNGE" }
        }))
    )
  )

  const copy = Effect.fn("Mailbox.copy")((folder: FolderRef, uids: NonEmptyReadonlyArray<number>, target: string) =>
    Effect.andThen(
      refuseInDryRun("UID COPY", folder.path),
      inFolder(folder.path, folder.uidValidity, (imap) => copyIn(imap, folder.path, uids, target))
    )
  )

  const findMessages = Effect.fn("Mailbox.findMessages")((folder: FolderRef, keys: ReadonlyArray<MessageKey>) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      attempt("UID SEARCH", folder.path, async () => {
        const found: Array<ReadonlyArray<number>> = []
        for (let start = 0; start < keys.length; start += KEYS_PER_SEARCH) {
          found.push(...(await findIn(imap, keys.slice(start, start + KEYS_PER_SEARCH))))
        }
        return found
      }))
  )

  const remove = Effect.fn("Mailbox.remove")((folder: FolderRef, uids: NonEmptyReadonlyArray<number>) =>
    Effect.andThen(
      refuseInDryRun("UID EXPUNGE", folder.path),
      inFolder(folder.path, folder.uidValidity, (imap) =>
        imap.capabilities.has("UIDPLUS")
          ? attempt("UID STORE + UID EXPUNGE", folder.path, async () => {
            if (!(await imap.messageDelete(toSequenceSet(uids), { uid: true }))) {
              throw new Error("the server refused UID STORE or UID EXPUNGE")
            }
          })
          : Effect.fail(new MoveUnsupported({ folder: folder.path, reason: "the server offers no UIDPLUS (UID EXPUNGE)" })))
    )
  )

  /** Whether the folder holds a UID at or above `since` (mail that came after). */
  const arrivedSince = (imap: ImapFlow, folder: FolderRef, since: number) =>
    attempt("UID SEARCH", folder.path, async () => {
      const uids = await imap.search({ uid: `${since}:*` }, { uid: true })
      return Array.isArray(uids) && uids.some((uid) => uid >= since)
    })

  /**
   * Listens for EXISTS before it searches, so that mail coming while the search runs (its EXISTS
   * answered before the search's own reply) is seen either way; then IDLE until some comes.
   */
  const waitForMail = Effect.fn("Mailbox.waitForMail")((folder: FolderRef, since: number, within: Duration.Duration) =>
    inFolder(folder.path, folder.uidValidity, (imap, selected) =>
      Effect.scoped(Effect.gen(function*() {
        const news = yield* Deferred.make<boolean, MailboxFailure>()
        const selectedPath = imap.mailbox === false ? "" : imap.mailbox.path
        const onExists = (event: { readonly path: string; readonly count: number; readonly prevCount: number }) => {
          if (event.path === selectedPath && event.count > event.prevCount) Deferred.doneUnsafe(news, Effect.succeed(true))
        }
        const onClose = () =>
          Deferred.doneUnsafe(
            news,
            Effect.fail(new ImapConnectError({ host: settings.host, port: settings.port, reason: "connection closed" }))
          )
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            imap.on("exists", onExists)
            imap.on("close", onClose)
          }),
          () =>
            Effect.sync(() => {
              imap.off("exists", onExists)
              imap.off("close", onClose)
            })
        )
        if (yield* arrivedSince(imap, selected, since)) return true
        // IDLE until any next command breaks it; without IDLE, imapflow polls with NOOP instead.
        imap.idle().catch(() => undefined)
        return yield* Deferred.await(news)
      }))
    ).pipe(Effect.timeoutOrElse({ duration: within, orElse: () => Effect.succeed(false) }))
  )

  return Mailbox.of({
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
    movesAtomically: Effect.map(client, (imap) => imap.capabilities.has("MOVE")),
    waitForMail
  })
})
