/** `status`: what the database says the sorter did, read without the server or the lock. */
import { join } from "node:path"
import { Clock, Console, Effect, FileSystem, Option } from "effect"
import { escapeControls } from "../../domain/Terminal.ts"
import { statusStorage } from "../../layers.ts"
import { emptyStatus, formatStatus, readStatus, statusJson } from "../../pipeline/status.ts"
import { loadLlmBudgetSettings, loadPathSettings } from "../../services/Settings.ts"

/**
 * `status`: what the database says, read-only and without the lock (it answers beside a running
 * service); a data folder without a database yet is said so, and is not created.
 */
export const statusCommand = (json: boolean, sharedDir?: string) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    const { dailyTokenBudget, costPer1kTokens } = yield* loadLlmBudgetSettings
    const fs = yield* FileSystem.FileSystem
    if (!(yield* fs.exists(join(paths.dataDir, "protonlumo.db")))) {
      return yield* Console.log(
        json
          ? statusJson(emptyStatus(yield* Clock.currentTimeMillis))
          : `No database yet in ${escapeControls(paths.dataDir)}: nothing has been sorted with this data folder.`
      )
    }
    // With several accounts the LLM's budget is theirs together, in the shared folder (once used).
    const shared = sharedDir !== undefined && (yield* fs.exists(join(sharedDir, "protonlumo.db")))
    const budgetDir = shared ? sharedDir : paths.dataDir
    const status = yield* readStatus({ dailyTokenBudget: Option.getOrUndefined(dailyTokenBudget), costPer1kTokens }).pipe(
      Effect.provide(statusStorage(paths.dataDir, dailyTokenBudget, budgetDir))
    )
    yield* Console.log(json ? statusJson(status) : formatStatus(status))
  })
