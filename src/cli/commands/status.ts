/** `status`: what the database says the sorter did, read without the server or the lock. */
import { Clock, Console, Effect, Option } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { statusStorage } from "../../layers.ts"
import { accountsStatusJson, emptyStatus, formatStatus, readStatus, type StatusDocument, statusJson } from "../../pipeline/status.ts"
import { type Account, forAccount } from "../../services/Accounts.ts"
import { loadCategories } from "../../services/Categories.ts"
import { loadLlmBudgetSettings, loadPathSettings } from "../../services/Settings.ts"
import { hasDatabase, noDatabase } from "./dataFolder.ts"

/** What one data folder says: its status, or None when it has no database yet (nothing is created). */
const readDataFolder = (sharedDir: string | undefined) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    const { dailyTokenBudget, costPer1kTokens } = yield* loadLlmBudgetSettings
    if (!(yield* hasDatabase(paths.dataDir))) {
      return { dataDir: paths.dataDir, status: Option.none<StatusDocument>() }
    }
    // With several accounts the LLM's budget is theirs together, in the shared folder (once used).
    const shared = sharedDir !== undefined && (yield* hasDatabase(sharedDir))
    const budgetDir = shared ? sharedDir : paths.dataDir
    // Only to tell apart what was learned for categories removed since: a categories.json that can't
    // be read leaves every class counted as a category's, and status still answers.
    const categoryIds = yield* loadCategories(paths.configDir).pipe(
      Effect.map((categories) => new Set(categories.all.map((category) => category.id))),
      Effect.orElseSucceed(() => undefined)
    )
    const status = yield* readStatus({ dailyTokenBudget: Option.getOrUndefined(dailyTokenBudget), costPer1kTokens, categoryIds }).pipe(
      Effect.provide(statusStorage(paths.dataDir, dailyTokenBudget, budgetDir))
    )
    // An account's LLM figures are all accounts' together: say so.
    const allAccounts = sharedDir !== undefined
    const shown = allAccounts ? { ...status, llmToday: { ...status.llmToday, allAccounts } } : status
    return { dataDir: paths.dataDir, status: Option.some(shown) }
  })

/**
 * `status`: what the database says, read-only and without the lock (it answers beside a running
 * service); a data folder without a database yet is said so, and is not created.
 */
export const statusCommand = (json: boolean, sharedDir?: string) =>
  Effect.gen(function*() {
    const { dataDir, status } = yield* readDataFolder(sharedDir)
    const now = yield* Clock.currentTimeMillis
    if (json) return yield* Console.log(statusJson(Option.getOrElse(status, () => emptyStatus(now))))
    yield* Console.log(Option.match(status, { onNone: () => noDatabase(dataDir), onSome: formatStatus }))
  })

/**
 * `status` with several accounts and no `--account`: each account's, one after the other (as
 * JSON, one document with each account's under its name).
 */
export const allAccountsStatus = (json: boolean, accounts: NonEmptyReadonlyArray<Account>) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const read = yield* Effect.forEach(accounts, (account) =>
      forAccount(account)(Effect.map(readDataFolder(account.sharedDir), (folder) => ({ account, ...folder }))))
    if (json) {
      return yield* Console.log(accountsStatusJson(read.map(({ account, status }) =>
        [account.name, Option.getOrElse(status, () => emptyStatus(now))] as const)))
    }
    yield* Console.log(read.map(({ account, dataDir, status }) =>
      `[${account.name}]\n${Option.match(status, { onNone: () => noDatabase(dataDir), onSome: formatStatus })}`).join("\n\n"))
  })
