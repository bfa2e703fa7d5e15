/**
 * Before a pass, with PROTON_LUMO_LLM_EXAMPLES=N: the subjects of the N newest messages the user
 * filed in each category's folder, for the LLM's prompt: not those the sorter put there (the LLM's
 * own verdicts, on strangers' subjects, would become the examples it is shown). Read like
 * everything else (BODY.PEEK, first bytes only); subjects that seem to address the model are left
 * out, each is cut short, and each is sent once.
 */
import { Effect, Option } from "effect"
import { Categories } from "../services/Categories.ts"
import { FiledExamples } from "../services/FiledExamples.ts"
import { Journal } from "../services/Journal.ts"
import { looksLikeInjection } from "../services/LlmClassifier.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import { categoryFolders } from "../domain/Category.ts"
import { cut, withoutInvisible } from "../domain/Text.ts"
import { readMessages } from "./readFolder.ts"

/** Characters kept of each example subject. */
export const EXAMPLE_SUBJECT_CHARS = 120

/** Enough of each message for its headers. */
const HEADER_BYTES = 8 * 1024

/** How many of a folder's newest messages are read to find N the user filed there. */
const READ_FOR_EACH_EXAMPLE = 3

/** A subject as two copies of it compare: no Re:/Fwd: prefixes, case or spacing. */
const sameSubject = (subject: string): string =>
  subject.replace(/^\s*((re|fwd?|aw|wg|tr|sv)\s*(\[\d+\])?\s*:\s*)+/i, "").replace(/\s+/g, " ").trim().toLowerCase()

/** The `n` newest of `subjects` (oldest first), each once: a thread's replies would fill a category's examples. */
const distinctNewest = (subjects: ReadonlyArray<string>, n: number): ReadonlyArray<string> => {
  const seen = new Set<string>()
  const kept: Array<string> = []
  for (const subject of subjects.toReversed()) {
    if (kept.length === n) break
    if (seen.has(sameSubject(subject))) continue
    seen.add(sameSubject(subject))
    kept.push(subject)
  }
  return kept.toReversed()
}

export const gatherExamples = Effect.fn("gatherExamples")(function*() {
  const settings = yield* Settings
  if (settings.llmExamples === 0) return
  const mailbox = yield* Mailbox
  const journal = yield* Journal
  const existing = new Set((yield* mailbox.listFolders).filter((folder) => folder.selectable).map((folder) => folder.path))
  const examples = new Map<string, ReadonlyArray<string>>()
  const categories = yield* Categories
  for (const [path, categoryId] of categoryFolders(categories.all, existing)) {
    // Spam's subjects are written by whoever sends it: none of them goes into every call.
    if (Option.exists(categories.find(categoryId), (category) => category.spam)) continue
    const folder = yield* mailbox.openFolder(path)
    // What the sorter put there is left unread (by its UID, where the server gave one; by
    // fingerprint below): once it sorts, most of a folder's newest mail is its own.
    const placed = new Set(yield* journal.placedIn(folder))
    const filedByUser = (yield* mailbox.searchUids(folder, { unseenOnly: false, undeleted: true })).filter((uid) => !placed.has(uid))
    const newest = filedByUser.slice(-settings.llmExamples * READ_FOR_EACH_EXAMPLE)
    const { read } = yield* readMessages(folder, newest, HEADER_BYTES)
    const sorted = yield* journal.movesOf(read.map((email) => email.fingerprint))
    const sortedHere = new Set(sorted.filter((move) => move.target === path).map((move) => move.fingerprint))
    const subjects = distinctNewest(
      read
        .filter((email) => email.subject !== "" && !sortedHere.has(email.fingerprint) && !looksLikeInjection(email))
        .map((email) => cut(withoutInvisible(email.subject), EXAMPLE_SUBJECT_CHARS)),
      settings.llmExamples
    )
    if (subjects.length > 0) examples.set(categoryId, subjects)
  }
  yield* (yield* FiledExamples).replace(examples)
})
