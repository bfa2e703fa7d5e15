/**
 * The IMAP mailbox the sorter reads and moves mail in.
 *
 * The live layer keeps one imapflow connection (reconnecting when it drops) and runs every
 * command under imapflow's mailbox lock, so concurrent pipeline stages never interleave
 * SELECTs. Nothing here can mark mail \Seen (fetches use BODY.PEEK) or expunge anything but
 * the exact UIDs being moved.
 */
import { X509Certificate } from "node:crypto"
import { readFile } from "node:fs/promises"
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from "node:tls"
import { Context, type Duration, Effect, Layer, Option, Predicate, Redacted, SynchronizedRef } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { ImapFlow, type FetchMessageObject } from "imapflow"
import type { FetchedMessage, FolderRef, FolderStatus } from "../domain/Email.ts"
import {
  FolderNotFound,
  ImapAuthError,
  ImapConnectError,
  MailboxError,
  type MailboxFailure,
  MoveIncomplete,
  MoveUnsupported,
  UidValidityChanged
} from "../domain/Errors.ts"
import { mayCreate } from "../domain/Folders.ts"
import { toSequenceSet } from "../domain/UidSet.ts"
import type { ImapSettings } from "./Settings.ts"

export interface FolderInfo {
  readonly path: string
  readonly delimiter: string
  /** RFC 6154 attribute such as `\Junk`, when the server names one. */
  readonly specialUse: string | undefined
  readonly selectable: boolean
}

export interface MoveReceipt {
  readonly uids: ReadonlyArray<number>
  readonly method: "MOVE" | "COPY+EXPUNGE"
}

export interface MailboxApi {
  readonly listFolders: Effect.Effect<ReadonlyArray<FolderInfo>, MailboxFailure>
  /**
   * Creates `path` and each missing parent; nothing when it exists. On Bridge, only under
   * `Folders/` and `Labels/` (anything else is refused before the server is asked).
   */
  readonly ensureFolder: (path: string) => Effect.Effect<void, MailboxFailure>
  /** Selects a folder; its UIDVALIDITY pins the meaning of every UID used afterwards. */
  readonly openFolder: (path: string) => Effect.Effect<FolderStatus, MailboxFailure>
  /** The folder's UIDs in ascending order, only unread ones when asked. */
  readonly searchUids: (
    folder: FolderRef,
    options: { readonly unseenOnly: boolean }
  ) => Effect.Effect<ReadonlyArray<number>, MailboxFailure>
  /**
   * One range FETCH of these UIDs: flags, size and the first `maxBytes` of each message
   * (`BODY.PEEK[]<0.maxBytes>`, so nothing becomes \Seen). UIDs no longer there are absent.
   */
  readonly fetch: (
    folder: FolderRef,
    uids: NonEmptyReadonlyArray<number>,
    maxBytes: number
  ) => Effect.Effect<ReadonlyArray<FetchedMessage>, MailboxFailure>
  /** Moves exactly these UIDs: `UID MOVE`, or `UID COPY` + `\Deleted` + `UID EXPUNGE` of them. */
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
  ) => Effect.Effect<void, MailboxFailure>
  /** The UIDs of the folder's messages whose Message-ID is exactly `messageId`. */
  readonly findByMessageId: (folder: FolderRef, messageId: string) => Effect.Effect<ReadonlyArray<number>, MailboxFailure>
  /**
   * Removes exactly these UIDs from the folder (`UID STORE +FLAGS (\Deleted)`, `UID EXPUNGE`);
   * refused without UIDPLUS, where only a mailbox-wide EXPUNGE exists.
   */
  readonly remove: (folder: FolderRef, uids: NonEmptyReadonlyArray<number>) => Effect.Effect<void, MailboxFailure>
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

export class Mailbox extends Context.Service<Mailbox, MailboxApi>()("proton-lumo-ai/Mailbox") {
  /** A real IMAP server through imapflow. Connects (and logs in) when the layer is built. */
  static readonly layerImap = (settings: ImapSettings): Layer.Layer<Mailbox, ImapConnectError | ImapAuthError> =>
    Layer.effect(Mailbox, makeImap(settings))
}

// ---------------------------------------------------------------------------------------------
// imapflow errors

/** The fields of an imapflow error we may show; never `executedCommand`, which can hold a LOGIN. */
interface ImapErrorInfo {
  readonly text: string
  readonly code: string | undefined
  readonly authenticationFailed: boolean
  readonly mailboxMissing: boolean
}

const stringField = (error: unknown, field: string): string | undefined =>
  Predicate.hasProperty(error, field) && Predicate.isString(error[field]) && error[field] !== ""
    ? error[field]
    : undefined

