/**
 * What `status` says, read from the database alone (no server, no lock, no LLM): each source
 * folder's last pass, what waits to be tried again, what moved today per category, the
 * corrections of the last 7 days, what the learned model has learned (and what a scan still in
 * progress has read for it, when the last scan completed, and the last that failed), the LLM's
 * calls, tokens and estimated cost today against the daily budget and its failures, and the last
 * error. Days are UTC days, as the token budget counts them.
 */
import { DateTime, Effect, Schema } from "effect"
import { escapeControls, escapeJsonControls } from "../domain/Terminal.ts"
import { Journal } from "../services/Journal.ts"
import { STAY } from "../classify/FolderModel.ts"
import { LearnedModel } from "../services/LearnedModel.ts"
import { correctionCounts, correctionRateText, RATE_DAYS } from "./learn.ts"
import { budgetDay, LlmBudget } from "../services/LlmBudget.ts"
import { type FolderPass, PassLog } from "../services/PassLog.ts"
import { SortState } from "../services/SortState.ts"

const Iso = Schema.String

const LastPass = Schema.Struct({
  folder: Schema.String,
  endedAt: Iso,
  elapsedMillis: Schema.Number,
  moved: Schema.Number,
  left: Schema.Number,
  failed: Schema.Number,
  /** Beyond MAX_EMAILS_PER_FOLDER, left for the next pass. */
  remaining: Schema.Number,
  /** Failed before, waiting for their next try when the pass ran. */
  waiting: Schema.Number,
  /** Of those left, what the learned model was sure stays: the LLM was not asked (PROTON_LUMO_LLM_SKIP_KEPT). */
  keptWithoutLlm: Schema.Number,
  /** Why the pass failed; null when it succeeded. */
  error: Schema.NullOr(Schema.String),
  /** The folder's last pass that handled mail (this one, or an earlier one); null if none. */
  lastHandled: Schema.NullOr(Schema.Struct({ at: Iso, moved: Schema.Number, left: Schema.Number, failed: Schema.Number }))
})

/** The `status --json` document (README, "status"). */
export const StatusDocument = Schema.Struct({
  at: Iso,
  folders: Schema.Array(LastPass),
  retrying: Schema.Array(Schema.Struct({ folder: Schema.String, messages: Schema.Number, nextAt: Iso })),
  movedToday: Schema.Struct({ since: Iso, total: Schema.Number, byCategory: Schema.Record(Schema.String, Schema.Number) }),
  correctionsLast7Days: Schema.Number,
  /** Of the sorter's moves in the last `days` days, how many you corrected: the truest accuracy figure there is. */
  correctionRate: Schema.Struct({ days: Schema.Number, moves: Schema.Number, corrected: Schema.Number }),
  learned: Schema.Struct({
    /** Messages the model learned per category id, from your folders and corrections. */
    byCategory: Schema.Record(Schema.String, Schema.Number),
    /** Messages it learned as staying where they are. */
    stays: Schema.Number,
    /** Read by a scan of the folders still in progress (a big first scan): learned once it completes. */
    readNotYetLearned: Schema.Number,
    /**
     * Messages learned for category ids that categories.json no longer has: the model keeps them, and
     * uses them again if the category comes back. Absent when categories.json could not be read.
     */
    notInCategories: Schema.optional(Schema.Record(Schema.String, Schema.Number)),
    /** The last scan of the folders that completed: when, and what it learned; null if none recorded. */
    lastScan: Schema.NullOr(Schema.Struct({ at: Iso, learned: Schema.Number, stays: Schema.Number, corrections: Schema.Number })),
    /** The last scan that failed (the pass sorted with what was learned before), kept after later ones complete. */
    lastFailure: Schema.NullOr(Schema.Struct({ at: Iso, message: Schema.String }))
  }),
  llmToday: Schema.Struct({
    day: Schema.String,
    calls: Schema.Number,
    tokens: Schema.Number,
    estimatedCost: Schema.Number,
    dailyTokenBudget: Schema.NullOr(Schema.Number),
    /** Calls that failed (after their retries) and answers that held no verdict: keywords stood in. */
    problems: Schema.Number,
    lastProblem: Schema.NullOr(Schema.Struct({ at: Iso, message: Schema.String })),
    /** The accounts of PROTON_LUMO_ACCOUNTS share the LLM: these figures are all of theirs together. */
    allAccounts: Schema.optional(Schema.Boolean)
  }),
  lastError: Schema.NullOr(Schema.Struct({ at: Iso, folder: Schema.String, message: Schema.String }))
})
export type StatusDocument = typeof StatusDocument.Type

