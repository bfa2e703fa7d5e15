/**
 * The learned classifier's model: it learns from the messages in the user's folders (each folder
 * a class) and from those the user keeps where they are (the class STAY: without it, a model that
 * knows only Spam would call everything spam), and answers with the folder it would pick and a
 * confidence calibrated on the user's own mail.
 *
 *   MailFields → features (extractFeatures) → log tf · idf, L2 (+ the header block's copy, where the
 *     user's held-out mail chose it) → passive-aggressive scores → margin
 *     → Platt, shifted for the top class → confidence, at most what the sender's history allows
 *     (or, for a sender the user just gave a folder of its own, that folder: see `movedSender`)
 *
 * It keeps only hashed weights and counts (and, per hashed sender address, messages per class and
 * where their latest went), never text. Deterministic: the same mail in the same
 * order gives the same model.
 */
import { calibrate, type Calibration, confidence, type Outcome, predict, uncalibrated } from "./calibration.ts"
import { DocumentFrequency, type Features, FEATURES_VERSION, senderKey, type Weighed, weigh } from "./features.ts"
import { PassiveAggressive } from "./PassiveAggressive.ts"

/**
 * Updates per message learned one by one (after training from scratch): a second step keeps the
 * model closer to the user's latest filing (in life on the Enron benchmark, +1 to +4 points of
 * coverage at 0.9, precision level).
 */
const STEPS = 2

/** The label of mail that stays where it is (no folder can be called this). */
export const STAY = "\u0000stay"

/**
 * A sender whose learned mail holds at least SENDER_EVIDENCE messages, SENDER_DOMINANCE of them in
 * one class, has a history that outweighs the model on its own mail (see `ownGuess`): a guess
 * against that class is only as sure as the history. (At 0.9, three of a sender's messages filed in
 * a new folder after 21 elsewhere, 87.5%, turned the model on the rest of their mail at 0.85, which
 * shipped thresholds move: an outside review's case. 0.8 left the Enron figures as they were.) Mail
 * the model would keep is filed in that class only from USUAL_DOMINANCE: where a user keeps one of
 * a sender's messages in five, the history must not overrule them.
 */
const SENDER_EVIDENCE = 5
const SENDER_DOMINANCE = 0.8
const USUAL_DOMINANCE = 0.9

/** Where each sender's mail was learned: hashed address → class id → messages. */
export type SenderHistory = ReadonlyArray<readonly [number, ReadonlyArray<readonly [number, number]>]>

/**
 * Where each sender's latest mail went, in the order learned: hashed address → the class of their
 * latest run of messages, its length, whether the run began the class (it held no message before:
 * a folder made for them), and the class all their mail before the run went to (NO_CLASS: none;
 * SEVERAL_CLASSES: more than one) with how many messages that was. See `movedSender`.
 */
export type SenderRuns = ReadonlyArray<readonly [key: number, run: number, length: number, founded: boolean, before: number, beforeLength: number]>

/** A folder learned from at most this many messages is young: see `movedSender`. */
const YOUNG_FOLDER = 5

const NO_CLASS = -1
const SEVERAL_CLASSES = -2

interface SenderRun {
  readonly run: number
  readonly length: number
  readonly founded: boolean
  readonly before: number
  readonly beforeLength: number
}

export interface FolderModelOptions {
  /**
   * Which `extractFeatures` the weights were learned with: a model saved with another cannot be
   * read (its hashes mean other things), and starts afresh.
   */
  readonly features: number
  /**
   * Weights: 2^bits floats (2^20: 4 MiB). Accuracy was flat from 2^20 to 2^24; from 2^21 to 2^20
   * the Enron figures moved by under a point either way, and a service of 20 accounts holds 20
   * models. A model saved with other options is learned afresh.
   */
  readonly bits: number
  /** Document-frequency buckets: 2^dfBits floats. */
  readonly dfBits: number
  /** The passive-aggressive step cap C. */
  readonly aggressiveness: number
  /** Passes over the newest `replay` messages when training from scratch (3 gave +4 points on the hardest user). */
  readonly epochs: number
  readonly replay: number
  /** The newest share of the training mail held out to calibrate on. */
  readonly holdOut: number
  /** How many (margin, right) outcomes are kept to recalibrate on. */
  readonly keepOutcomes: number
}

