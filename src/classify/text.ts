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
