/**
 * Progress in a terminal: one bar on the last line, rewritten in place, with the log lines
 * scrolling above it. The bar and the log share one output, so a log line is never written into
 * a half-drawn bar: the bar is cleared first and redrawn after, in the same write.
 */
import { Clock, Effect } from "effect"
import { type PaceStart, progressText, type ProgressState, ratePerSecond } from "../domain/Progress.ts"
import { escapeControls } from "../domain/Terminal.ts"
import type { ProgressApi, ProgressTracker } from "../services/Progress.ts"
import type { LogOutput } from "./logging.ts"

/** The terminal: where log lines go (the bar goes to `out`), and how wide it is, when known. */
export interface Screen extends LogOutput {
  readonly columns: () => number | undefined
}

/** Back to the start of the line, and erase it. */
export const CLEAR_LINE = "\r\u001b[K"

/** The bar is redrawn at most this often (but for the last count): more is flicker and wasted writes. */
const REDRAW_MILLIS = 100

const BAR_WIDTH = 20

/**
 * `[██████░░░░] INBOX: 1,200 of 2,000 sorted, 240/s, about 4 s left`, cut one column short of
 * the width: a line that fills it wraps on some terminals, and the next \r would then clear only
 * its second half.
 */
export const barLine = (state: ProgressState, columns: number | undefined): string => {
  const total = Math.max(state.total, state.done)
  const filled = total === 0 ? BAR_WIDTH : Math.floor((BAR_WIDTH * state.done) / total)
  const text = progressText({ ...state, label: escapeControls(state.label) })
  const line = `[${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}] ${text}`
  // By code points, so that a cut never splits a surrogate pair.
  // A pseudo-terminal may say 0 columns: a width nobody knows, not one that fits nothing.
  return columns === undefined || columns <= 0 ? line : Array.from(line).slice(0, columns - 1).join("")
}

export interface TerminalWithProgress {
  /** For the logger: each line clears the bar, and the bar comes back under it. */
  readonly output: LogOutput
  readonly progress: ProgressApi
}

export const terminalWithProgress = (screen: Screen): TerminalWithProgress => {
  /** The bar on the screen now; "" when none is. */
  let bar = ""
  /** The work whose bar is shown (the latest started); others tick without drawing. */
  let owner: object | undefined

  const output: LogOutput = {
    out: (line) => screen.out(bar === "" ? line : `${CLEAR_LINE}${line}${bar}`),
    err: (line) => {
      if (bar === "") return screen.err(line)
      screen.out(CLEAR_LINE)
      screen.err(line)
      screen.out(bar)
    }
  }

  const draw = (line: string) => {
    screen.out(`${CLEAR_LINE}${line}`)
    bar = line
  }

  const clear = (work: object) =>
    Effect.sync(() => {
      if (owner !== work) return
      owner = undefined
      if (bar !== "") screen.out(CLEAR_LINE)
      bar = ""
    })

  const begin = (label: string, total: number, verb: string) =>
    Effect.sync(() => {
      const work = {}
      owner = work
      let done = 0
      let drawnAt = -Infinity
      let pace: PaceStart | undefined
      const tracker: ProgressTracker = {
        advance: (count) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            done += count
            pace ??= { at: now, done }
            // The last count is always drawn: a bar that stops short looks like work that stopped.
            if (owner !== work || (now - drawnAt < REDRAW_MILLIS && done < total)) return
            drawnAt = now
            draw(barLine({ label, verb, done, total, perSecond: ratePerSecond(pace, now, done) }, screen.columns()))
          })
      }
      return { work, tracker }
    })

  const progress: ProgressApi = {
    start: (label, total, verb) =>
      Effect.map(Effect.acquireRelease(begin(label, total, verb), ({ work }) => clear(work)), ({ tracker }) => tracker)
  }
  return { output, progress }
}