export const defaultFolderModelOptions: FolderModelOptions = {
  features: FEATURES_VERSION,
  bits: 20,
  dfBits: 18,
  aggressiveness: 0.3,
  epochs: 3,
  replay: 5000,
  holdOut: 0.2,
  keepOutcomes: 2000
}

export interface Example {
  /** `extractFeatures` of the message. */
  readonly features: Features
  /** A folder, or STAY. */
  readonly label: string
  /** How much it weighs (a correction more: the user's word outweighs the habit); it counts as one message. */
  readonly times?: number
}

/** Everything a model is, to save and restore: numbers only, no text of any message. */
export interface FolderModelState {
  readonly labels: ReadonlyArray<string>
  readonly counts: ReadonlyArray<number>
  readonly weights: Float32Array
  readonly documentCounts: Float32Array
  readonly documents: number
  readonly outcomes: ReadonlyArray<Outcome>
  readonly senders: SenderHistory
  /** Absent in models saved before it was kept (see `followSenders`). */
  readonly senderRuns?: SenderRuns | undefined
  /** The header block's weight `weigh` gives its messages, chosen when trained from scratch (absent: 0). */
  readonly headerBoost?: number
}

/**
 * The header boosts (see `weigh`) a model trained from scratch chooses from, on the held-out
 * newest share of the user's mail: the first unless another guesses at least SWITCH_GAIN more
 * of it right, and at least SWITCH_MESSAGES more messages (on a few dozen, one message is noise). On the Enron benchmark one user files by person (1 gave +3.6 points held out,
 * +1 point of accuracy on the newer mail and a third more of it moved at 0.9) and three by topic
 * (1 lost 1 to 3 points held out, which keeps them on 0); a boost of 0.5 was between the two.
 */
const HEADER_BOOSTS = [0, 1] as const
const SWITCH_GAIN = 0.02
const SWITCH_MESSAGES = 5

/** What the model makes of a message. */
export interface FolderGuess {
  /** The label (category) it would pick; undefined when it thinks the message stays, or knows none. */
  readonly label: string | undefined
  /** Calibrated: of the guesses made at this confidence, about this share are right. */
  readonly confidence: number
  /**
   * How many messages the guess rests on: those the picked class was learned from, or, for a sender
   * the user gave a folder of its own (`habit` set), that sender's.
   */
  readonly examples: number
  /**
   * Set when the guess follows a sender the user gave a folder of its own (see `movedSender`): what
   * the model alone says, for a caller that cannot follow (a label is a copy: putting a sender's
   * latest message under a new one moves none of their mail).
   */
  readonly habit?: FolderGuess
  /**
   * When it thinks the message stays against a sender whose learned mail nearly all went to one
   * folder: that folder, as sure as the history says (see `guess`). The caller files the message
   * there unless it is a spam folder (a rescue from Spam is the user's word on that sender).
   */
  readonly usual?: { readonly label: string; readonly confidence: number; readonly examples: number }
}

/** A deterministic shuffle (mulberry32), for the extra training passes. */
const shuffled = <A>(items: ReadonlyArray<A>, seed: number): Array<A> => {
  const out = [...items]
  let state = seed >>> 0
  for (let i = out.length - 1; i > 0; i--) {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), state | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    const j = Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (i + 1))
    const swap = out[i]
    const other = out[j]
    if (swap === undefined || other === undefined) continue
    out[i] = other
    out[j] = swap
  }
  return out
}

export class FolderModel {
  private readonly labels: Array<string>
  private readonly ids: Map<string, number>
  private readonly documents: DocumentFrequency
  private readonly model: PassiveAggressive
  private calibration: Calibration = uncalibrated
  private readonly outcomes: Array<Outcome>
  private readonly senders: Map<number, Map<number, number>>
  private readonly senderRuns: Map<number, SenderRun>

  readonly options: FolderModelOptions
  readonly headerBoost: number

