/** `undo`: puts back what the journal says a run (or everything since a time) moved. */
import { Console, Effect, Layer, Option } from "effect"
import type { FolderStatus } from "../../domain/Email.ts"
import { escapeControls } from "../../domain/Terminal.ts"
import { fileStorage, snapshotStorage } from "../../layers.ts"
import { formatHistory } from "../../pipeline/history.ts"
import { CORRECTION_REPEATS, learnUndone } from "../../pipeline/learn.ts"
import { undo } from "../../pipeline/undo.ts"
import { Categories, loadCategories } from "../../services/Categories.ts"
import { DataLock } from "../../services/DataLock.ts"
import { Journal, type JournalQuery } from "../../services/Journal.ts"
import { LearnedModel } from "../../services/LearnedModel.ts"
import { Mailbox } from "../../services/Mailbox.ts"
import { MessageParser } from "../../services/MessageParser.ts"
import { loadImapSettings, loadLearnSetting, loadPathSettings, loadSortSettings, Settings } from "../../services/Settings.ts"
import { hasDatabase, noDatabase } from "./dataFolder.ts"
import { warnAboutTls } from "./sortConfig.ts"

/**
 * What undo tells the learned model of the messages it put back (see `learnUndone`), with the
 * sorting settings and categories; when those cannot be read (undo must work whatever state the
 * configuration is in), the model is left as it is, and the user is told.
 */
const teachModel = (configDir: string) =>
  Effect.gen(function*() {
    const settings = yield* loadSortSettings
    const categories = yield* loadCategories(configDir)
    const context = Layer.mergeAll(Layer.succeed(Categories, categories), MessageParser.layer).pipe(
      Layer.provideMerge(Layer.succeed(Settings, settings))
    )
    return (folder: FolderStatus, uids: ReadonlyArray<number>) =>
      learnUndone(folder, uids).pipe(
        Effect.provide(context),
        Effect.catch((error) =>
          Effect.logWarning(`the learned model was not told of the moves undone in ${escapeControls(folder.path)}: ${error.message}`)
        )
      )
  }).pipe(
    Effect.catch((error) =>
      Effect.as(
        Effect.logWarning(`the learned model is not told of the moves undone: ${error.message}`),
        (_folder: FolderStatus, _uids: ReadonlyArray<number>) => Effect.void
      )
    )
  )

/**
 * What undoing teaches (`done`: it has; else: it would), said with every undo: each message put
 * back is a correction, worth CORRECTION_REPEATS messages, so undoing a whole pass outweighs much
 * of the user's own filing (an outside review: 199 moves undone, and none of the next 200 like them
 * went to the folder the user had filed 426 of them in by hand).
 */
const teachingText = (learn: boolean, learningOn: boolean, done: boolean): string => {
  const worth = `each a correction, worth ${CORRECTION_REPEATS} filed messages`
  if (!learn) return `Nothing ${done ? "was" : "is"} taught (--no-learn): the next pass sorts them again.`
  if (!learningOn) {
    return `Nothing ${done ? "was" : "is"} taught (PROTON_LUMO_LEARN=false): the messages put back stay where they are.`
  }
  return done
    ? `The learned model takes them for mail you keep where it is (${worth}): mail like them now stays.`
    : `Put back, they teach the learned model that mail like them stays where it is (${worth}); if the moves were not ` +
      "wrong (you were trying the sorter out), add --no-learn to teach nothing."
}

export const undoCommand = (
  scope: { readonly lastRun: true } | { readonly since: number },
  dryRun: boolean,
  learn: boolean
) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    const imap = yield* loadImapSettings
    const learningOn = yield* loadLearnSetting
    yield* warnAboutTls(imap)
    if (!(yield* hasDatabase(paths.dataDir))) return yield* Console.log(noDatabase(paths.dataDir))
    yield* Effect.gen(function*() {
      const journal = yield* Journal
      // The time as understood, before anything is put back: a typo shows here, not in the count.
      if ("since" in scope) yield* Console.log(`Moves since ${new Date(scope.since).toISOString()} (UTC):`)
      const query: Option.Option<JournalQuery> = "since" in scope
        ? Option.some({ since: scope.since })
        : Option.map(yield* journal.lastRun, (runId) => ({ runId }))
      if (Option.isNone(query)) return yield* Console.log("Nothing to undo: the journal holds no move.")
      const entries = yield* journal.list({ ...query.value, states: ["done"] })
      if (dryRun || entries.length === 0) {
        const corrections = yield* (yield* LearnedModel).corrections(entries[0]?.at ?? 0)
        // With nothing to list, the history's "the journal is empty" would not be true (an undo before).
        if (entries.length > 0) yield* Console.log(formatHistory(entries, corrections))
        // A move you corrected is not the sorter's to undo: the message is where you put it.
        const corrected = new Set(corrections.map((correction) => correction.journalId))
        const standing = entries.filter((entry) => !corrected.has(entry.id)).length
        return yield* Console.log(
          dryRun
            ? `Would put back at most ${standing} of ${entries.length} messages (those still where the sorter put them` +
              (standing < entries.length ? `; you moved ${entries.length - standing} since` : "") + `). ${teachingText(learn, learningOn, false)}`
            : "Nothing left to put back: 0 messages."
        )
      }
      const afterPutBack = learn ? yield* teachModel(paths.configDir) : () => Effect.void
      // --no-learn: the moves were not wrong; what is put back is sorted again by the next pass.
      const report = yield* undo(query.value, afterPutBack, learn).pipe(Effect.provide(Mailbox.layerImap(imap)))
      yield* Console.log(
        `Put back ${report.restored} of ${entries.length} messages` +
          (report.corrected > 0
            ? `; ${report.corrected} you moved since ${report.corrected === 1 ? "was left where you put it" : "were left where you put them"}`
            : "") +
          (report.alreadyBack > 0 ? `; ${report.alreadyBack} ${report.alreadyBack === 1 ? "was" : "were"} back already` : "") +
          (report.notFound > 0
            ? `; ${report.notFound} not found (moved or deleted since, or not told apart from another message).`
            : ".") +
          (report.restored > 0 ? ` ${teachingText(learn, learningOn, true)}` : "")
      )
    }).pipe(
      // The lock first (not for a dry run, which changes nothing): the model is read from the
      // database after it, so no other sorter saves one between that read and undo's save.
      Effect.provide(
        dryRun ? snapshotStorage(paths.dataDir) : fileStorage(paths.dataDir).pipe(Layer.provideMerge(DataLock.layer(paths.dataDir, "undo")))
      )
    )
  })