const imapErrorInfo = (error: unknown, password: Redacted.Redacted<string>): ImapErrorInfo => {
  const text = stringField(error, "responseText") ?? stringField(error, "message") ?? String(error)
  const secret = Redacted.value(password)
  return {
    // Belt and braces: no server or library text may echo the password into our logs.
    text: secret === "" ? text : text.split(secret).join("<redacted>"),
    code: stringField(error, "code"),
    authenticationFailed: Predicate.hasProperty(error, "authenticationFailed") && error.authenticationFailed === true,
    mailboxMissing: Predicate.hasProperty(error, "mailboxMissing") && error.mailboxMissing === true
  }
}

const certificateCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

const connectReason = (info: ImapErrorInfo): string => {
  if (info.code !== undefined && certificateCodes.has(info.code)) {
    return `${info.text} (${info.code}): the server's certificate is not trusted; set PROTON_LUMO_IMAP_CA_FILE ` +
      "to its certificate (Bridge can export it), or PROTON_LUMO_IMAP_TLS_VERIFY=false at your own risk"
  }
  if (info.code === "ECONNREFUSED") {
    return "connection refused: is Proton Mail Bridge (or your IMAP server) running on this host and port?"
  }
  return info.code === undefined ? info.text : `${info.text} (${info.code})`
}

// ---------------------------------------------------------------------------------------------
// TLS

/**
 * A pinned certificate is trusted as-is: Bridge's self-signed certificate names 127.0.0.1 only
 * in its CN, which Node's hostname check rejects, so identity is checked by fingerprint instead.
 */
const tlsOptions = (settings: ImapSettings): Effect.Effect<ConnectionOptions, ImapConnectError> =>
  Option.match(settings.caFile, {
    onNone: () => Effect.succeed(settings.tlsVerify ? {} : { rejectUnauthorized: false }),
    onSome: (caFile) =>
      Effect.tryPromise({
        try: async () => {
          const pem = await readFile(caFile, "utf8")
          const pinned = new X509Certificate(pem).fingerprint256
          const options: ConnectionOptions = {
            ca: [pem],
            rejectUnauthorized: settings.tlsVerify,
            checkServerIdentity: (host: string, certificate: PeerCertificate) =>
              certificate.fingerprint256 === pinned ? undefined : checkServerIdentity(host, certificate)
          }
          return options
        },
        catch: (error) =>
          new ImapConnectError({
            host: settings.host,
            port: settings.port,
            reason: `PROTON_LUMO_IMAP_CA_FILE ${caFile}: ${imapErrorInfo(error, settings.password).text}`
          })
      })
  })

// ---------------------------------------------------------------------------------------------
// The live layer