  /**
   * A new model (weighing the header block by `headerBoost`), or one saved before (its `state`,
   * made with the same options).
   */
  constructor(options: FolderModelOptions = defaultFolderModelOptions, saved?: FolderModelState, headerBoost = 0) {
    this.options = options
    this.headerBoost = saved?.headerBoost ?? headerBoost
    this.labels = [...(saved?.labels ?? [])]
    this.ids = new Map(this.labels.map((label, id) => [label, id]))
    this.documents = new DocumentFrequency(
      options.dfBits,
      saved === undefined ? undefined : { counts: saved.documentCounts, documents: saved.documents }
    )
    this.model = new PassiveAggressive(
      options.bits,
      options.aggressiveness,
      saved === undefined ? undefined : { weights: saved.weights, counts: saved.counts }
    )
    this.outcomes = [...(saved?.outcomes ?? [])]
    this.senders = new Map((saved?.senders ?? []).map(([key, counts]) => [key, new Map(counts)]))
    this.senderRuns = new Map(
      (saved?.senderRuns ?? []).map(([key, run, length, founded, before, beforeLength]) => [key, { run, length, founded, before, beforeLength }])
    )
    this.recalibrate()
  }

  /** What to save. The arrays are the model's own: save them before it learns more. */
  get state(): FolderModelState {
    return {
      labels: this.labels,
      counts: this.model.counts,
      weights: this.model.weights,
      documentCounts: this.documents.state.counts,
      documents: this.documents.state.documents,
      outcomes: this.outcomes,
      senders: [...this.senders].map(([key, counts]) => [key, [...counts]] as const),
      senderRuns: [...this.senderRuns].map(([key, r]) => [key, r.run, r.length, r.founded, r.before, r.beforeLength] as const),
      headerBoost: this.headerBoost
    }
  }

  /**
   * A calibrated model of these examples, oldest first: probes learn the older share and are
   * asked about the newest (the calibration, and the choice of header boost), then the model
   * learns everything.
   */
  static train(examples: ReadonlyArray<Example>, options: FolderModelOptions = defaultFolderModelOptions): FolderModel {
    return FolderModel.trainFrom(() => examples, examples.length, options)
  }

  /**
   * `train` over `size` examples read as they go, twice (the probes, then the model): only the
   * newest `replay` examples are kept at a time, so a first scan's features can come from the
   * database one by one (45,000 messages' held at once, with their objects, took 100 MB).
   */
  static trainFrom(
    examples: () => Iterable<Example>,
    size: number,
    options: FolderModelOptions = defaultFolderModelOptions
  ): FolderModel {
    const cut = Math.floor(size * (1 - options.holdOut))
    const probes = HEADER_BOOSTS.map((boost) => ({ probe: new FolderModel(options, undefined, boost), right: 0 }))
    const learners = probes.map(({ probe }) => probe.learner(cut))
    let index = 0
    for (const example of examples()) {
      if (index++ < cut) for (const learns of learners) learns(example)
      else for (const tried of probes) if (tried.probe.observe(example.features, example.label)) tried.right++
    }
    const gain = Math.max(SWITCH_MESSAGES, SWITCH_GAIN * (size - cut))
    const chosen = probes.reduce((best, tried) => (tried.right - best.right >= gain ? tried : best))
    const model = new FolderModel(options, undefined, chosen.probe.headerBoost)
    const learns = model.learner(size)
    for (const example of examples()) learns(example)
    model.outcomes.push(...chosen.probe.outcomes)
    model.recalibrate()
    return model
  }

  /** A copy that learns on its own (its arrays its own): what a pass learns provisionally (LearnedModel.learnForPass). */
  copy(): FolderModel {
    const state = this.state
    return new FolderModel(this.options, {
      ...state,
      weights: new Float32Array(state.weights),
      documentCounts: new Float32Array(state.documentCounts)
    })
  }

  /** Whether it has been calibrated (before, every confidence is 0: nothing it says moves mail). */
  get calibrated(): boolean {
    return Number.isFinite(this.calibration.intercept)
  }

  /** The folders (and STAY) it knows, with how many messages each was learned from. */
  get classes(): ReadonlyArray<{ readonly label: string; readonly examples: number }> {
    return this.labels.map((label, id) => ({ label, examples: this.model.examples(id) }))
  }

