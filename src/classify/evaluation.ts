/**
 * How well the learned model would sort a user's mail, from its guesses on mail it was not
 * trained on (pipeline/evaluate.ts holds the newest 30% back). Pure: numbers in, figures out.
 *
 * Words, as the figures use them:
 * - *truth*: where the user put the message, a category id, or STAY (read mail kept where it is).
 * - *top guess*: what the model thinks, whatever its confidence (undefined: the message stays).
 *   A message whose truth is STAY is right when its top guess is that it stays.
 * - *moves*: the sorter would act on the guess (a category, learned from enough messages, at a
 *   confidence the category requires). A guess that the message stays never moves anything.
 * - *misfile*: a move into a category of a message that does not belong there (its truth is
 *   another category, or STAY). A message that belongs in a category but is left where it is, is
 *   not a misfile: it is mail not sorted, which the user still sees; a misfile hides mail in the
 *   wrong place, and is what a threshold must keep rare.
 * - *coverage*: the share of all evaluated mail that moves.
 */
import { STAY } from "./FolderModel.ts"

/** The model's answer for one held-out message. */
export interface TestResult {
  /** Where the user filed it: a category id, or STAY. */
  readonly truth: string
  /** The category of its top guess; undefined when the model thinks it stays. */
  readonly guess: string | undefined
  /** The calibrated confidence of that guess. */
  readonly confidence: number
  /** Whether the sorter would move it (the same rule as LearnedClassifier.decisive). */
  readonly moves: boolean
  /**
   * Whether some threshold would move it: a category's guess, learned from enough messages, with a
   * confidence above 0 (`moves` without the threshold).
   */
  readonly movable: boolean
  /**
   * Whether the model is sure it stays (LearnedClassifier.kept): with an LLM, the sorter leaves it
   * without asking (PROTON_LUMO_LLM_SKIP_KEPT). Absent: no.
   */
  readonly kept?: boolean
}

export interface EvaluatedCategory {
  readonly id: string
  /** The confidence the sorter requires to move mail into it (requiredConfidence). */
  readonly threshold: number
  /** The least it ever moves at, whatever its threshold: 0.99 for a spam folder, else 0. */
  readonly floor: number
}

/** The share `part / whole`, undefined when there is no whole to share. */
export type Share = number | undefined

/** How one class (a category, or mail that stays) fares by the top guess, everything moved. */
export interface ClassFigures {
  readonly label: string
  /** Held-out messages that belong to it. */
  readonly count: number
  /** Held-out messages the top guess gives it. */
  readonly guessed: number
  /** Of those, the ones that belong to it. */
  readonly right: number
  /** right / guessed. */
  readonly precision: Share
  /** right / count. */
  readonly recall: Share
}

/**
 * The lowest threshold, of those a user would set (THRESHOLDS), at which moves into a category are
 * misfiled less than MAX_MISFILE_RATE of the time.
 */
export interface SafeThreshold {
  readonly _tag: "Safe"
  readonly threshold: number
  /** Moves into the category at that threshold, and the misfiles among them. */
  readonly moved: number
  readonly misfiles: number
  /** Of the category's own mail, the share moved into it at that threshold. */
  readonly recall: Share
  /**
   * How high the misfile rate could really be, given so few moves (the upper end of its 95%
   * Wilson interval): 0 misfiles in 14 moves fits a rate of up to 22%. At or above
   * MAX_MISFILE_RATE, the test mail was too little to show the rate is under it.
   */
  readonly misfileBound: number
}

/**
 * Why there is no such threshold: no guess into the category reaches the lowest one tried (`from`:
 * a spam folder's floor, or LOWEST_SUGGESTED), or every threshold that moves something misfiles
 * more.
 */
export type NoSafeThreshold =
  | { readonly _tag: "NothingMoves"; readonly from: number }
  | { readonly _tag: "AlwaysMisfiles" }

export interface CategoryFigures extends ClassFigures {
  readonly threshold: number
  /** At the category's threshold: the moves into it, the right ones among them. */
  readonly moved: number
  readonly movedRight: number
  /** movedRight / moved. */
  readonly precisionAtThreshold: Share
  /** movedRight / count. */
  readonly recallAtThreshold: Share
  readonly safeThreshold: SafeThreshold | NoSafeThreshold
}

