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
export const statusCommand = (json: boolean) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    const { dailyTokenBudget, costPer1kTokens } = yield* loadLlmBudgetSettings
    const file = join(paths.dataDir, "protonlumo.db")
    if (!(yield* (yield* FileSystem.FileSystem).exists(file))) {
      return yield* Console.log(
        json
          ? statusJson(emptyStatus(yield* Clock.currentTimeMillis))
          : `No database yet in ${escapeControls(paths.dataDir)}: nothing has been sorted with this data folder.`
      )
    }
    const status = yield* readStatus({ dailyTokenBudget: Option.getOrUndefined(dailyTokenBudget), costPer1kTokens }).pipe(
      Effect.provide(statusStorage(paths.dataDir, dailyTokenBudget))
    )
    yield* Console.log(json ? statusJson(status) : formatStatus(status))
  })