  /** Class `from` is called `to` from now on (a category renamed); `to` must be no class yet. */
  rename(from: string, to: string): void {
    const id = this.ids.get(from)
    if (id === undefined || this.ids.has(to)) return
    this.labels[id] = to
    this.ids.delete(from)
    this.ids.set(to, id)
    const renamed = (label: string | undefined) => (label === from ? to : label)
    for (const [index, outcome] of this.outcomes.entries()) {
      this.outcomes[index] = { ...outcome, top: renamed(outcome.top), truth: renamed(outcome.truth) }
    }
    this.recalibrate()
  }

  /**
   * The user filed (or kept) this message there: learn it, `times` over (a correction weighs
   * more), as one message of that class.
   */
  learn(features: Features, label: string, times = 1): void {
    this.learnIn(features, label, STEPS * times)
  }

  /**
   * One more update on a message learned before (counted once already), of a class it knows: what
   * keeps the other folders in its weights while it learns a new folder's mail one message after
   * another (see LearnedModel's REHEARSALS).
   */
  rehearse(features: Features, label: string): void {
    const id = this.ids.get(label)
    if (id !== undefined) this.model.rehearse(this.weighed(features), id)
  }

  /** The message left that folder (the user moved it elsewhere): take it back, as it was learned. */
  unlearn(features: Features, label: string, times = 1): void {
    const id = this.ids.get(label)
    // A message read but never learned (times 0) has nothing to take back.
    if (id === undefined || times <= 0) return
    this.model.unlearn(this.weighed(features), id, STEPS * times)
    this.documents.add(features, -1)
    this.countSender(features, id, -1)
  }

  /**
   * The model follows the latest messages it learned (that is how it keeps up with the user's
   * filing), so two or three corrections of mail that looks like much else can turn a whole
   * sender's mail to their folder. The sender's history counts every message: a guess against the
   * class that holds nearly all of it is only as sure as that history says (1 in 50, say).
   */
  guess(features: Features): FolderGuess {
    const { margin, top } = predict(this.model.scores(this.weighed(features)))
    // Two classes scoring the same: the first is no likelier than the other, whatever a threshold of
    // 0.5 or less would let through. No opinion at all.
    if (!(margin > 0)) return { label: undefined, confidence: 0, examples: 0 }
    const calibrated = confidence(this.calibration, margin, this.labels[top])
    const own = this.ownGuess(features, top, calibrated)
    const moved = this.movedSender(features)
    // Only the habit the user broke is overruled: not mail the model calls something else (spam
    // forging that sender's address, say), nor its own guess of the new folder (which the sender's
    // history caps, as any: one correction there must not take all of their mail with it).
    if (moved === undefined || top !== moved.before || !this.calibrated) return own
    // As sure as the sender's history says: their share of mail in the new folder.
    const share = (moved.length + 1) / (moved.length + moved.beforeLength + 2)
    return { label: this.labels[moved.run], confidence: share, examples: moved.length + moved.beforeLength, habit: own }
  }

  /** The model's guess for its top class, at most as sure as the sender's history allows (see `guess`). */
  private ownGuess(features: Features, top: number, calibrated: number): FolderGuess {
    const label = this.labels[top]
    const history = this.senderHistory(features)
    if (history === undefined || history.dominant === top) {
      return { label: label === STAY ? undefined : label, confidence: calibrated, examples: this.model.examples(top) }
    }
    const share = (id: number) => ((history.counts.get(id) ?? 0) + 1) / (history.total + 2)
    const usual = this.labels[history.dominant]
    const guess = { label: label === STAY ? undefined : label, confidence: Math.min(calibrated, share(top)), examples: this.model.examples(top) }
    // "Stays", against a sender whose mail nearly all went to one folder: one of its messages moved
    // back out of there (learned as staying, three times over) turned the model on all its mail
    // like it. The history says where it goes, as sure as the history is, once the model is
    // calibrated at all (before, nothing it says moves mail). Never the other way: a forged sender
    // must not make spam look like mail you keep.
    const nearlyAll = (history.counts.get(history.dominant) ?? 0) >= USUAL_DOMINANCE * history.total
    return label === STAY && usual !== undefined && usual !== STAY && calibrated > 0 && nearlyAll
      ? { ...guess, usual: { label: usual, confidence: share(history.dominant), examples: this.model.examples(history.dominant) } }
      : guess
  }

