/**
 * The learned model in front of the classifier it is given (keywords, or the LLM with its cache and
 * keywords): a message the model files with enough confidence is decided here, for free and on
 * this machine; only the rest is passed on.
 *
 * The model answers for a category only when it clears that category's threshold in
 * categories.json, was learned from at least MIN_EXAMPLES messages, and, for a spam or junk
 * folder, is at least SPAM_CONFIDENCE sure: a good message lost in Spam is the costliest mistake a
 * sorter makes. Otherwise it abstains, and the next link decides, with exceptions (`vetoed`): mail
 * from a sender the user took out of a folder back into a source folder is not put back there on a
 * keyword's or the LLM's word (refiled elsewhere: not on a keyword's); and, for that same costliest
 * mistake, mail the model is KEEP_CONFIDENCE sure stays where it is (like what the user read and
 * kept there, or what the LLM left there) is not moved into a spam or junk folder on their word
 * (the LLM's own earlier answers may then overrule its call of spam: the safe side), and once the
 * model has learned the user's spam folder, keywords alone no longer send mail there. A keyword
 * match sure enough to skip the LLM that the model doubts (`doubtsKeywords`) is left to the LLM.
 * In front of an LLM (`ClassifierApi.skipsKept`), mail the model is sure stays is left without
 * asking it (`keptWithoutAsking`), and mail the LLM left before categories.json changed is the
 * LLM's to answer again (`ParsedEmail.reasked`): the model does not decide it alone.
 */
import { Array as Arr, Effect, Layer, Option, Ref } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { extractFeatures, senderOf } from "../classify/features.ts"
import type { FolderGuess } from "../classify/FolderModel.ts"
import type { ClassifierStats } from "../domain/ClassifierStats.ts"
import { type Category, confidenceText, labelOfFolder } from "../domain/Category.ts"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import { isLabel } from "../domain/Folders.ts"
import { Categories } from "./Categories.ts"
import { Classifier, type ClassifierApi } from "./Classifier.ts"
import { keywordClassifier } from "./KeywordClassifier.ts"
import { type CorrectionKind, LearnedModel, type LearnedModelApi } from "./LearnedModel.ts"
import { looksLikeInjection } from "./LlmClassifier.ts"

export const LEARNED_CLASSIFIER = "learned"

/** A class learned from fewer messages than this never decides. */
export const MIN_EXAMPLES = 3

/** What the model must at least be sure of to file into a spam or junk folder. */
export const SPAM_CONFIDENCE = 0.99

/**
 * How sure the model must be that a message is like the mail the user keeps where it is for no
 * later link (keywords, the LLM) to move it into a spam or junk folder.
 */
export const KEEP_CONFIDENCE = 0.9


/**
 * How sure the model must be of another category for a keyword match sure enough to skip the LLM
 * (SKIP_CONFIDENT) to be asked of the LLM after all: more likely than not (0.5 itself is what a
 * model with too little evidence says).
 */
export const DOUBT_CONFIDENCE = 0.6

/** The least confidence the model ever decides for this category at, whatever its threshold. */
export const confidenceFloor = (category: Category): number => (category.spam ? SPAM_CONFIDENCE : 0)

/** The confidence the model needs to decide for this category. */
export const requiredConfidence = (category: Category): number => Math.max(category.threshold, confidenceFloor(category))

/**
 * The guess with the sender's usual folder in place of "stays" (FolderGuess.usual), unless that
 * folder is a spam one: a message rescued from Spam is the user's word on that sender, which the
 * history of the rest must not undo. A guess that follows a sender to a new folder of their own is
 * the model's own when that folder is a label (FolderGuess.habit).
 */
export const withUsual = (guess: FolderGuess, find: (id: string) => Category | undefined): FolderGuess => {
  if (guess.habit !== undefined) {
    const followed = guess.label === undefined ? undefined : find(guess.label)
    return followed !== undefined && isLabel(followed.folder) ? withUsual(guess.habit, find) : guess
  }
  const usual = guess.usual
  return usual === undefined || find(usual.label)?.spam !== false ? guess : usual
}

