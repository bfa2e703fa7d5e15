/**
 * A confidence that is honest on the user's own mail: Platt scaling of the margin between the two
 * best classes, fitted on predictions the model made for messages it had not learned yet (a
 * held-out newest slice of the folders, later what it classified before the user's answer was
 * known), so that among moves made at confidence ≥ 0.9 about nine in ten are right. Each class
 * then gets its own shift of that curve, shrunk towards none: a margin means more for a folder of
 * distinctive mail than for one that looks like three others.
 *
 * Chosen by measurement on the Enron foldering benchmark: the only calibrator that kept precision
 * at 0.9 ≥ 0.9 for every user (temperature scaling fell to 0.85 on one, a three-input Platt to
 * 0.89; isotonic regression and histogram binning were unstable on slices of 300–600 messages).
 * The shifts per class moved 1 to 6 points more mail at 0.9 on three users, precision ≥ 0.94 for
 * all four; a shift per sender's history, or by a second model's agreement, added nothing, and a
 * slope per class lost coverage. They cost SpamAssassin's new spam caught at 0.99 five points (74%
 * → 69%, the ham put in Spam unchanged): on its held-out slice, guesses of spam were wrong 7% of
 * the time, of mail that stays 2%, so spam is now trusted less at the same margin. Mail that stays
 * is a class too: its shift also sets how sure the model is that a message is kept, which is what
 * overrules a keyword's or the LLM's call of spam.
 */

/** A model's scores read as a prediction: the best class and its margin over the runner-up. */
export interface Prediction {
  /** The best class, -1 when there is none. */
  readonly top: number
  /** Top score minus the runner-up's; Infinity when there is one class. */
  readonly margin: number
}

export const predict = (scores: Float64Array): Prediction => {
  let top = -1
  let best = -Infinity
  let second = -Infinity
  for (let c = 0; c < scores.length; c++) {
    const score = scores[c] ?? -Infinity
    if (score > best) {
      second = best
      best = score
      top = c
    } else if (score > second) second = score
  }
  return { top, margin: best - second }
}

/** How a guess turned out: its margin, whether its top class was right, and that class. */
export interface Outcome {
  readonly margin: number
  readonly right: boolean
  /** The top class's label (not kept by versions before 2026-12: such outcomes shift no class). */
  readonly top?: string | undefined
  /** The class the message was (not kept by versions before 2026-12-03). */
  readonly truth?: string | undefined
}

/**
 * A fitted sigmoid: confidence = 1 / (1 + exp(-(slope · margin + intercept + shift of the top
 * class))).
 */
export interface Calibration {
  readonly slope: number
  readonly intercept: number
  /** Per class label, added to the logit; a class with none is read by the common curve. */
  readonly shifts: ReadonlyMap<string, number>
}

/** Moves nothing: what a model has before it has been calibrated. */
export const uncalibrated: Calibration = { slope: 0, intercept: -Infinity, shifts: new Map() }

/** Margins beyond this (one class, or a huge lead) count as this. */
const MAX_MARGIN = 1e6

export const confidence = (calibration: Calibration, margin: number, top?: string): number => {
  const shift = top === undefined ? 0 : calibration.shifts.get(top) ?? 0
  const z = calibration.slope * Math.min(margin, MAX_MARGIN) + calibration.intercept + shift
  return Number.isFinite(z) ? 1 / (1 + Math.exp(-z)) : z > 0 ? 1 : 0
}

/** Fewer outcomes than this are not evidence enough to move anything. */
export const MIN_OUTCOMES = 20

/**
 * Fits the sigmoid to (margin, was the top class right) pairs by Newton's method, with Platt's
 * smoothed targets: n right answers out of n say about (n + 1) / (n + 2), not certainty. A guess
 * whose two best classes tie is a coin toss at best: when the fit says more at margin 0 (it was
 * never wrong, say, on mail too easy to tell anything), it is fitted again through 0.5 there, so a
 * message that looks like no folder in particular is not moved with the confidence of those that do.
 */
export const fitPlatt = (margins: ReadonlyArray<number>, right: ReadonlyArray<boolean>): Calibration => {
  if (right.length < MIN_OUTCOMES) return uncalibrated
  const fitted = newton(margins, right, true)
  return fitted.intercept > 0 ? newton(margins, right, false) : fitted
}

/**
 * The common curve (`fitPlatt`), then each class's shift: the logit offset that best explains its
 * own outcomes under a standard normal prior (a class with a handful of outcomes stays near the
 * common curve; one with hundreds earns its own). A shift never makes a tie more than a coin toss.
 * (A prior of variance 0.5 or 2, or targets smoothed per class, moved the Enron figures by under a point.)
 */
