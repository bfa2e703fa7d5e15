/** `history`: the journal of moves and the corrections among them, from the database. */
import { Console, Effect } from "effect"
import { readOnlyStorage } from "../../layers.ts"
import { formatHistory } from "../../pipeline/history.ts"
import { Journal } from "../../services/Journal.ts"
import { LearnedModel } from "../../services/LearnedModel.ts"
import { loadPathSettings } from "../../services/Settings.ts"
import { hasDatabase, noDatabase } from "./dataFolder.ts"

export const historyCommand = (limit: number) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    if (!(yield* hasDatabase(paths.dataDir))) return yield* Console.log(noDatabase(paths.dataDir))
    yield* Effect.gen(function*() {
      const entries = yield* (yield* Journal).list({ limit })
      const corrections = yield* (yield* LearnedModel).corrections(entries[0]?.at ?? 0)
      yield* Console.log(formatHistory(entries, corrections))
    }).pipe(
      // Read-only: looking changes nothing, not even the file's version.
      Effect.provide(readOnlyStorage(paths.dataDir))
    )
  })