/** Whether some threshold would let the model move mail on this guess (`decisive` without the threshold). */
export const movable = (guess: FolderGuess): boolean =>
  guess.label !== undefined && guess.examples >= MIN_EXAMPLES && guess.confidence > 0

/**
 * The model's verdict when it is decisive, else undefined (the message goes on down the chain). A
 * confidence of 0 is no evidence at all (the model has not been calibrated yet): it never moves
 * mail, even into a category whose threshold is 0.
 */
export const decisive = (guess: FolderGuess, find: (id: string) => Category | undefined): Verdict | undefined => {
  if (!movable(guess) || guess.label === undefined) return undefined
  const category = find(guess.label)
  if (category === undefined || guess.confidence < requiredConfidence(category)) return undefined
  return {
    _tag: "Matched",
    categoryId: category.id,
    confidence: guess.confidence,
    reason: guess.habit !== undefined
      ? "this sender's mail goes there since you made the folder for it"
      : `learned from ${guess.examples} message(s) in its folder`,
    classifier: LEARNED_CLASSIFIER,
    stage: "learned"
  }
}

/** Whether the model is sure enough that the user keeps mail like this where it is. */
export const kept = (guess: FolderGuess | undefined): boolean =>
  guess !== undefined && guess.label === undefined && guess.examples >= MIN_EXAMPLES && guess.confidence >= KEEP_CONFIDENCE


/** The opinion of mail asked of the LLM again (ParsedEmail.reasked) says why it did not decide. */
const reaskedOpinion = <V extends Verdict | undefined>(verdict: V): V =>
  verdict?.opinion === undefined
    ? verdict
    : { ...verdict, opinion: `${verdict.opinion}; the LLM had left it before categories.json changed, so its answer decides` }

/** What the model says of mail it is sure stays, left without asking the LLM (SKIP_KEPT). */
const keptVerdict = (guess: FolderGuess | undefined): Verdict => ({
  _tag: "NoMatch",
  reason: `the learned model is sure you keep mail like this where it is (${confidenceText(guess?.confidence ?? 0)}): ` +
    "the LLM was not asked (PROTON_LUMO_LLM_SKIP_KEPT)",
  classifier: LEARNED_CLASSIFIER,
  stage: "learned"
})

/** A spam category the model has learned enough of to be the judge of what goes there. */
export const SPAM_JUDGE_EXAMPLES = 20

/**
 * A later link's verdict, unless it would put the sender's mail back into a folder the user took
 * it out of (`takenOut`; the model alone may, once it is sure from the user's own filing): out of
 * it into a source folder, the user keeps that sender's mail; refiled elsewhere, only keywords are
 * refused (they would misread the same words again: the LLM reads each message), or put
 * into a spam or junk folder mail the user keeps (the model is sure of it), or mail only keywords
 * call spam once the model knows the user's spam (`learnedExamples`: how many messages of that
 * folder a calibrated model learned; it was not sure enough itself: `decisive` asks 0.99 of it; a
 * keyword such as "unsubscribe" is in every newsletter).
 */
