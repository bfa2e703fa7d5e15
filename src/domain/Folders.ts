/** Which mailboxes may be sorted. Sorting them anyway would loop over our own output or over system views. */

const forbiddenSourceNames = new Set(["all mail", "spam", "junk", "trash", "scheduled", "drafts", "labels"])

/** Special-use attributes (RFC 6154) of mailboxes that are never sources. */
export const forbiddenSpecialUses: ReadonlySet<string> = new Set(["\\All", "\\Junk", "\\Trash", "\\Drafts"])

/** All Mail, Spam, Trash, Labels/… and the like, by name. */
export const isForbiddenSource = (folder: string): boolean => {
  const name = folder.trim().toLowerCase()
  return forbiddenSourceNames.has(name) || name.startsWith("labels/")
}

const sameFolder = (a: string, b: string): boolean =>
  a === b || (a.toUpperCase() === "INBOX" && b.toUpperCase() === "INBOX")

/** Source folders that are also some category's target (sorting them would re-sort sorted mail). */
export const sourcesThatAreTargets = (
  sources: ReadonlyArray<string>,
  targets: ReadonlyArray<string>
): ReadonlyArray<string> => sources.filter((source) => targets.some((target) => sameFolder(source, target)))

/** Bridge keeps labels under `Labels/`: COPY adds the label and the message stays where it is. */
export const isLabel = (folder: string): boolean => folder.startsWith("Labels/")

/**
 * Whether we may CREATE `path` on a server whose folders are `existing`. On Bridge (recognised by
 * its `Folders` and `Labels` roots) only under those two, as Bridge itself demands.
 */
export const mayCreate = (path: string, existing: ReadonlyArray<string>): boolean =>
  !(existing.includes("Folders") && existing.includes("Labels")) || /^(Folders|Labels)\/./.test(path)

/** The levels of `path` (`a`, `a/b`, `a/b/c`) that `existing` lacks, in the order to create them. */
export const missingLevels = (path: string, existing: ReadonlyArray<string>): ReadonlyArray<string> => {
  const levels = path.split("/")
  return levels.map((_, index) => levels.slice(0, index + 1).join("/")).filter((level) => !existing.includes(level))
}

/** The first missing level of `path` that `mayCreate` forbids: a move there cannot be made. */
export const refusedLevel = (path: string, existing: ReadonlyArray<string>): string | undefined =>
  missingLevels(path, existing).find((level) => !mayCreate(level, existing))

/** A folder of spam or junk mail, by its name: where a good message lost is the costliest mistake. */
export const isSpamFolder = (folder: string): boolean => /(^|\/)(spam|junk)( e-?mail)?$/i.test(folder.trim())