  /** The sender's learned mail, when there is enough of it and one class holds most (SENDER_DOMINANCE). */
  private senderHistory(features: Features) {
    const key = senderKey(features)
    const counts = key === undefined ? undefined : this.senders.get(key)
    if (counts === undefined) return undefined
    let total = 0
    let dominant = -1
    for (const [id, n] of counts) {
      total += n
      if (n > (counts.get(dominant) ?? 0)) dominant = id
    }
    const settled = total >= SENDER_EVIDENCE && (counts.get(dominant) ?? 0) >= SENDER_DOMINANCE * total
    return settled ? { counts, total, dominant } : undefined
  }

  /**
   * A sender the user gave a folder of its own: all their mail before went to one folder, then a new
   * folder began with one of their messages, and all their mail since went there. While that folder
   * is young (YOUNG_FOLDER), the model follows the older habit (more of their mail, and mail like
   * it, is there); the user's latest word says where their mail goes now. Once it knows the folder
   * better, the model decides: a sender whose mail the user splits by topic is not all sent to the
   * newer folder. On the Enron benchmark, one user made a folder for a travel club whose mail had
   * gone to `personal` four times, and its 20 newer messages all went there (the model sent them to
   * `personal`, 10 of them wrongly moved at 0.9); over the four users, of the 24 guesses it changed
   * on the newer mail and on the newest fifth of the older, 22 were right and 1 had been. It is only
   * as sure as the sender's history says (their share of mail in the new folder: 1 of 5, 2 in 7):
   * what it takes from the old folder is mostly left for the user to file until the model knows
   * the new one (a sender split by topic, newer mail of one topic filed apart, is then left in
   * INBOX, not misfiled). A folder is new when the model holds no message of it: its first message,
   * or the first after all it held were taken back.
   */
  private movedSender(features: Features): SenderRun | undefined {
    const key = senderKey(features)
    const run = key === undefined ? undefined : this.senderRuns.get(key)
    return run !== undefined && run.founded && run.before >= 0 && this.labels[run.run] !== STAY &&
        this.labels[run.before] !== STAY && this.model.examples(run.run) <= YOUNG_FOLDER
      ? run
      : undefined
  }

  /**
   * The senders' runs followed afresh over these examples, oldest first (a model saved before they
   * were kept: what it learned since it was saved is among them).
   */
  followSenders(examples: Iterable<Pick<Example, "features" | "label">>): void {
    this.senderRuns.clear()
    const seen = new Set<string>()
    for (const { features, label } of examples) {
      const key = senderKey(features)
      const id = this.ids.get(label)
      if (key !== undefined && id !== undefined) this.followRun(key, id, 1, !seen.has(label))
      seen.add(label)
    }
  }

  /** Whether the model holds no message of class `label` (learned, or `pending` to be: see `learner`). */
  private holdsNone(label: string, pending?: ReadonlySet<string>): boolean {
    const id = this.ids.get(label)
    return (id === undefined || this.model.examples(id) === 0) && pending?.has(label) !== true
  }

  /** Follows the sender's runs (see `movedSender`) as a message of theirs is learned in class `id`, or taken back. */
  private followRun(key: number, id: number, change: 1 | -1, founding: boolean): void {
    const last = this.senderRuns.get(key)
    if (change === -1) {
      if (last === undefined) return
      // Taken back from an earlier class, it is a message fewer of their history (which class it
      // was among several is not kept).
      if (last.run !== id) this.senderRuns.set(key, { ...last, beforeLength: Math.max(0, last.beforeLength - 1) })
      else if (last.length > 1) this.senderRuns.set(key, { ...last, length: last.length - 1 })
      // The run's only message taken back: their mail is back to what it was before it (one class,
      // a run no longer known to have begun it; several, none: the next message starts a run after them).
      else if (last.before >= 0) this.senderRuns.set(key, { run: last.before, length: last.beforeLength, founded: false, before: NO_CLASS, beforeLength: 0 })
      else if (last.before === SEVERAL_CLASSES) this.senderRuns.set(key, { ...last, run: NO_CLASS, length: 0, founded: false })
      else this.senderRuns.delete(key)
      return
    }
    if (last !== undefined && last.run === id) {
      this.senderRuns.set(key, { ...last, length: last.length + 1 })
      return
    }
    const before = last === undefined ? NO_CLASS : last.before === NO_CLASS ? last.run : SEVERAL_CLASSES
    const beforeLength = last === undefined ? 0 : last.beforeLength + last.length
    this.senderRuns.set(key, { run: id, length: 1, founded: founding, before, beforeLength })
  }

