/** `evaluate`: how well the learned model would sort this mailbox, changing nothing. */
import { basename, dirname, join } from "node:path"
import { Clock, Console, Effect, FileSystem, Layer, Option } from "effect"
import { PageNotWritable } from "../../domain/Errors.ts"
import { escapeControls } from "../../domain/Terminal.ts"
import { evaluationLayer, journalReadOnly } from "../../layers.ts"
import { evaluateMailbox, type EvaluationReport } from "../../pipeline/evaluate.ts"
import { Categories } from "../../services/Categories.ts"
import { Journal } from "../../services/Journal.ts"
import { Mailbox } from "../../services/Mailbox.ts"
import { type LlmSettings, loadLlmSettings } from "../../services/Settings.ts"
import { evaluationPage } from "../evaluationPage.ts"
import { formatEvaluation } from "../evaluationText.ts"
import { hasDatabase } from "./dataFolder.ts"
import { loadSortConfig, warnAboutTls } from "./sortConfig.ts"

/**
 * The sorter's moves and labels from the journal, when the data folder has one (read without the
 * lock; nothing is created): what it put in a folder is not the user's filing. A journal that
 * cannot be read leaves everything in, with a warning.
 */
const sorterMoves = (dataDir: string) =>
  Effect.gen(function*() {
    if (!(yield* hasDatabase(dataDir))) {
      // Not a warning: before a first run (what evaluate is for) there is none to find.
      yield* Effect.logInfo(
        `no database in ${escapeControls(dataDir)}: all mail in your folders is taken as your filing (if the sorter has ` +
          "already run, set PROTON_LUMO_DATA to its data folder, or what it moved is graded as yours)"
      )
      return []
    }
    const entries = yield* Journal.use((journal) => journal.list({ states: ["done"] })).pipe(
      Effect.provide(journalReadOnly(dataDir))
    )
    return entries
  }).pipe(
    Effect.catch((error) =>
      Effect.as(
        Effect.logWarning(`the journal could not be read (${error.message}): mail the sorter put in your folders is evaluated as yours`),
        []
      )
    )
  )

/**
 * The page written whole or not at all, before anything is printed (a reader that closes the pipe
 * early stops the program): into a file of its own beside `path`, 0600 (the page names the user's
 * folders and how their mail is spread over them), then renamed over it. A page from an earlier
 * run at `path` is never left truncated.
 */
const writePage = (path: string, page: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
    yield* fs.writeFileString(temporary, page, { mode: 0o600 }).pipe(
      Effect.andThen(fs.chmod(temporary, 0o600)),
      Effect.andThen(fs.rename(temporary, path)),
      Effect.onError(() => Effect.ignore(fs.remove(temporary)))
    )
  }).pipe(Effect.uninterruptible)

/** `--html -`: the page alone, to standard output, in place of the text. */
const STANDARD_OUTPUT = "-"

/** Whether the page can be written at `path`: a writable folder, and not a folder itself. */
const checkPagePath = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const notWritable = (reason: string) => new PageNotWritable({ path: escapeControls(path), reason })
    yield* fs.access(dirname(path), { writable: true }).pipe(
      Effect.mapError(() => notWritable(`${escapeControls(dirname(path))} is not a folder you can write to`))
    )
    const existing = yield* fs.stat(path).pipe(Effect.option)
    if (Option.isSome(existing) && existing.value.type === "Directory") return yield* notWritable("it is a folder: name a file")
  })

/**
 * `evaluate`: the figures of a model trained afresh on the older mail of the user's folders and
 * tested on the newest, printed, and with `--html` written as a page too. The mailbox is opened
 * read-only (EXAMINE; any change refused); of the data folder only the journal is read (the saved
 * model is not used).
 */
export const evaluateCommand = (html: string | undefined) =>
  Effect.gen(function*() {
    const { settings, imap, categories, paths } = yield* loadSortConfig(true)
    // Where the page goes is checked first, not after the whole evaluation.
    if (html !== undefined && html !== STANDARD_OUTPUT) yield* checkPagePath(html)
    yield* warnAboutTls(imap)
    const sorted = yield* sorterMoves(paths.dataDir)
    const layer = evaluationLayer({
      settings,
      categories: Layer.succeed(Categories, categories),
      mailbox: Mailbox.layerImap(imap, { readOnly: true })
    })
    const evaluated = yield* Effect.gen(function*() {
      yield* (yield* Mailbox).checkNames([...settings.folders, ...categories.all.map((category) => category.folder)])
      yield* Effect.logInfo(
        `evaluating on ${imap.host}:${imap.port} as ${imap.user}: your category folders and the read mail in ` +
          `${settings.folders.join(", ")} (read-only: nothing changes)`
      )
      return yield* evaluateMailbox(sorted)
    }).pipe(Effect.provide(layer))
    // An LLM asked about everything the model leaves (SKIP_KEPT=false): nothing is left without it. Settings
    // the sorter would refuse are its to report; here they only decide whether that line is shown.
    const llm = yield* loadLlmSettings.pipe(Effect.orElseSucceed(() => Option.none<LlmSettings>()))
    const report: EvaluationReport = Option.exists(llm, (configured) => !configured.skipKept) ? { ...evaluated, llmAsksKept: true } : evaluated
    // Console.log ends it with its own newline.
    if (html === STANDARD_OUTPUT) return yield* Console.log(evaluationPage(report, yield* Clock.currentTimeMillis).trimEnd())
    if (html !== undefined) yield* writePage(html, evaluationPage(report, yield* Clock.currentTimeMillis))
    yield* Console.log(formatEvaluation(report))
    if (html !== undefined) {
      yield* Console.log(`Wrote ${escapeControls(html)}: open it in a browser (it loads nothing from the network).`)
    }
  })