export interface Confusion {
  readonly truth: string
  /** The top guess (STAY: the model thought it stays). */
  readonly guess: string
  readonly count: number
}

/** One global threshold applied to every category: how much moves, and how much of that is right. */
export interface CurvePoint {
  readonly threshold: number
  readonly coverage: number
  readonly precision: number
}

export interface Evaluation {
  /** Held-out messages evaluated. */
  readonly total: number
  readonly categories: ReadonlyArray<CategoryFigures>
  /** Mail that stays (truth STAY), by the top guess. */
  readonly stays: ClassFigures
  /** Top guesses that are right (everything moved, no threshold), and their share of the total. */
  readonly right: number
  readonly accuracy: Share
  /** At each category's threshold: how much moves (coverage) and how much of that is right. */
  readonly atThresholds: {
    readonly moved: number
    readonly right: number
    readonly coverage: Share
    readonly precision: Share
  }
  /**
   * With an LLM: the mail the model is sure stays, left without asking it (SKIP_KEPT), and how much
   * of that belongs to a category (left in place, where the LLM might have filed it).
   */
  readonly keptWithoutLlm: { readonly left: number; readonly ofCategories: number; readonly share: Share }
  /** The most frequent (truth, top guess) pairs that differ, most frequent first. */
  readonly confusions: ReadonlyArray<Confusion>
  /** Rows: truth; columns: top guess; both in `labels` order (the categories, then STAY). */
  readonly matrix: {
    readonly labels: ReadonlyArray<string>
    readonly counts: ReadonlyArray<ReadonlyArray<number>>
  }
  /** Precision against coverage for one global threshold swept over the guesses' confidences, coverage ascending. */
  readonly curve: ReadonlyArray<CurvePoint>
}

/** Misfiles must stay below this share of the moves into a category. */
export const MAX_MISFILE_RATE = 0.01

/** How many confusions are listed. */
export const TOP_CONFUSIONS = 10

const share = (part: number, whole: number): Share => (whole === 0 ? undefined : part / whole)

/** The top guess as a label: STAY when the model thinks the message stays. */
const topLabel = (result: TestResult): string => result.guess ?? STAY

/**
 * Sweeps a threshold down over the confidences of `guesses` (each right or not): one point per
 * distinct confidence, the moves at that threshold being the guesses at least that confident.
 */
const sweep = (guesses: ReadonlyArray<{ readonly confidence: number; readonly right: boolean }>) => {
  const ordered = guesses.toSorted((a, b) => b.confidence - a.confidence)
  const points: Array<{ readonly threshold: number; readonly moved: number; readonly right: number }> = []
  let moved = 0
  let right = 0
  for (const [index, guess] of ordered.entries()) {
    moved += 1
    if (guess.right) right += 1
    // Ties move together: a point only after the last guess of each confidence.
    if (ordered[index + 1]?.confidence !== guess.confidence) points.push({ threshold: guess.confidence, moved, right })
  }
  return points
}

/** The thresholds `safeThreshold` tries, lowest first: steps of 0.01, then finer ones near 1. */
export const THRESHOLDS: ReadonlyArray<number> = [...Array.from({ length: 100 }, (_, step) => step / 100), 0.995, 0.999]

/**
 * No lower threshold is suggested: below it the model itself thinks a move more likely wrong than
 * right, however well a small test happened to go (and keywords and the LLM read the same threshold).
 */
export const LOWEST_SUGGESTED = 0.5

/** The upper end of the 95% Wilson score interval of `failures` in `trials`. */
export const wilsonUpper = (failures: number, trials: number): number => {
  if (trials === 0) return 1
  const z = 1.96
  const p = failures / trials
  const z2n = (z * z) / trials
  return (p + z2n / 2 + z * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials))) / (1 + z2n)
}

/**
 * The lowest threshold keeping moves into `category` misfiled less than MAX_MISFILE_RATE of the
 * time (the first one met going up, even if a higher one does worse: the rate need not fall as the
 * threshold rises), from the category's floor (and LOWEST_SUGGESTED) up. A threshold must still
 * move something: above every guess nothing is misfiled, but nothing is sorted either.
 */