export const vetoed = <V extends Verdict | undefined>(
  verdict: V,
  guess: FolderGuess | undefined,
  find: (id: string) => Category | undefined,
  learnedExamples: (folder: string) => number,
  takenOut: ReadonlyMap<string, CorrectionKind> | undefined
): V | Verdict => {
  if (verdict?._tag !== "Matched") return verdict
  const category = find(verdict.categoryId)
  if (category === undefined) return verdict
  const how = takenOut?.get(category.folder)
  const refused = how === "moved back" || (how === "refiled" && verdict.stage === "keyword")
  if (!refused && !category.spam) return verdict
  const keeps = kept(guess)
  const judged = verdict.stage === "keyword" && learnedExamples(category.folder) >= SPAM_JUDGE_EXAMPLES
  if (!refused && !keeps && !judged) return verdict
  const said = `${verdict.stage === "keyword" ? "keywords" : verdict.classifier} said ${verdict.categoryId}`
  return {
    _tag: "NoMatch",
    reason: refused
      ? `${said}, but you took this sender's mail out of ${category.folder}: not moved there again`
      : keeps
      ? `${said}, but mail like this is what stays: not moved to ${category.folder}`
      : `${said}, but the model learned from your ${category.folder} folder is not sure of it`,
    classifier: LEARNED_CLASSIFIER,
    stage: "learned",
    // A stand-in's verdict (the LLM could not answer) stays one: the LLM is asked again later.
    ...(verdict.provisional === true ? { provisional: true } : {})
  }
}

/**
 * A later link's verdict, with what the model made of the message when it had an opinion: the
 * user reading "left in place" (no match, or a match below its threshold) sees how close the model
 * came, and which threshold to change.
 */
export const withOpinion = <V extends Verdict | undefined>(
  verdict: V,
  guess: FolderGuess | undefined,
  find: (id: string) => Category | undefined
): V | Verdict => {
  if (verdict === undefined || guess === undefined || guess.examples < MIN_EXAMPLES) return verdict
  const category = guess.label === undefined ? undefined : find(guess.label)
  const sure = confidenceText(guess.confidence)
  const opinion = guess.label === undefined
    ? `mail you keep where it is, ${sure}`
    : category === undefined
    ? undefined
    : `${category.id}, ${sure} (it moves at ${requiredConfidence(category).toFixed(2)}${guess.habit === undefined ? "" : "; you made its folder for this sender's mail"})`
  return opinion === undefined ? verdict : { ...verdict, opinion }
}

/**
 * While a scan of the folders is under way (a big mailbox's first scan takes several passes, each
 * cut short), the model does not know the user's folders yet: what keywords leave is left
 * provisionally, to be tried again (after a delay) once it does, not settled for good. The LLM's
 * verdicts stand: each one is paid for.
 */
export const untilLearned = <V extends Verdict | undefined>(verdict: V, reading: boolean): V | Verdict =>
  !reading || verdict === undefined || verdict.stage !== "keyword" || verdict.provisional === true
    ? verdict
    : { ...verdict, provisional: true }

/**
 * Whether the model doubts a keyword verdict given without asking the LLM (a sure match,
 * SKIP_CONFIDENT): from enough examples, it takes the message for another category
 * (DOUBT_CONFIDENCE), or is sure it stays (KEEP_CONFIDENCE). Keywords read words, the model the
 * user's own filing: an outside review with an LLM saw these skips misfile 8 of 35, most of them
 * into a folder beside the right one (the LLM: 6%).
 */
export const doubtsKeywords = (verdict: Verdict | undefined, guess: FolderGuess | undefined): boolean =>
  verdict?._tag === "Matched" && verdict.stage === "keyword" && verdict.provisional !== true &&
  guess !== undefined && guess.examples >= MIN_EXAMPLES && guess.label !== verdict.categoryId &&
  guess.confidence >= (guess.label === undefined ? KEEP_CONFIDENCE : DOUBT_CONFIDENCE)

/**
 * What the rest of the pass learns from a verdict (LearnedModel.learnForPass): the LLM's answer that
 * moves the mail (its own, not a stand-in's or one remembered from before, at its category's
 * threshold, into a folder that exists), under the label its folder's mail is learned as (the
 * first category naming that folder), as the model will learn it once the move stood. Not the
 * answer for mail that looks like it talks to the LLM (`suspicious`): one answer an injection won
 * must not be handed on to the sender's other mail without the LLM reading it.
 */