  private countSender(features: Features, id: number, change: 1 | -1, founding = false): void {
    const key = senderKey(features)
    if (key === undefined) return
    this.followRun(key, id, change, founding)
    const counts = this.senders.get(key) ?? new Map<number, number>()
    const n = (counts.get(id) ?? 0) + change
    if (n > 0) counts.set(id, n)
    else counts.delete(id)
    if (counts.size > 0) this.senders.set(key, counts)
    else this.senders.delete(key)
  }

  /**
   * Remembers how the guess for a message turned out, before the message is learned (numbers
   * only: the margin and whether the top class was right), for the next `recalibrate`; says
   * whether it was right.
   */
  observe(features: Features, label: string): boolean {
    // With one class there is no choice to grade (and its margin is infinite): nothing to learn from.
    if (this.labels.length < 2) return false
    const { margin, top } = predict(this.model.scores(this.weighed(features)))
    const right = this.labels[top] === label
    this.outcomes.push({ margin, right, top: this.labels[top], truth: label })
    if (this.outcomes.length > this.options.keepOutcomes) this.outcomes.splice(0, this.outcomes.length - this.options.keepOutcomes)
    return right
  }

  recalibrate(): void {
    this.calibration = calibrate(this.outcomes)
  }

  private weighed(features: Features): Weighed {
    return weigh(features, this.documents.idf, this.headerBoost)
  }

  private learnIn(features: Features, label: string, steps: number): void {
    this.documents.add(features, 1)
    const founding = this.holdsNone(label)
    const id = this.idOf(label)
    this.model.learn(this.weighed(features), id, steps)
    this.countSender(features, id, 1, founding)
  }

  private idOf(label: string): number {
    const known = this.ids.get(label)
    if (known !== undefined) return known
    this.labels.push(label)
    this.ids.set(label, this.labels.length - 1)
    return this.labels.length - 1
  }

  /**
   * Learns `size` examples given one by one, oldest first: older mail once, in date order; the
   * newest `replay` messages, kept until the last is given, `epochs` times, shuffled, then in date
   * order last (ending on the newest mail keeps the model current).
   */
  private learner(size: number): (example: Example) => void {
    const split = Math.max(0, size - this.options.replay)
    const newest: Array<Example> = []
    // Classes of the newest, counted by the model only once they are replayed.
    const pending = new Set<string>()
    let given = 0
    return (example) => {
      if (given++ < split) return this.learnIn(example.features, example.label, example.times ?? 1)
      this.documents.add(example.features, 1)
      const founding = this.holdsNone(example.label, pending)
      pending.add(example.label)
      this.countSender(example.features, this.idOf(example.label), 1, founding)
      newest.push(example)
      if (given !== size) return
      this.replay(newest)
      // Learned: let them go (the probe's before the model's newest are read).
      newest.length = 0
    }
  }

  /** The newest messages, `epochs` times (see `learner`). */
  private replay(newest: ReadonlyArray<Example>): void {
    // The document frequencies stay as they are from here on: each message is weighed once.
    const recent = newest.map((example) => ({
      features: this.weighed(example.features),
      id: this.idOf(example.label),
      times: example.times ?? 1
    }))
    for (let pass = 0; pass < this.options.epochs; pass++) {
      const last = pass === this.options.epochs - 1
      for (const { features, id, times } of last ? recent : shuffled(recent, 1234 + pass)) {
        if (last) this.model.learn(features, id, times)
        else for (let step = 0; step < times; step++) this.model.rehearse(features, id)
      }
    }
  }
}
