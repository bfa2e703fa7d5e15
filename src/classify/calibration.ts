/**
 * A confidence that is honest on the user's own mail: Platt scaling of the margin between the two
 * best classes, fitted on predictions the model made for messages it had not learned yet (a
 * held-out newest slice of the folders, later what it classified before the user's answer was
 * known), so that among moves made at confidence ≥ 0.9 about nine in ten are right.
 *
 * Chosen by measurement on the Enron foldering benchmark: the only calibrator that kept precision
 * at 0.9 ≥ 0.9 for every user (temperature scaling fell to 0.85 on one, a three-input Platt to
 * 0.89; isotonic regression and histogram binning were unstable on slices of 300–600 messages).
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

/** A fitted sigmoid: confidence = 1 / (1 + exp(-(slope · margin + intercept))). */
export interface Calibration {
  readonly slope: number
  readonly intercept: number
}

/** Moves nothing: what a model has before it has been calibrated. */
export const uncalibrated: Calibration = { slope: 0, intercept: -Infinity }

/** Margins beyond this (one class, or a huge lead) count as this. */
const MAX_MARGIN = 1e6

export const confidence = (calibration: Calibration, margin: number): number => {
  const z = calibration.slope * Math.min(margin, MAX_MARGIN) + calibration.intercept
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

const newton = (margins: ReadonlyArray<number>, right: ReadonlyArray<boolean>, withIntercept: boolean): Calibration => {
  const positives = right.filter(Boolean).length
  const negatives = right.length - positives
  const targetRight = (positives + 1) / (positives + 2)
  const targetWrong = 1 / (negatives + 2)
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
      const d = p - (right[index] === true ? targetRight : targetWrong)
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
  return { slope: a / scale, intercept: b }
}
