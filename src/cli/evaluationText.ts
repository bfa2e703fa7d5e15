/**
 * `evaluate` as printed in the terminal: a summary, one aligned row per category, the most
 * frequent confusions. Category ids and folder names come from the user's files and the server:
 * every one goes through `escapeControls`, so none can drive the terminal.
 */
import { type CategoryFigures, type ClassFigures, type Evaluation, MAX_MISFILE_RATE, type Share } from "../classify/evaluation.ts"
import { STAY } from "../classify/FolderModel.ts"
import { escapeControls } from "../domain/Terminal.ts"
import type { EvaluationReport } from "../pipeline/evaluate.ts"

/** What was learned and tested: the same sentence in the terminal and on the page. */
export const splitText = (report: EvaluationReport): string =>
  `learned from the oldest 70% of your mail by date (${report.trained} messages), tested on the newest 30% ` +
  `(${report.tested}): one cut through all your folders, as new mail comes (a folder with almost nothing before it, ` +
  `one made recently, and a spam folder, which the server empties, cut by their own dates)`

/** What the figures leave out. */
export const MEASURED_TEXT = "Only the learned model is measured: keywords (and the LLM, when one is configured) also move some of what it leaves."

/** Why nothing would move, when the model could not calibrate; undefined when it could. */
export const calibrationText = (report: EvaluationReport): string | undefined =>
  report.calibrated
    ? undefined
    : report.kinds < 2
    ? "Only one kind of mail to learn from (one category, and no read mail kept in your inbox): the model cannot tell it " +
      "from anything else, so every confidence is 0 and nothing would move (keep your read mail in the inbox, or file into a second category)."
    : "Too little mail to calibrate on: with fewer than about 100 messages to learn from, every confidence is 0 and " +
      "nothing would move yet (file more mail into your category folders, or keep the older read mail in your inbox)."

/** Categories whose folder another names before them (plain text: escape it for where it goes); undefined when none. */
export const sharingText = (report: EvaluationReport): string | undefined =>
  report.sharing.length === 0
    ? undefined
    : `Sharing a folder with a category before them (its mail is learned as that one's, never as theirs): ${
      report.sharing.map((shared) => `${shared.label} (${shared.path}, learned as ${shared.as})`).join(", ")
    }.`

/** How a label is shown: a category id, or what STAY means. */
export const labelName = (label: string): string => (label === STAY ? "(stays)" : label)

/** `83.3%`, or `—` when there is nothing to take a share of. */
export const percent = (value: Share): string => (value === undefined ? "—" : `${(value * 100).toFixed(1)}%`)

/** How much of the test mail the model is sure stays, and how much of that a category's. */
export const keptDetail = (evaluation: Evaluation): string => {
  const { left, ofCategories } = evaluation.keptWithoutLlm
  return `${left} of ${evaluation.total}, the model being sure they stay; ${ofCategories} of them filed in a category ` +
    "(left in place, where the LLM might have filed them)"
}

/** The line on PROTON_LUMO_LLM_SKIP_KEPT: what an LLM would no longer be asked about. */
const keptText = (evaluation: Evaluation): string =>
  `With an LLM, left without asking it (PROTON_LUMO_LLM_SKIP_KEPT): ${keptDetail(evaluation)}`

export const threshold = (value: number): string => value.toFixed(2)

/** A measured confidence, one digit finer than a configured threshold: 0.849 must not read as 0.85. */
export const confidence = (value: number): string => value.toFixed(3)

type Align = "left" | "right"

/**
 * Terminal columns a character takes: two for East Asian wide and full-width characters (CJK,
 * Hangul, full-width forms, most emoji), none for combining marks, else one.
 */
const columnsOf = (char: string): number => {
  const code = char.codePointAt(0) ?? 0
  if (/\p{M}/u.test(char)) return 0
  const wide = (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf) || (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) || (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1faff) || (code >= 0x20000 && code <= 0x3fffd)
  return wide ? 2 : 1
}

/** The columns `text` takes in a terminal. */
const width = (text: string) => [...text].reduce((sum, char) => sum + columnsOf(char), 0)

const name = (label: string) => escapeControls(labelName(label))

/** A title over the columns `from` to `to` (inclusive). */
interface Group {
  readonly from: number
  readonly to: number
  readonly title: string
}

/**
 * Columns padded to their widest cell (in terminal columns: accented names, and CJK ones twice as
 * wide, line up too), under a line of group titles, each over its columns.
 */
