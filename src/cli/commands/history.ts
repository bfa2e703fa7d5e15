/** `history`: the journal of moves and the corrections among them, from the database. */
import { Console, Effect } from "effect"
import { fileStorage } from "../../layers.ts"
import { formatHistory } from "../../pipeline/history.ts"
import { Journal } from "../../services/Journal.ts"
import { LearnedModel } from "../../services/LearnedModel.ts"
import { loadPathSettings } from "../../services/Settings.ts"

export const historyCommand = (limit: number) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    yield* Effect.gen(function*() {
      const entries = yield* (yield* Journal).list({ limit })
      const corrections = yield* (yield* LearnedModel).corrections(entries[0]?.at ?? 0)
      yield* Console.log(formatHistory(entries, corrections))
    }).pipe(Effect.provide(fileStorage(paths.dataDir)))
  })
