/** The evaluation's figures on a small case computed by hand. */
import { describe, expect, it } from "vitest"
import { evaluate, LOWEST_SUGGESTED, type TestResult, wilsonUpper } from "../../src/classify/evaluation.ts"
import { STAY } from "../../src/classify/FolderModel.ts"
import { safeThresholdText } from "../../src/cli/evaluationText.ts"

/**
 * Categories A (threshold 0.8), B (0.5), C (0.7); twelve held-out messages:
 *
 *   #   truth  guess  conf  moves   top guess right?
 *   1   A      A      0.95  yes     yes
 *   2   A      A      0.85  yes     yes
 *   3   A      B      0.60  yes     no   (misfile into B)
 *   4   A      stay   0.70  no      no
 *   5   B      B      0.90  yes     yes
 *   6   B      B      0.55  yes     yes
 *   7   B      A      0.75  no      no   (below A's 0.8)
 *   8   stay   stay   0.80  no      yes
 *   9   stay   A      0.82  yes     no   (misfile into A)
 *   10  stay   B      0.40  no      no   (below B's 0.5)
 *   11  stay   C      0.99  yes     no   (misfile into C)
 *   12  B      A      0.30  no      no
 *
 * Top guess right: 1, 2, 5, 6, 8 → accuracy 5/12.
 * A: belongs 1-4 (4), guessed 1, 2, 7, 9, 12 (5), right 2 → precision 2/5, recall 2/4.
 * B: belongs 5, 6, 7, 12 (4), guessed 3, 5, 6, 10 (4), right 2 → precision 2/4, recall 2/4.
 * C: belongs none, guessed 11, right 0 → precision 0, recall undefined.
 * Stays: belongs 8-11 (4), guessed 4, 8 (2), right 1 → precision 1/2, recall 1/4.
 * At the thresholds: moves 1, 2, 3, 5, 6, 9, 11 (7 of 12), right 1, 2, 5, 6 (4) → coverage 7/12, precision 4/7.
 *   A: moves 1, 2, 9, right 2 → 2/3, recall 2/4. B: moves 3, 5, 6, right 2 → 2/3, recall 2/4. C: moves 11, right 0.
 * Lowest threshold (in steps of 0.01) with misfiles under 1%:
 *   A's guesses, down: 0.95 r, 0.85 r, 0.82 w, 0.75 w, 0.30 w → 0.83 (2 moves, 0 misfiles, recall 2/4).
 *   B's: 0.90 r, 0.60 w, 0.55 r, 0.40 w → 0.61 (1 move, recall 1/4). C's: 0.99 w → none.
 * Confusions: B→A twice; then once each, in matrix order: A→B, A→stay, stay→A, stay→B, stay→C.
 * Curve (all guesses but "stay", down): .99 w, .95 r, .90 r, .85 r, .82 w, .75 w, .60 w, .55 r, .40 w, .30 w:
 *   at .99 1 moved 0 right; at .85 4 moved 3 right; at .30 10 moved 4 right.
 */
const row = (truth: string, guess: string | undefined, confidence: number, moves: boolean, movable = guess !== undefined): TestResult => ({
  truth,
  guess,
  confidence,
  moves,
  movable
})

const results: ReadonlyArray<TestResult> = [
  row("A", "A", 0.95, true),
  row("A", "A", 0.85, true),
  row("A", "B", 0.6, true),
  row("A", undefined, 0.7, false),
  row("B", "B", 0.9, true),
  row("B", "B", 0.55, true),
  row("B", "A", 0.75, false),
  row(STAY, undefined, 0.8, false),
  row(STAY, "A", 0.82, true),
  row(STAY, "B", 0.4, false),
  row(STAY, "C", 0.99, true),
  row("B", "A", 0.3, false)
]

const categories = [{ id: "A", threshold: 0.8, floor: 0 }, { id: "B", threshold: 0.5, floor: 0 }, { id: "C", threshold: 0.7, floor: 0 }]

