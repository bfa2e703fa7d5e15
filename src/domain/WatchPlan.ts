/**
 * How the service watches its source folders for new mail within PROTON_LUMO_MAX_CONNECTIONS
 * connections per account, the sorting one included.
 *
 * The first folder is watched by the sorting connection itself (IMAP IDLE between its sorts, as
 * with one folder): it needs no connection of its own, and the sorting connection has nothing
 * else to wait on. Each other folder gets a watcher connection of its own that IDLEs on it
 * (EXAMINE, read-only), as long as connections are left; when they are not, the last watcher
 * connection asks STATUS (UIDNEXT) of all the remaining folders every second instead: one cheap
 * command per folder, and new mail there is still seen within a second.
 */

/** Which folders get an IDLE connection each, and which one connection polls with STATUS. */
export interface WatchPlan {
  /** One watcher connection each, on IDLE. */
  readonly idle: ReadonlyArray<string>
  /** All on one watcher connection, STATUS every second (none: no such connection). */
  readonly polled: ReadonlyArray<string>
}

export const noWatchers: WatchPlan = { idle: [], polled: [] }

/**
 * The plan for `folders` (the configured source folders, the first one watched by the sorting
 * connection) with at most `maxConnections` connections in all. One connection (or one folder):
 * no watchers, the other folders wait for the full passes.
 */
export const watchPlan = (folders: ReadonlyArray<string>, maxConnections: number): WatchPlan => {
  const others = folders.slice(1)
  const watchers = Math.max(0, Math.floor(maxConnections) - 1)
  if (watchers === 0 || others.length === 0) return noWatchers
  if (others.length <= watchers) return { idle: others, polled: [] }
  return { idle: others.slice(0, watchers - 1), polled: others.slice(watchers - 1) }
}

/** The watcher connections a plan opens (besides the sorting one). */
export const watcherConnections = (plan: WatchPlan): number => plan.idle.length + (plan.polled.length > 0 ? 1 : 0)

/** The plan in words, for the service's first log line. */
export const describePlan = (first: string, plan: WatchPlan): string =>
  [
    `new mail as it arrives (IDLE) in ${first} (on the sorting connection)`,
    ...(plan.idle.length > 0 ? [`in ${plan.idle.join(", ")} (IDLE, a connection each)`] : []),
    ...(plan.polled.length > 0 ? [`in ${plan.polled.join(", ")} (STATUS every second, on one connection)`] : [])
  ].join(", ")