/** The document as JSON text: checked against the schema on the way out. */
export const statusJson = (document: StatusDocument): string =>
  escapeJsonControls(JSON.stringify(Schema.encodeSync(StatusDocument)(document), null, 2))

/** Several accounts' documents as one JSON text, `{ "accounts": { name: document, … } }`. */
export const accountsStatusJson = (documents: ReadonlyArray<readonly [string, StatusDocument]>): string => {
  const accounts = Object.fromEntries(documents.map(([name, document]) => [name, Schema.encodeSync(StatusDocument)(document)]))
  return escapeJsonControls(JSON.stringify({ accounts }, null, 2))
}

/** What there is to say when there is no database yet. */
export const emptyStatus = (now: number): StatusDocument => ({
  at: iso(now),
  folders: [],
  retrying: [],
  movedToday: { since: iso(startOfDay(now)), total: 0, byCategory: {} },
  correctionsLast7Days: 0,
  correctionRate: { days: RATE_DAYS, moves: 0, corrected: 0 },
  learned: { byCategory: {}, stays: 0, readNotYetLearned: 0, lastScan: null, lastFailure: null },
  llmToday: { day: budgetDay(now), calls: 0, tokens: 0, estimatedCost: 0, dailyTokenBudget: null, problems: 0, lastProblem: null },
  lastError: null
})

const DAY = 86_400_000

const iso = (at: number): string => new Date(at).toISOString()

const startOfDay = (now: number): number => now - (now % DAY)

const lastPassOf = (pass: FolderPass): typeof LastPass.Type => ({
  folder: pass.folder,
  endedAt: iso(pass.endedAt),
  elapsedMillis: pass.elapsedMillis,
  moved: pass.moved,
  left: pass.left,
  failed: pass.failed,
  remaining: pass.remaining,
  waiting: pass.waiting,
  keptWithoutLlm: pass.kept,
  error: pass.error ?? null,
  lastHandled: pass.lastHandled === undefined ? null : { ...pass.lastHandled, at: iso(pass.lastHandled.at) }
})

const lastErrorOf = (passes: ReadonlyArray<FolderPass>): StatusDocument["lastError"] => {
  const newest = passes
    .flatMap((pass) => (pass.lastError === undefined ? [] : [{ folder: pass.folder, ...pass.lastError }]))
    .reduce<{ folder: string; at: number; message: string } | undefined>(
      (latest, error) => (latest === undefined || error.at > latest.at ? error : latest),
      undefined
    )
  return newest === undefined ? null : { at: iso(newest.at), folder: newest.folder, message: newest.message }
}

/** Today's completed moves (not labels, not undone) per category. */
const movesToday = (since: number) =>
  Effect.gen(function*() {
    const entries = yield* (yield* Journal).list({ since, states: ["done"] })
    // Counted in a Map: a category may be called `__proto__`, which an object's [] would swallow.
    const counts = new Map<string, number>()
    const moves = entries.filter((entry) => entry.action === "move")
    for (const entry of moves) counts.set(entry.category, (counts.get(entry.category) ?? 0) + 1)
    return { since: iso(since), total: moves.length, byCategory: Object.fromEntries(counts) }
  })

/**
 * What the model learned, per category and staying, and what a scan in progress read for it; with
 * the ids of categories.json (when it could be read), what it learned for categories removed since
 * is told apart.
 */
