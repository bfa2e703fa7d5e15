/**
 * Helpers for integration tests against the private IMAP servers started by
 * test/integration/globalSetup.ts (`inject("dovecot")`, `inject("cyrus")`).  They use imapflow
 * directly, so tests can seed and inspect the server independently of the code under test.
 */
import { mkdir, readdir, readFile, chmod } from "node:fs/promises"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { ImapFlow } from "imapflow"
import type { FetchMessageObject, ImapFlowOptions } from "imapflow"

/** Post-login capability set an instance advertises (see test/support/dovecot/start-dovecot.sh). */
export type CapsMode = "bridge" | "nomove" | "nomove-nouidplus"
export const capsModes: ReadonlyArray<CapsMode> = ["bridge", "nomove", "nomove-nouidplus"]
/** A `CapsMode`, or `full`: everything the server has (NAMESPACE, MOVE, UIDPLUS, SPECIAL-USE, ...). */
export type ServerCaps = CapsMode | "full"

/**
 * How the folders are named:
 * - `bridge`: separator "/", no prefix: INBOX, Spam, Folders/Work (Proton Bridge).
 * - `dotted`: separator ".", personal namespace prefix "INBOX.": INBOX, INBOX.Spam,
 *   INBOX.Folders.Work (Cyrus as Debian ships it, Courier, many hosted Dovecots).  "/" is not
 *   allowed in a folder name there, and a name outside "INBOX." cannot be created.
 */
export type Layout = "bridge" | "dotted"
export const layouts: Readonly<Record<Layout, { readonly separator: string; readonly prefix: string }>> = {
  bridge: { separator: "/", prefix: "" },
  dotted: { separator: ".", prefix: "INBOX." }
}

interface ImapServer {
  readonly host: "127.0.0.1"
  readonly port: number
  /** Self-signed server certificate (PEM) to pin: `tls: { ca: [pem] }`. */
  readonly caFile: string
  /** Accepted for every username. */
  readonly password: string
  readonly caps: ServerCaps
  readonly layout: Layout
  /** Instance directory (config, logs, mail). */
  readonly dir: string
}

/** A private Dovecot (test/support/dovecot/start-dovecot.sh). */
export interface DovecotInstance extends ImapServer {
  readonly server: "dovecot"
  /** etc/, run/, log/dovecot.log, mail/<user>/, rawlog/<user>/. */
  readonly dir: string
}

/** A private Cyrus (test/support/cyrus/start-cyrus.sh): full capabilities, dotted layout, no rawlog. */
export interface CyrusInstance extends ImapServer {
  readonly server: "cyrus"
  readonly caps: "full"
  readonly layout: "dotted"
}

/** Any of the servers: what the helpers below accept. */
export type ImapInstance = DovecotInstance | CyrusInstance

/** The Dovecot instances globalSetup starts: one per `CapsMode` (bridge layout), and `dotted`. */
export type InstanceName = CapsMode | "dotted"

/** What globalSetup provides as `inject("dovecot")`. */
export type DovecotContext = Readonly<Record<InstanceName, DovecotInstance>>

/**
 * A folder's full path on the instance, from its segments below the personal namespace:
 * `folderPath(instance, "Folders", "Work")` is "Folders/Work" (bridge) or "INBOX.Folders.Work"
 * (dotted); `folderPath(instance, "INBOX")` is "INBOX" on both.
 */
export const folderPath = (instance: { readonly layout: Layout }, ...segments: ReadonlyArray<string>): string => {
  const { separator, prefix } = layouts[instance.layout]
  return segments.length === 1 && segments[0] === "INBOX" ? "INBOX" : prefix + segments.join(separator)
}

export interface MessageState {
  readonly uid: number
  /** Sorted, without `\Recent`. */
  readonly flags: ReadonlyArray<string>
  readonly messageId: string | undefined
  readonly subject: string | undefined
}

export interface SeedMessage {
  readonly source: string | Buffer
  readonly flags?: ReadonlyArray<string>
  /** The message's INTERNALDATE (what SEARCH BEFORE/SINCE read); the server's clock when absent. */
  readonly internalDate?: Date
}

/** A unique username; every username gets its own empty mailbox. */
export const freshUser = (prefix = "t"): string => `${prefix}-${randomBytes(6).toString("hex")}@example.com`

const pemCache = new Map<string, Promise<Buffer>>()
const readPem = (file: string): Promise<Buffer> => {
  let pem = pemCache.get(file)
  if (pem === undefined) {
    pem = readFile(file)
    pemCache.set(file, pem)
  }
  return pem
}

/** imapflow options for the instance: STARTTLS required, certificate pinned, no logging. */
export const imapOptions = async (
  instance: ImapInstance,
  user: string,
  password: string = instance.password
): Promise<ImapFlowOptions> => ({
  host: instance.host,
  port: instance.port,
  secure: false,
  doSTARTTLS: true,
  tls: { ca: [await readPem(instance.caFile)] },
  auth: { user, pass: password },
  logger: false
})

/** Connects (STARTTLS, pinned cert), runs `fn`, logs out (or closes if `fn` failed). */
export const withClient = async <A>(
  instance: ImapInstance,
  user: string,
  fn: (client: ImapFlow) => Promise<A>
): Promise<A> => {
  const client = new ImapFlow(await imapOptions(instance, user))
  await client.connect()
  try {
    const result = await fn(client)
    await client.logout()
    return result
  } catch (error) {
    client.close()
    throw error
  }
}

