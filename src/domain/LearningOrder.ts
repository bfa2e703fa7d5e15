/** The order mail is learned in: a model ends on the newest mail, and calibrates on what it had not seen. */
import { isLabel } from "./Folders.ts"

/**
 * Oldest first by the Date header; undated mail last (nothing says how old it is); ties in the
 * order given, so the same mail gives the same order on every run.
 */
export const oldestFirst = <A>(items: ReadonlyArray<A>, dateOf: (item: A) => number | undefined): Array<A> =>
  items.toSorted((a, b) => (dateOf(a) ?? Infinity) - (dateOf(b) ?? Infinity) || 0)

/** Oldest first; of copies of one message, a Bridge label's last: a message refiled and labelled is refiled. */
export const learningOrder = <A extends { readonly folder: string }>(
  items: ReadonlyArray<A>,
  dateOf: (item: A) => number | undefined
): Array<A> => oldestFirst([...items.filter((item) => !isLabel(item.folder)), ...items.filter((item) => isLabel(item.folder))], dateOf)
