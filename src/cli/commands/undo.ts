/** `undo`: puts back what the journal says a run (or everything since a time) moved. */
import { Console, Effect, Layer, Option } from "effect"
import { fileStorage } from "../../layers.ts"
import { formatHistory } from "../../pipeline/history.ts"
import { undo } from "../../pipeline/undo.ts"
import { DataLock } from "../../services/DataLock.ts"
import { Journal, type JournalQuery } from "../../services/Journal.ts"
import { Mailbox } from "../../services/Mailbox.ts"
import { loadImapSettings, loadPathSettings } from "../../services/Settings.ts"
import { warnAboutTls } from "./sortConfig.ts"

export const undoCommand = (
  scope: { readonly lastRun: true } | { readonly since: number },
  dryRun: boolean
) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    const imap = yield* loadImapSettings
    yield* warnAboutTls(imap)
    yield* Effect.gen(function*() {
      const journal = yield* Journal
      const query: Option.Option<JournalQuery> = "since" in scope
        ? Option.some({ since: scope.since })
        : Option.map(yield* journal.lastRun, (runId) => ({ runId }))
      if (Option.isNone(query)) return yield* Console.log("Nothing to undo: the journal holds no move.")
      const entries = yield* journal.list({ ...query.value, states: ["done"] })
      if (dryRun || entries.length === 0) {
        yield* Console.log(formatHistory(entries))
        return yield* Console.log(`${dryRun ? "Would put back" : "Nothing left to put back:"} ${entries.length} messages.`)
      }
      const report = yield* undo(query.value).pipe(
        Effect.provide(Mailbox.layerImap(imap).pipe(Layer.provide(DataLock.layer(paths.dataDir, "undo"))))
      )
      yield* Console.log(
        `Put back ${report.restored} of ${entries.length} messages` +
          (report.alreadyBack > 0 ? `; ${report.alreadyBack} were back already` : "") +
          (report.notFound > 0
            ? `; ${report.notFound} not found (moved or deleted since, or not told apart from another message).`
            : ".")
      )
    }).pipe(Effect.provide(fileStorage(paths.dataDir)))
  })
