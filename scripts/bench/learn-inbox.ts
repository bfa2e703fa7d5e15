/**
 * Read mail not filed yet, in process: what a user's inbox of read work mail (kept in INBOX, so
 * learned as mail that stays) costs the learned model as in life. FolderModel alone, as the
 * benchmark's "as in life" runs it: the new mail in parts, each part asked about, then learned
 * where it belongs (the newer inbox mail as staying: read and kept, like the older). With an LLM
 * behind the model, what it leaves would be asked of the LLM, but for what it is sure stays
 * (PROTON_LUMO_LLM_SKIP_KEPT): counted too.
 */
import { extractFeatures } from "../../src/classify/features.ts"
import { FolderModel, STAY } from "../../src/classify/FolderModel.ts"
import { KEEP_CONFIDENCE, MIN_EXAMPLES } from "../../src/services/LearnedClassifier.ts"
import type { LabelledMail } from "./learn-corpus.ts"

export interface KeptFigures {
  /** Right moves / moves of the category mail, at the threshold. */
  readonly precision: number
  /** Moves / category mail. */
  readonly coverage: number
  /** Inbox mail moved into a category. */
  readonly inboxMoved: number
  /** What the model did not move (all of it would go to an LLM behind it, without SKIP_KEPT). */
  readonly notMoved: number
  /** Of that, what it is sure stays (SKIP_KEPT leaves it without the LLM): inbox mail, and category mail. */
  readonly sureKept: { readonly inbox: number; readonly category: number }
}

const byDate = <A extends { readonly date: number }>(mail: ReadonlyArray<A>): Array<A> => mail.toSorted((a, b) => a.date - b.date)

/** A message as the model learns it: its features, and its folder or STAY (read and kept). */
const example = (m: LabelledMail, stays: boolean) => ({ features: extractFeatures(m.parsed), label: stays ? STAY : m.label, stays })

/**
 * As in life at `threshold` over `parts` parts: trained on `filed` (and `keptOld` as staying),
 * asked about `arriving` (and `keptNew`, spread evenly through it).
 */
export const asInLifeKept = (
  filed: ReadonlyArray<LabelledMail>,
  arriving: ReadonlyArray<LabelledMail>,
  kept: { readonly old: ReadonlyArray<LabelledMail>; readonly new: ReadonlyArray<LabelledMail> },
  threshold: number,
  parts: number
): KeptFigures => {
  // Oldest first, as the learning scan gives its mail: the kept mail is the newest of it.
  const learned = byDate([...filed.map((m) => ({ m, stays: false })), ...kept.old.map((m) => ({ m, stays: true }))].map(({ m, stays }) => ({
    date: m.date,
    ...example(m, stays)
  })))
  const model = FolderModel.train(learned)
  const incoming: Array<ReturnType<typeof example>> = []
  let next = 0
  arriving.forEach((m, index) => {
    incoming.push(example(m, false))
    while (next < kept.new.length && next / kept.new.length <= index / arriving.length) {
      const keptMessage = kept.new[next++]
      if (keptMessage !== undefined) incoming.push(example(keptMessage, true))
    }
  })
  let moved = 0
  let right = 0
  let inboxMoved = 0
  let notMoved = 0
  const sureKept = { inbox: 0, category: 0 }
  for (let part = 0; part < parts; part++) {
    const slice = incoming.slice(Math.floor((part * incoming.length) / parts), Math.floor(((part + 1) * incoming.length) / parts))
    for (const message of slice) {
      const guess = model.guess(message.features)
      if (guess.label === undefined || guess.confidence < threshold || guess.examples < MIN_EXAMPLES) {
        notMoved++
        if (guess.label === undefined && guess.confidence >= KEEP_CONFIDENCE && guess.examples >= MIN_EXAMPLES) {
          sureKept[message.stays ? "inbox" : "category"]++
        }
        continue
      }
      if (message.stays) inboxMoved++
      else {
        moved++
        if (guess.label === message.label) right++
      }
    }
    for (const message of slice) model.observe(message.features, message.label)
    for (const message of slice) model.learn(message.features, message.label)
    model.recalibrate()
  }
  return { precision: right / moved, coverage: moved / arriving.length, inboxMoved, notMoved, sureKept }
}
