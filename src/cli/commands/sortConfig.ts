/** The settings a sorting run (and `evaluate`) reads and checks before anything connects. */
import { Effect, Option } from "effect"
import { sourcesThatAreTargets } from "../../domain/Folders.ts"
import { type CategoriesApi, loadCategories } from "../../services/Categories.ts"
import {
  type ImapSettings,
  type LlmSettings,
  loadImapSettings,
  loadLlmSettings,
  loadPathSettings,
  loadSortSettings,
  type PathSettings,
  SettingsError,
  type SortSettings
} from "../../services/Settings.ts"

/** Everything a sorting run is configured with, read and checked before anything connects. */
export interface SortConfig {
  readonly settings: SortSettings
  readonly paths: PathSettings
  readonly imap: ImapSettings
  readonly llm: Option.Option<LlmSettings>
  readonly categories: CategoriesApi
}

export const loadSortConfig = (dryRun: boolean) =>
  Effect.gen(function*() {
    const fromEnv = yield* loadSortSettings
    const llm = yield* loadLlmSettings
    if (fromEnv.llmExamples > 0 && Option.isNone(llm)) {
      yield* Effect.logWarning("PROTON_LUMO_LLM_EXAMPLES is set but no LLM is configured: no example is read or sent")
    }
    const settings = {
      ...fromEnv,
      dryRun: dryRun || fromEnv.dryRun,
      llmExamples: Option.isNone(llm) ? 0 : fromEnv.llmExamples
    }
    const paths = yield* loadPathSettings
    const imap = yield* loadImapSettings
    const categories = yield* loadCategories(paths.configDir)
    const clash = sourcesThatAreTargets(settings.folders, categories.all.map((category) => category.folder))
    if (clash.length > 0) {
      return yield* new SettingsError({
        variable: "PROTON_LUMO_FOLDERS",
        reason: `${clash.join(", ")} is also a category's target folder; it cannot be a source`
      })
    }
    const config: SortConfig = { settings, paths, imap, llm, categories }
    return config
  })

export const warnAboutTls = (imap: ImapSettings) =>
  imap.tlsVerify ? Effect.void : Effect.logWarning(
    "PROTON_LUMO_IMAP_TLS_VERIFY=false: the server's certificate is not checked, so whoever can intercept " +
      "the connection can read your password and mail. Prefer PROTON_LUMO_IMAP_CA_FILE with Bridge's certificate."
  )