export const calibrate = (outcomes: ReadonlyArray<Outcome>): Calibration => {
  const common = fitPlatt(outcomes.map((o) => o.margin), outcomes.map((o) => o.right))
  if (!Number.isFinite(common.intercept)) return common
  const byClass = new Map<string, Array<Outcome>>()
  for (const outcome of outcomes) {
    if (outcome.top === undefined) continue
    const own = byClass.get(outcome.top)
    if (own === undefined) byClass.set(outcome.top, [outcome])
    else own.push(outcome)
  }
  const ceiling = Math.max(0, -common.intercept)
  const targets = smoothedTargets(outcomes.map((o) => o.right))
  const shifts = new Map<string, number>()
  const present = new Set(outcomes.flatMap((o) => (o.truth === undefined ? [] : [o.truth])))
  for (const [top, own] of byClass) {
    // A class none of these messages was (a folder whose mail ended before the slice calibrated
    // on) was never guessed right, whatever the model knows of it: only mail mistaken for it
    // speaks of it, and alone that would silence it. It keeps the common curve.
    const absent = !present.has(top) && own.every((o) => o.truth !== undefined)
    if (!absent) shifts.set(top, shiftOf(common, own, targets, ceiling))
  }
  return { ...common, shifts }
}

/** Platt's smoothed targets: n right answers out of n say about (n + 1) / (n + 2), not certainty. */
const smoothedTargets = (right: ReadonlyArray<boolean>) => {
  const positives = right.filter(Boolean).length
  return { right: (positives + 1) / (positives + 2), wrong: 1 / (right.length - positives + 2) }
}

/**
 * The shift that best explains one class's outcomes, at most `ceiling`: the root of the gradient
 * of its log-likelihood (with the common curve's targets: a class's own would shrink a small class
 * twice, as its prior already does) plus the prior's shift² / 2,
 *   g(shift) = shift + Σ (p(shift) − target),
 * which rises with slope ≥ 1 and so has one root, within ±(n + 1). Newton's steps alone overshoot
 * and swing when the outcomes sit where the curve is flat (near 0 or 1); kept inside a bracket that
 * halves whenever a step would leave it, they always land.
 */
const shiftOf = (
  common: Calibration,
  own: ReadonlyArray<Outcome>,
  targets: ReturnType<typeof smoothedTargets>,
  ceiling: number
): number => {
  const gradientAt = (shift: number) => {
    let gradient = shift
    let curvature = 1
    for (const { margin, right } of own) {
      const p = 1 / (1 + Math.exp(-(common.slope * Math.min(margin, MAX_MARGIN) + common.intercept + shift)))
      gradient += p - (right ? targets.right : targets.wrong)
      curvature += p * (1 - p)
    }
    return { gradient, curvature }
  }
  let low = -(own.length + 1)
  let high = Math.min(own.length + 1, ceiling)
  if (gradientAt(high).gradient <= 0) return high
  let shift = Math.min(0, high)
  for (let iteration = 0; iteration < 200 && high - low > 1e-9; iteration++) {
    const { gradient, curvature } = gradientAt(shift)
    if (gradient > 0) high = shift
    else low = shift
    const next = shift - gradient / curvature
    const inside = next > low && next < high
    if (inside && Math.abs(next - shift) < 1e-9) return next
    shift = inside ? next : (low + high) / 2
  }
  return shift
}

const newton = (margins: ReadonlyArray<number>, right: ReadonlyArray<boolean>, withIntercept: boolean): Calibration => {
  const targets = smoothedTargets(right)
  const clipped = margins.map((margin) => Math.min(margin, MAX_MARGIN))
  // Margins scaled to about [-1, 1] keep Newton's steps well conditioned.
  const scale = Math.max(1e-9, ...clipped.map(Math.abs))
  let a = 1
  let b = 0
  for (let iteration = 0; iteration < 100; iteration++) {
    let ga = 0
    let gb = 0
    let haa = 1e-6
    let hab = 0
    let hbb = 1e-6
    for (let index = 0; index < clipped.length; index++) {
      const z = (clipped[index] ?? 0) / scale
      const p = 1 / (1 + Math.exp(-(a * z + b)))
      const d = p - (right[index] === true ? targets.right : targets.wrong)
      const w = p * (1 - p)
      ga += d * z
      gb += d
      haa += w * z * z
      hab += w * z
      hbb += w
    }
    const determinant = haa * hbb - hab * hab
    if (withIntercept && determinant <= 0) break
    const da = withIntercept ? (hbb * ga - hab * gb) / determinant : ga / haa
    const db = withIntercept ? (haa * gb - hab * ga) / determinant : 0
    a -= da
    b -= db
    if (Math.abs(da) + Math.abs(db) < 1e-9) break
  }
  return { slope: a / scale, intercept: b, shifts: new Map() }
}