const safeThreshold = (
  category: EvaluatedCategory,
  results: ReadonlyArray<TestResult>,
  count: number
): SafeThreshold | NoSafeThreshold => {
  const guesses = results.filter((result) => result.movable && result.guess === category.id)
  const from = Math.max(category.floor, LOWEST_SUGGESTED)
  if (!guesses.some((guess) => guess.confidence >= from)) return { _tag: "NothingMoves", from }
  for (const threshold of THRESHOLDS.filter((candidate) => candidate >= from)) {
    const moved = guesses.filter((guess) => guess.confidence >= threshold)
    if (moved.length === 0) break
    const right = moved.filter((guess) => guess.truth === category.id).length
    const misfiles = moved.length - right
    if (misfiles / moved.length < MAX_MISFILE_RATE) {
      return { _tag: "Safe", threshold, moved: moved.length, misfiles, recall: share(right, count), misfileBound: wilsonUpper(misfiles, moved.length) }
    }
  }
  return { _tag: "AlwaysMisfiles" }
}

const classFigures = (label: string, results: ReadonlyArray<TestResult>): ClassFigures => {
  const count = results.filter((result) => result.truth === label).length
  const guessed = results.filter((result) => topLabel(result) === label)
  const right = guessed.filter((result) => result.truth === label).length
  return { label, count, guessed: guessed.length, right, precision: share(right, guessed.length), recall: share(right, count) }
}

/** The figures for these held-out results, in the order of `categories`. */
export const evaluate = (
  results: ReadonlyArray<TestResult>,
  categories: ReadonlyArray<EvaluatedCategory>
): Evaluation => {
  const total = results.length
  const figures = categories.map((category): CategoryFigures => {
    const base = classFigures(category.id, results)
    const moved = results.filter((result) => result.moves && result.guess === category.id)
    const movedRight = moved.filter((result) => result.truth === category.id).length
    return {
      ...base,
      threshold: category.threshold,
      moved: moved.length,
      movedRight,
      precisionAtThreshold: share(movedRight, moved.length),
      recallAtThreshold: share(movedRight, base.count),
      safeThreshold: safeThreshold(category, results, base.count)
    }
  })

  // Labels nobody declared (a guess or truth outside the list) still get a row and a column.
  const labels = [...new Set([...categories.map((category) => category.id), STAY])]
  for (const result of results) {
    for (const label of [result.truth, topLabel(result)]) if (!labels.includes(label)) labels.push(label)
  }
  const index = new Map(labels.map((label, position) => [label, position]))
  const counts = labels.map(() => labels.map(() => 0))
  for (const result of results) {
    const row = counts[index.get(result.truth) ?? -1]
    const column = index.get(topLabel(result)) ?? -1
    if (row !== undefined && column >= 0) row[column] = (row[column] ?? 0) + 1
  }
  const confusions = labels
    .flatMap((truth, row) =>
      labels.map((guess, column) => ({ truth, guess, count: counts[row]?.[column] ?? 0 }))
        .filter((cell) => cell.truth !== cell.guess && cell.count > 0)
    )
    // A stable sort: equal counts keep the matrix order.
    .toSorted((a, b) => b.count - a.count)
    .slice(0, TOP_CONFUSIONS)

  const right = results.filter((result) => result.truth === topLabel(result)).length
  const kept = results.filter((result) => result.kept === true)
  const moves = results.filter((result) => result.moves)
  const movedRight = moves.filter((result) => result.truth === result.guess).length
  // Only what some threshold would move: no guess learned from too few messages or uncalibrated,
  // none into a spam folder under its floor.
  const floorOf = new Map(categories.map((category) => [category.id, category.floor]))
  const curve = sweep(
    results.flatMap((result) =>
      result.guess === undefined || !result.movable || result.confidence < (floorOf.get(result.guess) ?? 0)
        ? []
        : [{ confidence: result.confidence, right: result.truth === result.guess }]
    )
  ).map((point) => ({ threshold: point.threshold, coverage: point.moved / total, precision: point.right / point.moved }))

  return {
    total,
    categories: figures,
    stays: classFigures(STAY, results),
    right,
    accuracy: share(right, total),
    atThresholds: {
      moved: moves.length,
      right: movedRight,
      coverage: share(moves.length, total),
      precision: share(movedRight, moves.length)
    },
    keptWithoutLlm: {
      left: kept.length,
      ofCategories: kept.filter((result) => result.truth !== STAY).length,
      share: share(kept.length, total)
    },
    confusions,
    matrix: { labels, counts },
    curve
  }
}