const makeImap = Effect.fnUntraced(function*(settings: ImapSettings) {
  const tls = yield* tlsOptions(settings)
  const failure = (error: unknown) => imapErrorInfo(error, settings.password)

  const connect = Effect.tryPromise({
    try: async () => {
      const client = new ImapFlow({
        host: settings.host,
        port: settings.port,
        secure: settings.tls === "tls",
        // STARTTLS is required, never opportunistic: no credentials over a plaintext socket.
        ...(settings.tls === "starttls" ? { doSTARTTLS: true } : {}),
        auth: { user: settings.user, pass: Redacted.value(settings.password) },
        tls,
        logger: false,
        disableAutoIdle: true,
        connectionTimeout: 30_000,
        greetingTimeout: 16_000,
        clientInfo: { name: "ProtonLumoAI" }
      })
      // Socket errors also surface as failed commands; without a listener they would crash the process.
      client.on("error", () => undefined)
      await client.connect()
      return client
    },
    catch: (error) => {
      const info = failure(error)
      return info.authenticationFailed
        ? new ImapAuthError({ host: settings.host, port: settings.port, user: settings.user, reason: info.text })
        : new ImapConnectError({ host: settings.host, port: settings.port, reason: connectReason(info) })
    }
  })

  const connection = yield* Effect.acquireRelease(
    Effect.flatMap(connect, (client) => SynchronizedRef.make(client)),
    (ref) =>
      Effect.flatMap(SynchronizedRef.get(ref), (client) =>
        Effect.promise(() => client.logout().catch(() => client.close())).pipe(
          Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.sync(() => client.close()) })
        ))
  )

  /** The connection, re-established if the server or the network dropped it. */
  const client = SynchronizedRef.updateAndGetEffect(
    connection,
    (current) =>
      current.usable
        ? Effect.succeed(current)
        : Effect.sync(() => current.close()).pipe(
          Effect.andThen(connect),
          Effect.tap(() => Effect.logWarning("IMAP connection lost; reconnected"))
        )
  )

  const attempt = <A>(operation: string, folder: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (error) => new MailboxError({ operation, folder, reason: failure(error).text })
    })

  const command = <A>(operation: string, folder: string, run: (imap: ImapFlow) => Promise<A>) =>
    Effect.flatMap(client, (imap) => attempt(operation, folder, () => run(imap)))

  /** Runs `use` with `path` selected and locked, after checking its UIDVALIDITY is still `expected`. */
  const inFolder = <A>(
    path: string,
    expected: bigint | undefined,
    use: (imap: ImapFlow, selected: FolderStatus) => Effect.Effect<A, MailboxFailure>
  ): Effect.Effect<A, MailboxFailure> =>
    Effect.flatMap(client, (imap) =>
      Effect.acquireUseRelease(
        Effect.tryPromise({
          try: () => imap.getMailboxLock(path),
          catch: (error) => {
            const info = failure(error)
            return info.mailboxMissing
              ? new FolderNotFound({ folder: path })
              : new MailboxError({ operation: "SELECT", folder: path, reason: info.text })
          }
        }),
        (): Effect.Effect<A, MailboxFailure> => {
          const selected = imap.mailbox
          if (selected === false) {
            return Effect.fail(new MailboxError({ operation: "SELECT", folder: path, reason: "no folder selected" }))
          }
          if (expected !== undefined && selected.uidValidity !== expected) {
            return Effect.fail(
              new UidValidityChanged({
                folder: path,
                expected: String(expected),
                actual: String(selected.uidValidity)
              })
            )
          }
          return use(imap, { path: selected.path, uidValidity: selected.uidValidity, uidNext: selected.uidNext })
        },
        (lock) => Effect.sync(() => lock.release())
      ))

  const listFolders = command("LIST", "*", async (imap) => {
    const entries = await imap.list()
    return entries.map((entry): FolderInfo => ({
      path: entry.path,
      delimiter: entry.delimiter,
      specialUse: entry.specialUse,
      selectable: !entry.flags.has("\\Noselect") && !entry.flags.has("\\NonExistent")
    }))
  })

  const ensureFolder = (path: string) =>
    Effect.flatMap(listFolders, (folders) => {
      if (folders.some((folder) => folder.path === path)) return Effect.void
      const delimiter = folders.find((folder) => folder.delimiter !== "")?.delimiter ?? "/"
      const parts = path.split(delimiter)
      const missing = parts
        .map((_, index) => parts.slice(0, index + 1).join(delimiter))
        .filter((level) => !folders.some((folder) => folder.path === level))
      const existing = folders.map((folder) => folder.path)
      const refused = missing.find((level) => !mayCreate(level, existing))
      if (refused !== undefined) {
        return Effect.fail(
          new MailboxError({ operation: "CREATE", folder: refused, reason: "Bridge creates folders only under Folders/ and labels under Labels/" })
        )
      }
      return Effect.forEach(missing, (level) =>
        command("CREATE", level, async (imap) => {
          await imap.mailboxCreate(level)
        }), { discard: true })
    })

  const openFolder = (path: string) => inFolder(path, undefined, (_, selected) => Effect.succeed(selected))

  const searchUids = (folder: FolderRef, options: { readonly unseenOnly: boolean }) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      attempt("SEARCH", folder.path, async () => {
        const uids = await imap.search(options.unseenOnly ? { seen: false } : { all: true }, { uid: true })
        if (!Array.isArray(uids)) throw new Error("the server refused the search")
        return uids.sort((a, b) => a - b)
      }))

  const fetch = (folder: FolderRef, uids: NonEmptyReadonlyArray<number>, maxBytes: number) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      attempt("FETCH", folder.path, async () => {
        const messages = await imap.fetchAll(
          toSequenceSet(uids),
          { uid: true, flags: true, size: true, source: { start: 0, maxLength: maxBytes } },
          { uid: true }
        )
        return messages.flatMap(toFetched)
      }))

  const move = (folder: FolderRef, uids: NonEmptyReadonlyArray<number>, target: string) =>
    inFolder(folder.path, folder.uidValidity, (imap): Effect.Effect<MoveReceipt, MailboxFailure> => {
      const set = toSequenceSet(uids)
      if (imap.capabilities.has("MOVE")) {
        return attempt("UID MOVE", folder.path, async () => {
          const moved = await imap.messageMove(set, target, { uid: true })
          if (moved === false) throw new Error(`the server refused to move to "${target}"`)
          const receipt: MoveReceipt = { uids, method: "MOVE" }
          return receipt
        })
      }
      // Without UIDPLUS the only EXPUNGE is mailbox-wide: it would also erase mail the user
      // marked \Deleted. Refuse rather than risk that.
      if (!imap.capabilities.has("UIDPLUS")) {
        return Effect.fail(
          new MoveUnsupported({ folder: folder.path, reason: "the server offers neither MOVE nor UIDPLUS" })
        )
      }
      const copy = attempt("UID COPY", folder.path, async () => {
        if ((await imap.messageCopy(set, target, { uid: true })) === false) {
          throw new Error(`the server refused to copy to "${target}"`)
        }
      })
      // With uid: true and UIDPLUS this is UID STORE +FLAGS (\Deleted) then UID EXPUNGE <set>.
      const removeOriginals = Effect.tryPromise({
        try: async () => {
          if (!(await imap.messageDelete(set, { uid: true }))) throw new Error("the server refused UID STORE or UID EXPUNGE")
        },
        catch: (error) => new MoveIncomplete({ folder: folder.path, target, reason: failure(error).text })
      })
      return copy.pipe(
        Effect.andThen(removeOriginals),
        Effect.as<MoveReceipt>({ uids, method: "COPY+EXPUNGE" })
      )
    })

  const copy = (folder: FolderRef, uids: NonEmptyReadonlyArray<number>, target: string) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      attempt("UID COPY", folder.path, async () => {
        if ((await imap.messageCopy(toSequenceSet(uids), target, { uid: true })) === false) {
          throw new Error(`the server refused to copy to "${target}"`)
        }
      }))

  const findByMessageId = (folder: FolderRef, messageId: string) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      attempt("UID SEARCH", folder.path, async () => {
        const candidates = await imap.search({ header: { "message-id": messageId } }, { uid: true })
        if (!Array.isArray(candidates) || candidates.length === 0) return []
        // SEARCH HEADER matches substrings: keep the exact Message-ID only.
        const envelopes = await imap.fetchAll(toSequenceSet(candidates), { uid: true, envelope: true }, { uid: true })
        return envelopes.filter((message) => message.envelope?.messageId === messageId).map((message) => message.uid)
      }))

  const remove = (folder: FolderRef, uids: NonEmptyReadonlyArray<number>) =>
    inFolder(folder.path, folder.uidValidity, (imap) =>
      imap.capabilities.has("UIDPLUS")
        ? attempt("UID STORE + UID EXPUNGE", folder.path, async () => {
          if (!(await imap.messageDelete(toSequenceSet(uids), { uid: true }))) {
            throw new Error("the server refused UID STORE or UID EXPUNGE")
          }
        })
        : Effect.fail(new MoveUnsupported({ folder: folder.path, reason: "the server offers no UIDPLUS (UID EXPUNGE)" })))

  /** Whether the folder holds a UID at or above `since` (mail that came after). */
  const arrivedSince = (imap: ImapFlow, folder: FolderRef, since: number) =>
    attempt("UID SEARCH", folder.path, async () => {
      const uids = await imap.search({ uid: `${since}:*` }, { uid: true })
      return Array.isArray(uids) && uids.some((uid) => uid >= since)
    })

  const waitForMail = (folder: FolderRef, since: number, within: Duration.Duration) =>
    inFolder(folder.path, folder.uidValidity, (imap, selected) =>
      Effect.flatMap(arrivedSince(imap, selected, since), (arrived) =>
        arrived ? Effect.succeed(true) : Effect.callback<boolean, MailboxFailure>((resume) => {
          const onExists = (event: { readonly path: string; readonly count: number; readonly prevCount: number }) => {
            if (event.path === selected.path && event.count > event.prevCount) resume(Effect.succeed(true))
          }
          const onClose = () =>
            resume(Effect.fail(new ImapConnectError({ host: settings.host, port: settings.port, reason: "connection closed" })))
          imap.on("exists", onExists)
          imap.on("close", onClose)
          // IDLE until any next command breaks it; without IDLE, imapflow polls with NOOP instead.
          imap.idle().catch(() => undefined)
          return Effect.sync(() => {
            imap.off("exists", onExists)
            imap.off("close", onClose)
          })
        }))
    ).pipe(Effect.timeoutOrElse({ duration: within, orElse: () => Effect.succeed(false) }))

  return Mailbox.of({
    listFolders,
    ensureFolder,
    openFolder,
    searchUids,
    fetch,
    move,
    copy,
    findByMessageId,
    remove,
    waitForMail
  })
})

const toFetched = (message: FetchMessageObject): ReadonlyArray<FetchedMessage> =>
  message.source === undefined
    ? []
    : [{
      uid: message.uid,
      flags: [...(message.flags ?? [])],
      size: message.size ?? message.source.length,
      source: message.source
    }]
