/** A data folder as the commands that only read it see it: one without a database yet is said so, and is not created. */
import { join } from "node:path"
import { Effect, FileSystem } from "effect"
import { escapeControls } from "../../domain/Terminal.ts"

export const hasDatabase = Effect.fn("hasDatabase")(function*(dataDir: string) {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.exists(join(dataDir, "protonlumo.db"))
})

export const noDatabase = (dataDir: string) =>
  `No database yet in ${escapeControls(dataDir)}: nothing has been sorted with this data folder.`
