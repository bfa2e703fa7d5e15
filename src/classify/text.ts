/**
 * Text as classifiers compare it: folded to lower case without diacritics. Pure functions, shared
 * by every classifier (and loaded by nothing else).
 */

const nonAscii = /[\u0080-\uffff]+/g

const stripMarks = (run: string): string => run.normalize("NFD").replace(/\p{M}/gu, "")

/** Lower case without diacritics, so that "Réservation" and "reservation" compare equal. */
export const fold = (text: string): string =>
  // Only non-ASCII runs can carry diacritics; decomposing just those is several times faster.
  text.replace(nonAscii, stripMarks).toLowerCase()

const WORD = /[\p{L}\p{N}]+/gu
const DIGITS = /^\p{N}+$/u

/**
 * The words of a folded text, 2 to 24 characters long. A number of more than 4 digits becomes its
 * shape (`#7`): ids and amounts rarely repeat, but their length says something (a phone number).
 */
export const tokenize = (folded: string): Array<string> => {
  const words: Array<string> = []
  for (const match of folded.matchAll(WORD)) {
    const word = match[0]
    if (word.length < 2 || word.length > 24) continue
    words.push(word.length > 4 && DIGITS.test(word) ? `#${word.length}` : word)
  }
  return words
}

/** A subject's reply and forward markers, and what is left of it: the thread's subject. */
export interface SubjectParts {
  readonly reply: boolean
  readonly forward: boolean
  /** Folded, whitespace collapsed, without the markers. */
  readonly core: string
}

const MARKER = /^\s*(re|aw|sv|antw|fwd?|wg|tr|rv|fw)\s*(\[\d+\])?\s*:\s*/i
const FORWARD = new Set(["fw", "fwd", "wg", "tr", "rv"])

/** `Re: Fwd: RE: Subject` → reply and forward markers, and `subject`. */
export const subjectParts = (subject: string): SubjectParts => {
  let rest = subject
  let reply = false
  let forward = false
  for (let match = MARKER.exec(rest), n = 0; match !== null && n < 10; match = MARKER.exec(rest), n++) {
    if (FORWARD.has((match[1] ?? "").toLowerCase())) forward = true
    else reply = true
    rest = rest.slice(match[0].length)
  }
  return { reply, forward, core: fold(rest).replace(/\s+/g, " ").trim() }
}