const table = (
  groups: ReadonlyArray<Group>,
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align: ReadonlyArray<Align>
) => {
  const widths = header.map((title, column) => Math.max(width(title), ...rows.map((row) => width(row[column] ?? ""))))
  const start = (column: number) => widths.slice(0, column).reduce((sum, w) => sum + w + 2, 0)
  let titles = ""
  for (const group of groups) {
    const span = start(group.to + 1) - 2 - start(group.from)
    const label = ` ${group.title} `
    const dashes = Math.max(0, span - width(label))
    titles = titles.padEnd(start(group.from)) +
      "─".repeat(Math.floor(dashes / 2)) + label + "─".repeat(Math.ceil(dashes / 2))
  }
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => {
      const pad = " ".repeat(Math.max(0, (widths[column] ?? 0) - width(cell)))
      return align[column] === "right" ? pad + cell : cell + pad
    }).join("  ").trimEnd()
  return [...(groups.length === 0 ? [] : [titles]), line(header), ...rows.map(line)].join("\n")
}

/**
 * The lowest threshold under 1% misfiled, and how far so few moves show it; or why there is none
 * (not to be read as "no threshold is safe" when nothing was there to move).
 */
export const safeThresholdText = (figures: Pick<CategoryFigures, "count" | "safeThreshold">): string => {
  const safe = figures.safeThreshold
  return safe._tag === "NothingMoves"
    ? figures.count === 0 ? "no test mail" : `nothing reaches ${confidence(safe.from)}`
    : safe._tag === "AlwaysMisfiles"
    ? "none"
    // Too little test mail to show a rate under 1%: said first, so the number is not taken for advice.
    : safe.misfileBound >= MAX_MISFILE_RATE
    ? `too few to tell (${safe.moved} ${safe.moved === 1 ? "move" : "moves"} from ${confidence(safe.threshold)} up; the rate could be up to ${
      percent(safe.misfileBound)
    })`
    : `${confidence(safe.threshold)} (moves ${safe.moved}, ${percent(safe.recall)} of its mail)`
}

export const formatEvaluation = (report: EvaluationReport): string => {
  const { evaluation } = report
  const folderOf = (label: string) => escapeControls(report.categoryFolders.get(label) ?? "")
  const classRow = (figures: ClassFigures) => [
    name(figures.label),
    figures.label === STAY ? "(read mail left in the source folders)" : folderOf(figures.label),
    String(figures.count),
    percent(figures.precision),
    percent(figures.recall)
  ]
  const rows = [
    ...evaluation.categories.map((figures) => [
      ...classRow(figures),
      threshold(figures.threshold),
      String(figures.moved),
      percent(figures.precisionAtThreshold),
      percent(figures.recallAtThreshold),
      safeThresholdText(figures)
    ]),
    classRow(evaluation.stays)
  ]
  const read = report.folders
    .map((folder) => `${escapeControls(folder.path)} (${folder.label === STAY ? "stays" : name(folder.label)}) ${folder.messages}`)
    .join(", ")
  const { atThresholds } = evaluation
  const confusions = evaluation.confusions.length === 0
    ? ["  none: every top guess was right"]
    : evaluation.confusions.map((confusion) => `  ${String(confusion.count).padStart(5)}  ${name(confusion.truth)} → ${name(confusion.guess)}`)
  return [
    `Evaluated on your own folders: ${splitText(report)}; nothing changed on the server, nothing saved.`,
    MEASURED_TEXT,
    `Read: ${read}${report.unreadable > 0 ? `; ${report.unreadable} unreadable left out` : ""}${
      report.placedBySorter > 0 ? `; ${report.placedBySorter} that the sorter put there left out (not your filing)` : ""
    }.`,
    ...(report.missing.length === 0 ? [] : [
      `Not on the server (nothing to learn from): ${report.missing.map((m) => `${escapeControls(m.path)} (${name(m.label)})`).join(", ")}.`
    ]),
    ...[sharingText(report) ?? []].flat().map(escapeControls),
    "",
    `Accuracy with everything moved: ${percent(evaluation.accuracy)} (${evaluation.right} of ${evaluation.total} top guesses right)`,
    `At your thresholds: ${atThresholds.moved} of ${evaluation.total} moved (coverage ${percent(atThresholds.coverage)}), ` +
    `${atThresholds.right} right (precision ${percent(atThresholds.precision)})`,
    ...(report.llmAsksKept === true ? [] : [keptText(evaluation)]),
    ...[calibrationText(report) ?? []].flat(),
    "",
    table(
      [{ from: 3, to: 4, title: "everything moved" }, { from: 5, to: 8, title: "at the category's threshold" }],
      ["category", "folder", "count", "precision", "recall", "threshold", "moved", "precision", "recall", "lowest threshold under 1% misfiled"],
      rows,
      ["left", "left", "right", "right", "right", "right", "right", "right", "right", "left"]
    ),
    "",
    "Most frequent confusions (where it belongs → the model's top guess):",
    ...confusions,
    "",
    "count: test messages that belong there. precision, recall: of the top guesses, everything moved. threshold, moved,",
    "precision, recall: at the category's confidence_threshold (0.99 at least for a spam folder), as the sorter would move.",
    "A misfile is a message moved into a category it does not belong to; mail left where it is is not one.",
    "(stays): read mail kept in the source folders; right when the model would leave it there."
  ].join("\n")
}
