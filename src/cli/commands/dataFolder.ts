/** A data folder as the commands that only read it see it: one without a database yet is said so, and is not created. */
import { join } from "node:path"
import { Effect, FileSystem } from "effect"
import { StateError } from "../../domain/Errors.ts"
import { escapeControls } from "../../domain/Terminal.ts"

export const hasDatabase = Effect.fn("hasDatabase")(function*(dataDir: string) {
  const fs = yield* FileSystem.FileSystem
  const path = join(dataDir, "protonlumo.db")
  // The system's own words (a data folder that is a file: "ENOTDIR: not a directory"), as when a sort opens it.
  return yield* fs.exists(path).pipe(
    Effect.mapError((error) => new StateError({ path, reason: error.cause instanceof Error ? error.cause.message : error.message }))
  )
})

export const noDatabase = (dataDir: string) =>
  `No database yet in ${escapeControls(dataDir)}: nothing has been sorted with this data folder.`