/** Folder paths of the user, in server order. */
export const listFolders = (instance: ImapInstance, user: string): Promise<Array<string>> =>
  withClient(instance, user, async (client) => (await client.list()).map((box) => box.path))

/** Appends the messages to `folder` (created if missing) over one connection. */
export const appendMessages = (
  instance: ImapInstance,
  user: string,
  folder: string,
  messages: ReadonlyArray<SeedMessage>
): Promise<void> =>
  withClient(instance, user, async (client) => {
    const exists = (await client.list()).some((box) => box.path === folder)
    if (!exists) await client.mailboxCreate(folder)
    for (const message of messages) {
      const appended = await client.append(folder, message.source, [...(message.flags ?? [])], message.internalDate)
      if (appended === false) throw new Error(`APPEND to ${folder} failed`)
    }
  })

const toState = (message: FetchMessageObject): MessageState => ({
  uid: message.uid,
  flags: [...(message.flags ?? [])].filter((flag) => flag !== "\\Recent").sort(),
  messageId: message.envelope?.messageId,
  subject: message.envelope?.subject
})

/** Messages of a folder via EXAMINE + one `UID FETCH 1:* (UID FLAGS ENVELOPE)`: never sets \Seen. */
const readFolder = async (client: ImapFlow, folder: string): Promise<Array<MessageState>> => {
  const box = await client.mailboxOpen(folder, { readOnly: true })
  if (box.exists === 0) return []
  const messages = await client.fetchAll("1:*", { uid: true, flags: true, envelope: true }, { uid: true })
  return messages.map(toState).sort((a, b) => a.uid - b.uid)
}

/** The messages of one folder, sorted by UID. */
export const folderState = (
  instance: ImapInstance,
  user: string,
  folder: string
): Promise<Array<MessageState>> => withClient(instance, user, (client) => readFolder(client, folder))

/** Every selectable folder → its messages (for conservation checks), over one connection. */
export const mailboxState = (
  instance: ImapInstance,
  user: string
): Promise<Record<string, Array<MessageState>>> =>
  withClient(instance, user, async (client) => {
    const state: Record<string, Array<MessageState>> = {}
    for (const box of await client.list()) {
      if (box.flags.has("\\Noselect") || box.flags.has("\\NonExistent")) continue
      state[box.path] = await readFolder(client, box.path)
    }
    return state
  })

// --- rawlog: what a client really sent -------------------------------------------------
// Dovecot executes MOVE / UID EXPUNGE even when imap_capability does not advertise them, so a
// test cannot see from the mailbox that a client used a command it should not have.  Dovecot's
// rawlog records each session's decrypted post-login traffic, but only if <dir>/rawlog/<user>
// exists before the login.

const rawlogDir = (instance: DovecotInstance, user: string): string => join(instance.dir, "rawlog", user)

/** Starts recording the commands of `user`'s later sessions. Call before the client logs in. */
export const recordCommands = async (instance: DovecotInstance, user: string): Promise<void> => {
  const dir = rawlogDir(instance, user)
  await mkdir(dir, { recursive: true })
  await chmod(dir, 0o777) // written by the mail user (nobody when the tests run as root)
}

const stripTimestamps = (raw: string): string => raw.replace(/^\d+\.\d+ /gm, "")

/** Commands sent (tag removed, literals shown as `{n}`) in one recorded session's rawlog. */
const commandsOf = (raw: string): Array<string> => {
  const stream = stripTimestamps(raw)
  const commands: Array<string> = []
  let pos = 0
  let command = ""
  while (pos < stream.length) {
    const end = stream.indexOf("\n", pos)
    const line = stream.slice(pos, end === -1 ? stream.length : end).replace(/\r$/, "")
    pos = end === -1 ? stream.length : end + 1
    const literal = /\{(\d+)\+?\}$/.exec(line)
    command += line
    if (literal !== null) {
      // skip the literal's bytes; rawlog prefixes every line of it with a timestamp, stripped above
      pos += Number(literal[1])
      continue
    }
    const untagged = command.replace(/^\S+ /, "")
    if (untagged !== "") commands.push(untagged)
    command = ""
  }
  return commands
}

/** The commands of each recorded session (one connection each), oldest session first. */
export const sessionCommands = async (instance: DovecotInstance, user: string): Promise<Array<Array<string>>> => {
  const dir = rawlogDir(instance, user)
  const files = (await readdir(dir)).filter((name) => name.endsWith(".in")).sort()
  return Promise.all(files.map(async (file) => commandsOf(await readFile(join(dir, file), "latin1"))))
}

/** Commands sent (tag removed, literals shown as `{n}`) in the recorded sessions, oldest first. */
export const sentCommands = async (instance: DovecotInstance, user: string): Promise<Array<string>> =>
  (await sessionCommands(instance, user)).flat()

/**
 * A client of the test's own, kept open: how long from the start of an APPEND to `folder` until
 * `target` holds `count` messages (STATUS every 20 ms).
 */
export const latencyProbe = (instance: DovecotInstance, user: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new ImapFlow(await imapOptions(instance, user))
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.logout().catch(() => client.close()))
  ).pipe(Effect.map((client) => (folder: string, source: string, target: string, count: number) =>
    Effect.promise(async () => {
      const started = performance.now()
      await client.append(folder, source)
      while (true) {
        const status = await client.status(target, { messages: true }).catch((): false => false)
        if (status !== false && (status.messages ?? 0) >= count) return Math.round(performance.now() - started)
        if (performance.now() - started > 15_000) throw new Error(`${target} did not get its message ${count} within 15 s`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })
  ))