describe("evaluate", () => {
  const evaluation = evaluate(results, categories)
  const [a, b, c] = evaluation.categories

  it("accuracy with everything moved, per class precision, recall and count", () => {
    expect(evaluation.total).toBe(12)
    expect(evaluation.right).toBe(5)
    expect(evaluation.accuracy).toBeCloseTo(5 / 12, 12)
    expect(a).toMatchObject({ label: "A", count: 4, guessed: 5, right: 2, precision: 2 / 5, recall: 2 / 4 })
    expect(b).toMatchObject({ label: "B", count: 4, guessed: 4, right: 2, precision: 2 / 4, recall: 2 / 4 })
    expect(c).toMatchObject({ label: "C", count: 0, guessed: 1, right: 0, precision: 0, recall: undefined })
    expect(evaluation.stays).toEqual({ label: STAY, count: 4, guessed: 2, right: 1, precision: 1 / 2, recall: 1 / 4 })
  })

  it("what the model is sure stays (left without an LLM): counted, and how much of it a category's", () => {
    expect(evaluation.keptWithoutLlm).toEqual({ left: 0, ofCategories: 0, share: 0 })
    const kept = evaluate([
      { ...row(STAY, undefined, 0.95, false, false), kept: true },
      { ...row("A", undefined, 0.91, false, false), kept: true },
      row(STAY, undefined, 0.6, false, false),
      row("A", "A", 0.97, true)
    ], categories)
    expect(kept.keptWithoutLlm).toEqual({ left: 2, ofCategories: 1, share: 2 / 4 })
  })

  it("coverage and precision at the categories' thresholds", () => {
    expect(evaluation.atThresholds).toEqual({ moved: 7, right: 4, coverage: 7 / 12, precision: 4 / 7 })
    expect(a).toMatchObject({ threshold: 0.8, moved: 3, movedRight: 2, precisionAtThreshold: 2 / 3, recallAtThreshold: 2 / 4 })
    expect(b).toMatchObject({ threshold: 0.5, moved: 3, movedRight: 2, precisionAtThreshold: 2 / 3, recallAtThreshold: 2 / 4 })
    expect(c).toMatchObject({ moved: 1, movedRight: 0, precisionAtThreshold: 0, recallAtThreshold: undefined })
  })

  it("the lowest threshold keeping misfiles under 1%, or none", () => {
    expect(a?.safeThreshold).toEqual({ _tag: "Safe", threshold: 0.83, moved: 2, misfiles: 0, recall: 2 / 4, misfileBound: wilsonUpper(0, 2) })
    expect(b?.safeThreshold).toEqual({ _tag: "Safe", threshold: 0.61, moved: 1, misfiles: 0, recall: 1 / 4, misfileBound: wilsonUpper(0, 1) })
    expect(b === undefined ? "" : safeThresholdText(b)).toMatch(/^too few to tell \(1 move from 0\.610 up; the rate could be up to /)
    expect(c?.safeThreshold).toEqual({ _tag: "AlwaysMisfiles" })
    expect(c === undefined ? "" : safeThresholdText(c)).toBe("none")
  })

  it("says why there is no such threshold when nothing would move: no test mail, or no guess sure enough for a spam folder", () => {
    const figures = evaluate([
      row("S", "S", 0.97, true),
      row("A", "A", 0.9, true),
      row("A", "A", 0.4, true)
    ], [{ id: "S", threshold: 0.7, floor: 0.99 }, { id: "A", threshold: 0.8, floor: 0 }, { id: "N", threshold: 0.8, floor: 0 }])
    const [spam, , news] = figures.categories
    expect(spam?.safeThreshold).toEqual({ _tag: "NothingMoves", from: 0.99 })
    expect(spam === undefined ? "" : safeThresholdText(spam)).toBe("nothing reaches 0.990")
    expect(news?.safeThreshold).toEqual({ _tag: "NothingMoves", from: LOWEST_SUGGESTED })
    expect(news === undefined ? "" : safeThresholdText(news)).toBe("no test mail")
  })

  it("the curve holds only what some threshold would move: nothing uncalibrated, nothing into a spam folder under its floor", () => {
    const curve = evaluate([
      row("S", "S", 0.995, true),
      row(STAY, "S", 0.95, false),
      row("A", "A", 0.9, true),
      row(STAY, "A", 0.999, false, false)
    ], [{ id: "S", threshold: 0.99, floor: 0.99 }, { id: "A", threshold: 0.8, floor: 0 }]).curve
    expect(curve).toEqual([{ threshold: 0.995, coverage: 1 / 4, precision: 1 }, { threshold: 0.9, coverage: 2 / 4, precision: 1 }])
  })

  it("says how high the misfile rate could be, given so few moves: 0 of 14 fits up to 22%; 0 of 400 shows under 1%", () => {
    expect(wilsonUpper(0, 14)).toBeCloseTo(0.2153, 3)
    expect(wilsonUpper(0, 400)).toBeLessThan(0.01)
    expect(wilsonUpper(0, 300)).toBeGreaterThan(0.01)
    expect(wilsonUpper(5, 100)).toBeCloseTo(0.1118, 3)
    expect(wilsonUpper(0, 0)).toBe(1)
  })

  it("every guess right: the lowest threshold of all; a spam folder's from its floor; what never moves is left out", () => {
    const allRight = evaluate([row("A", "A", 0.97, true), row("A", "A", 0.72, false)], [{ id: "A", threshold: 0.9, floor: 0 }])
    // Never under 0.5: below it the model itself thinks a move more likely wrong than right.
    expect(allRight.categories[0]?.safeThreshold).toMatchObject({ threshold: LOWEST_SUGGESTED, moved: 2, misfiles: 0, recall: 1 })
    const spam = evaluate([
      row("S", "S", 0.995, true),
      row("S", "S", 0.95, false),
      // Learned from too few messages (or not calibrated): no threshold moves it.
      row(STAY, "S", 0.999, false, false)
    ], [{ id: "S", threshold: 0.99, floor: 0.99 }])
    expect(spam.categories[0]?.safeThreshold).toMatchObject({ threshold: 0.99, moved: 1, misfiles: 0, recall: 1 / 2 })
  })

  it("the most frequent confusions, and the confusion matrix", () => {
    expect(evaluation.confusions).toEqual([
      { truth: "B", guess: "A", count: 2 },
      { truth: "A", guess: "B", count: 1 },
      { truth: "A", guess: STAY, count: 1 },
      { truth: STAY, guess: "A", count: 1 },
      { truth: STAY, guess: "B", count: 1 },
      { truth: STAY, guess: "C", count: 1 }
    ])
    expect(evaluation.matrix).toEqual({
      labels: ["A", "B", "C", STAY],
      counts: [[2, 1, 0, 1], [2, 2, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
    })
  })

  it("precision against coverage, one global threshold swept down", () => {
    expect(evaluation.curve).toHaveLength(10)
    expect(evaluation.curve[0]).toEqual({ threshold: 0.99, coverage: 1 / 12, precision: 0 })
    expect(evaluation.curve[3]).toEqual({ threshold: 0.85, coverage: 4 / 12, precision: 3 / 4 })
    expect(evaluation.curve.at(-1)).toEqual({ threshold: 0.3, coverage: 10 / 12, precision: 4 / 10 })
  })

  it("tied confidences move together; nothing to evaluate gives no shares", () => {
    const tied = evaluate([row("A", "A", 0.9, true), row(STAY, "A", 0.9, true), row("A", "A", 0.95, true)], [{
      id: "A",
      threshold: 0.5,
      floor: 0
    }])
    expect(tied.curve).toEqual([{ threshold: 0.95, coverage: 1 / 3, precision: 1 }, {
      threshold: 0.9,
      coverage: 1,
      precision: 2 / 3
    }])
    expect(tied.categories[0]?.safeThreshold).toMatchObject({ threshold: 0.91, moved: 1, misfiles: 0, recall: 1 / 2 })
    const empty = evaluate([], [{ id: "A", threshold: 0.5, floor: 0 }])
    expect(empty.accuracy).toBeUndefined()
    expect(empty.atThresholds.coverage).toBeUndefined()
    expect(empty.curve).toEqual([])
  })
})
