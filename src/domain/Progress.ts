/**
 * What progress on long work reads like, for a log line and for a terminal's bar alike: how many
 * of how many, the rate, and the time left at that rate. Pure: the caller keeps the time.
 */

/** A piece of long work under way: "INBOX", 1,200 of 2,000 "sorted", at `perSecond` when known. */
export interface ProgressState {
  readonly label: string
  readonly verb: string
  readonly done: number
  readonly total: number
  readonly perSecond: number | undefined
}

/** When the first messages were done, and how many: where the rate is measured from. */
export interface PaceStart {
  readonly at: number
  readonly done: number
}

/**
 * Messages per second since the first were done, not since the work began: the time before
 * (opening the folder, fetching and parsing the first chunk) says nothing of the pace, and would
 * make the first estimates of the time left far too long. Undefined until there is a second measure.
 */
export const ratePerSecond = (start: PaceStart | undefined, now: number, done: number): number | undefined =>
  start === undefined || now <= start.at || done <= start.done ? undefined : ((done - start.done) * 1000) / (now - start.at)

/** `about 3 s`, `about 4 min`, `about 1 h`, `about 1 h 5 min`: rounded up, so "0 s" is never promised early. */
export const formatDuration = (seconds: number): string => {
  const whole = Math.ceil(seconds)
  if (whole < 60) return `about ${whole} s`
  const minutes = Math.ceil(whole / 60)
  if (minutes < 60) return `about ${minutes} min`
  return `about ${Math.floor(minutes / 60)} h${minutes % 60 === 0 ? "" : ` ${minutes % 60} min`}`
}

const count = (n: number): string => Math.round(n).toLocaleString("en-US")

const formatRate = (rate: number): string => `${rate >= 10 ? count(rate) : rate.toFixed(1)}/s`

/**
 * `INBOX: 1,200 of 2,000 sorted, 240/s, about 4 s left`; the rate and the time left only once
 * known. More done than expected (mail arrived meanwhile) counts as the total.
 */
export const progressText = (state: ProgressState): string => {
  const total = Math.max(state.total, state.done)
  const pace = state.perSecond === undefined
    ? ""
    : `, ${formatRate(state.perSecond)}, ${formatDuration((total - state.done) / state.perSecond)} left`
  return `${state.label}: ${count(state.done)} of ${count(total)} ${state.verb}${pace}`
}
