/**
 * The data folder, created owner-only with the folders above it that are missing.
 *
 * Not `mkdirSync(path, { recursive: true })`: where a parent exists but refuses new entries with
 * ENOENT (anything under /proc), Node's recursive mkdir retries for ever in a loop that never
 * yields, so the process ignores even SIGTERM. One level at a time, the error is the answer.
 */
import { accessSync, constants, existsSync, mkdirSync } from "node:fs"
import { dirname } from "node:path"

export const makePrivateFolder = (path: string): void => {
  if (existsSync(path)) return
  const parent = dirname(path)
  if (parent !== path) makePrivateFolder(parent)
  mkdirSync(path, { mode: 0o700 })
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