export const passLesson = (
  verdict: Verdict | undefined,
  categories: ReadonlyArray<Category>,
  suspicious: boolean
): string | undefined => {
  if (suspicious || verdict?._tag !== "Matched" || verdict.stage !== "llm" || verdict.provisional === true) return undefined
  const category = categories.find((each) => each.id === verdict.categoryId)
  return category === undefined || category.unreachable === true || verdict.confidence < category.threshold
    ? undefined
    : labelOfFolder(categories, category.folder)
}

/** Wraps the `Classifier` it is provided with: this layer's Classifier asks the model first. */
export const layer: Layer.Layer<Classifier, never, Classifier | LearnedModel | Categories> = Layer.effect(
  Classifier,
  Effect.gen(function*() {
    const next = yield* Classifier
    const model = yield* LearnedModel
    const categories = yield* Categories
    const decided = yield* Ref.make(0)
    const find = (id: string) => Option.getOrUndefined(categories.find(id))

    /** Sure keyword matches the model doubted: sent on to the LLM after all, so not calls it spared. */
    const doubted = yield* Ref.make(0)
    /** Mail the model was sure stays, left without asking the LLM (SKIP_KEPT). */
    const keptWithoutLlm = yield* Ref.make(0)

    /**
     * Of these emails, the ones still open after the screen (`open`) that are left without the LLM
     * (SKIP_KEPT): the model is sure they stay (`kept`), and no category it does not know yet
     * (fewer than MIN_EXAMPLES learned: one just made) could claim them. Such a category must have
     * keywords, none of which occurs in the mail; one without keywords turns this off, as only the
     * LLM could find its mail (read mail of a new category was learned as staying until then).
     */
    const keptWithoutAsking = (
      emails: NonEmptyReadonlyArray<ParsedEmail>,
      guesses: ReadonlyArray<FolderGuess | undefined>,
      open: ReadonlyArray<boolean>,
      examplesOf: (label: string) => number
    ) =>
      Effect.gen(function*() {
        const candidates = emails.flatMap((email, index) =>
          open[index] === true && email.reasked !== true && kept(guesses[index]) ? [{ email, index }] : []
        )
        const unknown = categories.all.filter((category) => examplesOf(category.id) < MIN_EXAMPLES)
        if (!Arr.isReadonlyArrayNonEmpty(candidates) || unknown.some((category) => category.keywords.length === 0)) {
          return new Set<number>()
        }
        const named = Arr.isReadonlyArrayNonEmpty(unknown)
          ? yield* keywordClassifier(unknown).classify(Arr.map(candidates, (candidate) => candidate.email))
          : []
        return new Set(candidates.flatMap(({ index }, n) => (named[n]?._tag === "Matched" ? [] : [index])))
      })

    /**
     * The model's decisive verdicts, then `ask` for the rest (one call, in order); `doubting`: a
     * screen's sure keyword match the model doubts is left open, for the LLM; `guessWith`: the
     * saved model's guess, or for mail that waited for a mate's answer, the pass's (screenAgain).
     */
    const modelThen = <V extends Verdict | undefined, E>(
      emails: NonEmptyReadonlyArray<ParsedEmail>,
      ask: (rest: NonEmptyReadonlyArray<ParsedEmail>) => Effect.Effect<ReadonlyArray<V>, E>,
      doubting: boolean,
      guessWith: LearnedModelApi["guess"] = model.guess
    ) =>
      Effect.gen(function*() {
        const features = emails.map(extractFeatures)
        const guesses = (yield* guessWith(features)).map((guess) => withUsual(guess, find))
        // What the LLM left under categories since edited is its to answer again (ParsedEmail.reasked).
        const verdicts = emails.map((email, index) => {
          const guess = guesses[index]
          return guess === undefined || email.reasked === true ? undefined : decisive(guess, find)
        })
        const undecided = emails.filter((_, index) => verdicts[index] === undefined)
        yield* Ref.update(decided, (n) => n + emails.length - undecided.length)
        const answers = Arr.isReadonlyArrayNonEmpty(undecided) ? yield* ask(undecided) : []
        const classes = yield* model.classes
        const reading = yield* model.reading
        const takenOut = yield* model.takenOut
        const examplesOf = (label: string | undefined) => classes.find((c) => c.label === label)?.examples ?? 0
        // A model not calibrated yet (one that knows only the Spam folder, say) moves nothing, so it
        // judges nothing either: keywords keep their say, as without learning.
        const calibrated = yield* model.calibrated
        const judgingExamples = (folder: string) => (calibrated ? examplesOf(labelOfFolder(categories.all, folder)) : 0)
        const takenOutOf = (email: ParsedEmail | undefined) => {
          const sender = email === undefined ? undefined : senderOf(email)
          return sender === undefined ? undefined : takenOut.get(sender)
        }
        let position = 0
        const given = verdicts.map((verdict) => (verdict === undefined ? answers[position++] : undefined))
        // Not while a first scan reads the folders: until it completes, the model knows too little of them.
        const leftKept = doubting && next.skipsKept === true && !reading
          ? yield* keptWithoutAsking(emails, guesses, given.map((answer, index) => verdicts[index] === undefined && answer === undefined), examplesOf)
          : new Set<number>()
        let doubts = 0
        const answered = verdicts.map((verdict, index): Verdict | V | undefined => {
          if (verdict !== undefined) return verdict
          if (leftKept.has(index)) return keptVerdict(guesses[index])
          if (doubting && doubtsKeywords(given[index], guesses[index])) {
            doubts++
            return undefined
          }
          const answer = vetoed(given[index], guesses[index], find, judgingExamples, takenOutOf(emails[index]))
          const opined = withOpinion(answer, guesses[index], find)
          return untilLearned(emails[index]?.reasked === true ? reaskedOpinion(opined) : opined, reading)
        })
        yield* Ref.update(doubted, (n) => n + doubts)
        yield* Ref.update(keptWithoutLlm, (n) => n + leftKept.size)
        yield* model.learnForPass(answered.flatMap((verdict, index) => {
          const email = emails[index]
          const lesson = email === undefined ? undefined : passLesson(verdict, categories.all, looksLikeInjection(email))
          const message = features[index]
          return lesson === undefined || message === undefined ? [] : [{ features: message, label: lesson }]
        }))
        return answered
      })

    const screen = Effect.fn("LearnedClassifier.screen")(function*(emails: NonEmptyReadonlyArray<ParsedEmail>) {
      return yield* modelThen(emails, next.screen, true)
    })

    const screenAgain = Effect.fn("LearnedClassifier.screenAgain")(function*(emails: NonEmptyReadonlyArray<ParsedEmail>) {
      return yield* modelThen(emails, next.screen, true, model.guessForPass)
    })

    const classify = Effect.fn("LearnedClassifier.classify")(function*(emails: NonEmptyReadonlyArray<ParsedEmail>) {
      const verdicts = yield* modelThen(emails, next.classify, false)
      return verdicts.map((verdict): Verdict =>
        verdict ?? { _tag: "NoMatch", reason: "no verdict", classifier: next.name, stage: "keyword" }
      )
    })

    const stats = Effect.gen(function*() {
      const inner = yield* next.stats
      const result: ClassifierStats = {
        ...inner,
        learned: yield* Ref.get(decided),
        skippedConfident: inner.skippedConfident - (yield* Ref.get(doubted)),
        keywordsDoubted: yield* Ref.get(doubted),
        keptWithoutLlm: yield* Ref.get(keptWithoutLlm)
      }
      return result
    })

    const beginPass = Effect.andThen(model.forgetPass, next.beginPass)
    const api: ClassifierApi = {
      name: `${LEARNED_CLASSIFIER}+${next.name}`,
      screen,
      classify,
      stats,
      beginPass,
      ...(next.asksLlm === true ? { asksLlm: true, learnsFromAnswers: model.calibrated, screenAgain } : {})
    }
    return api
  })
)
