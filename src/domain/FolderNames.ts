/**
 * Folder names as the user writes them (levels joined by "/", e.g. `Folders/Administratif/Banque`)
 * and as a server spells them: under its personal namespace's prefix (Cyrus and many hosted
 * servers keep personal folders under `INBOX.`) and with its own hierarchy delimiter (often
 * "."). Everything above the Mailbox service works with the user's names; only the Mailbox
 * speaks the server's.
 */

/** The server's personal namespace (RFC 2342 NAMESPACE, or LIST "" ""). */
export interface Hierarchy {
  /** Prepended to personal folders, delimiter included (`INBOX.`); often empty. */
  readonly prefix: string
  /** The hierarchy delimiter; empty on a flat server (NIL). */
  readonly delimiter: string
}

export const slashHierarchy: Hierarchy = { prefix: "", delimiter: "/" }

const isInbox = (name: string): boolean => name.toUpperCase() === "INBOX"

/**
 * Why `name` (written with "/") can be no folder on any server, if it cannot: checked with the
 * settings and categories.json, before any server is asked (a reload with such a name is refused).
 */
export const levelProblem = (name: string): string | undefined => {
  const levels = name.split("/")
  if (levels.some((level) => level.trim() === "")) return "it has an empty level (write levels as A/B/C)"
  // A path, not a name: servers refuse it (Dovecot: "Contains '..' part"), or read it as another folder.
  if (levels.some((level) => level.trim() === "." || level.trim() === "..")) return `it has a "." or ".." level (write each level by its name)`
  return undefined
}

/** Why `name` (written with "/") cannot exist on a server with this hierarchy, if it cannot. */
export const nameProblem = (hierarchy: Hierarchy, name: string): string | undefined => {
  const levels = name.split("/")
  const problem = levelProblem(name)
  if (problem !== undefined) return problem
  if (hierarchy.delimiter === "") {
    return levels.length > 1 ? "it has levels, but the server's folders are flat (it has no hierarchy delimiter)" : undefined
  }
  if (hierarchy.delimiter === "/") return undefined
  const clash = levels.find((level) => level.includes(hierarchy.delimiter))
  return clash === undefined
    ? undefined
    : `"${clash}" holds "${hierarchy.delimiter}", the server's hierarchy delimiter (write levels with "/", ` +
      `e.g. ${levels.map((level) => level.split(hierarchy.delimiter).join("/")).join("/")})`
}

/** The server's name for `name`; the caller has checked `nameProblem` first. */
export const toServerName = (hierarchy: Hierarchy, name: string): string => {
  if (isInbox(name)) return "INBOX"
  const levels = name.split("/")
  const joined = levels.join(hierarchy.delimiter)
  const prefix = hierarchy.prefix
  if (prefix === "") return joined
  // `INBOX/Foo` under an `INBOX.` prefix already names the personal folder `INBOX.Foo`.
  const [first = "", ...rest] = levels
  if (isInbox(first) && rest.length > 0 && isInbox(prefix.slice(0, -hierarchy.delimiter.length))) {
    return ["INBOX", ...rest].join(hierarchy.delimiter)
  }
  // A name that already starts with the prefix is taken as given, as imapflow does.
  return joined.startsWith(prefix) ? joined : prefix + joined
}

/** The user's name for a server's folder name: the personal prefix dropped, levels joined by "/". */
export const fromServerName = (hierarchy: Hierarchy, serverName: string): string => {
  if (isInbox(serverName)) return "INBOX"
  const { prefix, delimiter } = hierarchy
  const unprefixed = prefix !== "" && serverName.toUpperCase().startsWith(prefix.toUpperCase())
    ? serverName.slice(prefix.length)
    : serverName
  return delimiter === "" || delimiter === "/" ? unprefixed : unprefixed.split(delimiter).join("/")
}