const learnedSoFar = (categoryIds: ReadonlySet<string> | undefined) =>
  Effect.gen(function*() {
    const model = yield* LearnedModel
    const all = yield* model.classes
    const classes = all.filter(({ label, examples }) => label !== STAY && examples > 0)
    const configured = classes.filter(({ label }) => categoryIds === undefined || categoryIds.has(label))
    const removed = classes.filter(({ label }) => categoryIds !== undefined && !categoryIds.has(label))
    const { lastScan, lastFailure } = yield* (yield* PassLog).learning
    return {
      byCategory: Object.fromEntries(configured.map(({ label, examples }) => [label, examples])),
      stays: all.find((c) => c.label === STAY)?.examples ?? 0,
      readNotYetLearned: yield* model.heldCount,
      ...(categoryIds === undefined ? {} : { notInCategories: Object.fromEntries(removed.map(({ label, examples }) => [label, examples])) }),
      lastScan: lastScan === undefined ? null : { ...lastScan, at: iso(lastScan.at) },
      lastFailure: lastFailure === undefined ? null : { ...lastFailure, at: iso(lastFailure.at) }
    }
  })

export interface StatusOptions {
  readonly dailyTokenBudget: number | undefined
  readonly costPer1kTokens: number
  /** The category ids of categories.json; undefined when it could not be read (every class counts as one). */
  readonly categoryIds?: ReadonlySet<string> | undefined
}

/** The status as of now, from the services over the (read-only) database. */
export const readStatus = Effect.fn("readStatus")(function*(options: StatusOptions) {
  const now = DateTime.toEpochMillis(yield* DateTime.now)
  const passes = yield* (yield* PassLog).latest
  const retrying = yield* (yield* SortState).retrying
  const corrections = yield* (yield* LearnedModel).corrections(now - 7 * DAY)
  const usage = yield* (yield* LlmBudget).usageToday
  const document: StatusDocument = {
    at: iso(now),
    folders: passes.map(lastPassOf),
    retrying: retrying.map((r) => ({ folder: r.folder, messages: r.messages, nextAt: iso(r.nextAt) })),
    movedToday: yield* movesToday(startOfDay(now)),
    correctionsLast7Days: corrections.length,
    correctionRate: yield* correctionCounts(),
    learned: yield* learnedSoFar(options.categoryIds),
    llmToday: {
      day: usage.day,
      calls: usage.calls,
      tokens: usage.tokens,
      estimatedCost: (usage.tokens / 1000) * options.costPer1kTokens,
      dailyTokenBudget: options.dailyTokenBudget ?? null,
      problems: usage.problems,
      lastProblem: usage.lastProblem === undefined ? null : { at: iso(usage.lastProblem.at), message: usage.lastProblem.message }
    },
    lastError: lastErrorOf(passes)
  }
  return document
})

