/**
 * The data folder, created owner-only with the folders above it that are missing.
 *
 * Not `mkdirSync(path, { recursive: true })`: where a parent exists but refuses new entries with
 * ENOENT (anything under /proc), Node's recursive mkdir retries for ever in a loop that never
 * yields, so the process ignores even SIGTERM. One level at a time, the error is the answer.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from "node:fs"
import { dirname } from "node:path"

export const makePrivateFolder = (path: string): void => {
  if (existsSync(path)) return
  const parent = dirname(path)
  if (parent !== path) makePrivateFolder(parent)
  mkdirSync(path, { mode: 0o700 })
}

/**
 * What to say of a data folder others may look into (one the user made before, with their umask):
 * its files are 0600 whatever it is, but their names and sizes show; undefined when it is private.
 */
export const openFolderWarning = (path: string): string | undefined => {
  const mode = statSync(path).mode & 0o777
  return (mode & 0o077) === 0
    ? undefined
    : `the data folder ${path} is open to other users (mode ${mode.toString(8)}; its files are not): chmod 700 ${path}`
}

/**
 * Why a file in the data folder `folder` could not be opened: SQLite says only "unable to open
 * database file", so a folder this user cannot write to is named as the cause.
 */
export const openFailure = (folder: string, error: unknown): string => {
  const reason = error instanceof Error ? error.message : String(error)
  try {
    accessSync(folder, constants.W_OK)
    return reason
  } catch (denied) {
    // Even reading needs a writable folder: SQLite keeps its write-ahead log's index beside the file.
    return denied instanceof Error && "code" in denied && denied.code === "EROFS"
      ? `${reason}: the data folder ${folder} is on a read-only file system (even reading the database needs to write beside it)`
      : `${reason}: the data folder ${folder} cannot be written by this user (it must belong to the user that runs ProtonLumoAI)`
  }
}
