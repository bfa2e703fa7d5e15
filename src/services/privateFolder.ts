/**
 * The data folder, created owner-only with the folders above it that are missing.
 *
 * Not `mkdirSync(path, { recursive: true })`: where a parent exists but refuses new entries with
 * ENOENT (anything under /proc), Node's recursive mkdir retries for ever in a loop that never
 * yields, so the process ignores even SIGTERM. One level at a time, the error is the answer.
 */
import { existsSync, mkdirSync } from "node:fs"
import { dirname } from "node:path"

export const makePrivateFolder = (path: string): void => {
  if (existsSync(path)) return
  const parent = dirname(path)
  if (parent !== path) makePrivateFolder(parent)
  mkdirSync(path, { mode: 0o700 })
}