const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`

const passLine = (pass: typeof LastPass.Type): string => {
  const what = pass.error === null
    ? `moved ${pass.moved}, left ${pass.left}` +
      (pass.keptWithoutLlm > 0 ? ` (${pass.keptWithoutLlm} without asking the LLM, sure to stay)` : "") +
      `, failed ${pass.failed}; backlog ${pass.remaining}, waiting ${pass.waiting}`
    : `FAILED: ${pass.error}`
  // A service's last pass nearly always found nothing new: the last one that did says more.
  const handled = pass.lastHandled
  const earlier = handled === null || handled.at === pass.endedAt
    ? ""
    : `; the last to handle mail: ${handled.at} moved ${handled.moved}, left ${handled.left}, failed ${handled.failed}`
  return `  ${pass.folder}: ${pass.endedAt} (${seconds(pass.elapsedMillis)}) ${what}${earlier}`
}

/** The busiest first, as `category n`. */
const busiestFirst = (counts: Readonly<Record<string, number>>): ReadonlyArray<string> =>
  Object.entries(counts)
    .toSorted(([a, m], [b, n]) => n - m || a.localeCompare(b))
    .map(([category, n]) => `${category} ${n}`)

const removedLine = (removed: Readonly<Record<string, number>>): ReadonlyArray<string> => {
  const named = busiestFirst(removed)
  return named.length === 0
    ? []
    : [`  kept for categories no longer in categories.json (used again if you add them back): ${named.join(", ")}`]
}

const thatStay = (n: number): string => `${n} that ${n === 1 ? "stays" : "stay"}`

const learnedLines = (learned: StatusDocument["learned"]): ReadonlyArray<string> => {
  const categories = busiestFirst(learned.byCategory)
  const total = Object.values(learned.byCategory).reduce((sum, n) => sum + n, learned.stays)
  return [
    total === 0
      ? "Learned: nothing yet"
      : `Learned: ${total} messages (${[...categories, ...(learned.stays > 0 ? [thatStay(learned.stays)] : [])].join(", ")})`,
    ...(learned.readNotYetLearned > 0
      ? [`  a scan of the folders is in progress: ${learned.readNotYetLearned} read so far, learned when it completes`]
      : []),
    ...removedLine(learned.notInCategories ?? {}),
    ...scanLines(learned)
  ]
}

/**
 * The last scan that completed, and a failure no later scan completed after (an older one is in
 * `--json`; a scan that could not read a folder completed at the same time). ISO times compare as text.
 */
const scanLines = ({ lastScan, lastFailure }: StatusDocument["learned"]): ReadonlyArray<string> => [
  ...(lastScan === null
    ? []
    : [`  last scan of the folders: ${lastScan.at}, learned ${lastScan.learned} filed, ${thatStay(lastScan.stays)}, ${lastScan.corrections} correction(s)`]),
  ...(lastFailure === null || (lastScan !== null && lastScan.at > lastFailure.at)
    ? []
    : [`  learning FAILED at ${lastFailure.at}: ${lastFailure.message}`])
]

const budgetText = (llm: StatusDocument["llmToday"]): string =>
  llm.dailyTokenBudget === null
    ? "(no daily budget)"
    : `of a daily budget of ${llm.dailyTokenBudget} (${((100 * llm.tokens) / llm.dailyTokenBudget).toFixed(1)}%)`

/** The human summary; names and messages from mail or servers escaped. */
export const formatStatus = (status: StatusDocument): string => {
  const categories = busiestFirst(status.movedToday.byCategory)
  const llm = status.llmToday
  return [
    `Status at ${status.at}`,
    "Last pass per folder:",
    ...(status.folders.length === 0 ? ["  none recorded yet"] : status.folders.map(passLine)),
    status.retrying.length === 0
      ? "Waiting for a retry: nothing"
      : `Waiting for a retry: ${status.retrying.map((r) => `${r.folder} ${r.messages} (next try ${r.nextAt})`).join(", ")}`,
    `Moved today (since ${status.movedToday.since}): ${status.movedToday.total}` +
    (categories.length === 0 ? "" : ` (${categories.join(", ")})`),
    `Corrections in the last 7 days: ${status.correctionsLast7Days}; ${correctionRateText(status.correctionRate)}`,
    ...learnedLines(status.learned),
    `LLM today (${llm.day}${llm.allAccounts === true ? ", all accounts together" : ""}): ${llm.calls} calls, ` +
    `${llm.tokens} tokens ${budgetText(llm)}, estimated cost ${llm.estimatedCost.toFixed(4)}`,
    ...(llm.lastProblem === null
      ? []
      : [`  ${llm.problems} problem(s), calls that failed or answers it could not use (keywords stood in); the last at ${llm.lastProblem.at}: ${llm.lastProblem.message}`]),
    status.lastError === null
      ? "Last error: none"
      : `Last error: ${status.lastError.at} ${status.lastError.folder}: ${status.lastError.message}`
  ].map((line) => escapeControls(line)).join("\n")
}
