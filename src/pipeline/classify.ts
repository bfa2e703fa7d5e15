/**
 * Classify stage. Each email is screened as it arrives: mail the user moved back stays, and what
 * the classifier answers for free (the learned model, a confident keyword, a remembered LLM
 * verdict) is decided at once. Only the rest is grouped into batches of `batchSize` (or whatever
 * arrived within `batchWindow`, so a lone new email is not kept waiting), up to `workers` batches
 * classified at once: so what is screened out spares whole LLM calls. Of twins (domain/Twins.ts),
 * only the first is classified; the others get its verdict. When the classifier's answers teach its
 * screen (the learned model in front of an LLM), mates (domain/Mates.ts: the sender's or the
 * thread's other mail) wait for the first's answer and are screened again; what is still open joins
 * the batches. Every verdict is checked against the user's categories and thresholds.
 *
 *   emails ──▶ screen ──decided (or waiting for a twin's verdict or a mate's answer)──▶ decisions
 *                     └─open──▶ batches ──▶ classify ×workers ──▶ decisions, with the twins'
 *                                  ▲                     └─the mates screened again──▶ decisions
 *                                  └────────────still open───────┘
 */
import { Array as Arr, type Cause, Effect, Option, Queue, Result, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { subjectParts } from "../classify/text.ts"
import { confidenceText } from "../domain/Category.ts"
import type { Decision, FolderRef, ParsedEmail, Verdict } from "../domain/Email.ts"
import { mateKeys, Mates } from "../domain/Mates.ts"
import { Twins } from "../domain/Twins.ts"
import { Categories, type CategoriesApi } from "../services/Categories.ts"
import { Classifier } from "../services/Classifier.ts"
import type { Journal } from "../services/Journal.ts"
import type { LearnedModel } from "../services/LearnedModel.ts"
import type { Mailbox } from "../services/Mailbox.ts"
import { Settings } from "../services/Settings.ts"
import { returnedByUser } from "./learn.ts"
import type { Reporter } from "./report.ts"

/**
 * Only a known category at or above its own threshold moves mail. Anything else (an unknown
 * or invented category, low confidence, no verdict at all) leaves the message where it is.
 */
export const decide = (categories: CategoriesApi, email: ParsedEmail, verdict: Verdict | undefined): Decision => {
  const retry = verdict === undefined || verdict.provisional === true
  const opinion = verdict?.opinion === undefined ? [] : [`the learned model: ${verdict.opinion}`]
  const leave = (reason: string, options: { readonly llmSaidNone?: boolean; readonly retry?: boolean } = {}): Decision => {
    const again = retry || options.retry === true
    return {
      _tag: "Leave",
      email,
      reason: [reason, ...opinion, ...(again ? ["tried again later"] : [])].join("; "),
      retry: again,
      ...(options.llmSaidNone === true ? { llmSaidNone: true } : {})
    }
  }
  if (verdict === undefined) return leave("the classifier gave no verdict")
  if (verdict._tag === "NoMatch") {
    // The LLM's own answer, fresh or remembered (the cache holds only the LLM's), not a stand-in's.
    const llmSaidNone = !retry && (verdict.stage === "llm" || verdict.stage === "cache")
    // The learned model's veto names who said what ("keywords said SPAM, but…"): no prefix before it.
    return leave(verdict.stage === "learned" ? verdict.reason : `${verdict.classifier}: ${verdict.reason}`, { llmSaidNone })
  }
  const category = categories.find(verdict.categoryId)
  if (category._tag === "None") return leave(`${verdict.classifier} named unknown category "${verdict.categoryId}"`)
  const confidence = Number.isFinite(verdict.confidence) ? Math.min(1, Math.max(0, verdict.confidence)) : 0
  if (confidence < category.value.threshold) {
    return leave(
      `${category.value.id} ${confidenceText(confidence)} is below its threshold ${category.value.threshold.toFixed(2)} ` +
        `(${verdict.classifier})`
    )
  }
  if (category.value.unreachable === true) {
    // Warned about at start. Left for now, not settled: tried again after a delay that doubles (no
    // failure: --once exits 0), so once the user makes the folder, the mail goes there.
    return leave(
      `${category.value.id} (${verdict.classifier}), but its folder "${category.value.folder}" does not exist and the server ` +
        "creates folders only under Folders/ and labels under Labels/",
      { retry: true }
    )
  }
  return {
    _tag: "Move",
    email,
    category: category.value,
    confidence,
    classifier: verdict.classifier,
    stage: verdict.stage,
    reason: verdict.reason
  }
}

/** An email that could not be classified this time: failed, tried again later. */
const failed = (reporter: Reporter, folder: FolderRef, email: ParsedEmail, reason: string) =>
  reporter.record({ _tag: "Failed", failure: { folder: folder.path, uid: email.uid, stage: "classify", reason, retry: true } })

/** Screened, an email that waits for its twin's verdict, or its mate's answer (see `Twins`, `Mates`). */
const WAITS = "waits for its twin or mate"

/** An email screened: decided at once, or waiting for its twin (success); or open for a batch (failure). */
type Screened = Result.Result<Decision | typeof WAITS, ParsedEmail>

export const classifyStage = (folder: FolderRef, reporter: Reporter) =>
<E, R>(
  emails: Stream.Stream<ParsedEmail, E, R>
): Stream.Stream<
  NonEmptyReadonlyArray<Decision>,
  E,
  R | Settings | Classifier | Categories | Journal | LearnedModel | Mailbox
> =>
  Stream.unwrap(Effect.gen(function*() {
    const settings = yield* Settings
    const classifier = yield* Classifier
    const categories = yield* Categories
    const context = yield* Effect.context<Journal | LearnedModel | Settings | Categories | Mailbox>()

    /**
     * Mail the user moved back after the sorter moved it: it stays, and is not sorted again. When
     * that cannot be told (the database failed), nothing is: it all waits to be tried again rather
     * than risk sorting mail back where the user just took it from.
     */
    const movedBack = (batch: NonEmptyReadonlyArray<ParsedEmail>) =>
      returnedByUser(folder, batch).pipe(
        Effect.provideContext(context),
        Effect.map((back) => ({ back, unknown: false })),
        Effect.catch((error) =>
          Effect.as(Effect.logWarning(`${folder.path}: ${error.message}`), { back: new Map<number, string>(), unknown: true })
        )
      )

    const twins = new Twins(settings.batchSize * settings.workers)
    const holdsMates = classifier.learnsFromAnswers === undefined ? false : yield* classifier.learnsFromAnswers
    const mates = new Mates(settings.batchSize * settings.workers)
    /** Mates screened again and still open: batched with the rest (ended once none can come). */
    const reopened = yield* Queue.unbounded<ParsedEmail, Cause.Done>()
    let openEnded = false
    let releasing = 0
    const endIfDone = Effect.suspend(() =>
      openEnded && mates.waits === 0 && releasing === 0 ? Queue.end(reopened) : Effect.void
    )

    /** An email decided by the verdict of its twin (UID `uid`), saying so. */
    const asTwin = (email: ParsedEmail, uid: number, verdict: Verdict | undefined): Decision => {
      const note = `(as its twin, UID ${uid})`
      const decision = decide(categories, email, verdict === undefined ? verdict : {
        ...verdict,
        // The LLM's own words are not kept (LlmClassifier): its reason may be empty.
        reason: verdict.reason === "" ? note : `${verdict.reason} ${note}`
      })
      return decision._tag === "Move" ? { ...decision, twinOf: uid } : decision
    }

    /** The folder a verdict moves mail to, when it is a move that stands (not a stand-in's). */
    const folderOf = (verdict: Verdict | undefined): string | undefined =>
      verdict?._tag === "Matched" && verdict.provisional !== true
        ? Option.getOrUndefined(Option.map(categories.find(verdict.categoryId), (category) => category.folder))
        : undefined

    const reopen = (mate: ParsedEmail) =>
      Effect.flatMap(Queue.offer(reopened, mate), (offered) => (offered ? Effect.void : failed(reporter, folder, mate, "its batch had ended")))

    /**
     * The mates that waited for these emails' answers (`answers`; none when the call failed): each
     * whose first the LLM filed is screened again by the model taught that answer for the pass,
     * and decided when the model now files it where its first went; all others are open again,
     * for a batch (the model did not decide them on the answer they waited for).
     */
    const releaseMates = (
      batch: ReadonlyArray<ParsedEmail>,
      answers: ReadonlyArray<Verdict | undefined>
    ): Effect.Effect<ReadonlyArray<Decision>> => {
      const released = batch.flatMap((email, index) =>
        mates.settle(email.uid).map((mate) => ({ mate, first: email.uid, target: folderOf(answers[index]) }))
      )
      if (!Arr.isReadonlyArrayNonEmpty(released)) return endIfDone.pipe(Effect.as([]))
      releasing += released.length
      return Effect.gen(function*() {
        const looked = released.filter((each) => each.target !== undefined)
        const verdicts = Arr.isReadonlyArrayNonEmpty(looked)
          ? yield* (classifier.screenAgain ?? classifier.screen)(Arr.map(looked, ({ mate }) => mate)).pipe(
            Effect.catch((error) => Effect.as(Effect.logWarning(`${folder.path}: ${error.message}`), looked.map(() => undefined)))
          )
          : []
        const verdictOf = new Map(looked.map(({ mate }, index) => [mate.uid, verdicts[index]]))
        const decisions: Array<Decision> = []
        for (const { mate, first, target } of released) {
          const verdict = verdictOf.get(mate.uid)
          if (verdict?.stage !== "learned" || target === undefined || folderOf(verdict) !== target) {
            yield* reopen(mate)
            continue
          }
          const seen = { ...verdict, reason: `${verdict.reason}, looked at again once the LLM had answered UID ${first} (its sender or thread)` }
          const waited = twins.settle(mate, seen)
          decisions.push(decide(categories, mate, seen), ...waited.map((twin) => asTwin(twin, mate.uid, seen)))
          yield* reporter.answeredAsTwins(waited.length)
        }
        return decisions
      }).pipe(Effect.ensuring(Effect.suspend(() => {
        releasing -= released.length
        return endIfDone
      })))
    }

    const classifyBatch = (batch: NonEmptyReadonlyArray<ParsedEmail>): Effect.Effect<ReadonlyArray<Decision>> =>
      reporter.classificationCall(batch.length).pipe(
        Effect.andThen(classifier.classify(batch)),
        Effect.flatMap((verdicts) => {
          const decisions = batch.flatMap((email, index) => {
            const verdict = verdicts[index]
            const waited = twins.settle(email, verdict)
            return [decide(categories, email, verdict), ...waited.map((twin) => asTwin(twin, email.uid, verdict))]
          })
          return Effect.as(reporter.answeredAsTwins(decisions.length - batch.length), { decisions, verdicts })
        }),
        Effect.catch((error) =>
          Effect.forEach(batch.flatMap((email) => [email, ...twins.settle(email, undefined)]), (email) => failed(reporter, folder, email, error.message))
            .pipe(Effect.as({ decisions: [], verdicts: [] }))
        ),
        Effect.flatMap(({ decisions, verdicts }) => Effect.map(releaseMates(batch, verdicts), (more) => [...decisions, ...more]))
      )

    /**
     * Each email as it arrives: mail the user moved back stays; what the classifier answers for free
     * is decided; the rest is open, for the batches.
     */
    const screen = (arrived: NonEmptyReadonlyArray<ParsedEmail>): Effect.Effect<NonEmptyReadonlyArray<Screened>> =>
      Effect.gen(function*() {
        const { back, unknown } = yield* movedBack(arrived)
        if (unknown) {
          return Arr.map(arrived, (email): Screened =>
            Result.succeed({ _tag: "Leave", email, reason: "could not tell whether you took it out of a category", retry: true }))
        }
        const others = arrived.filter((email) => !back.has(email.uid))
        const verdicts = Arr.isReadonlyArrayNonEmpty(others)
          ? yield* classifier.screen(others).pipe(
            Effect.catch((error) => Effect.as(Effect.logWarning(`${folder.path}: ${error.message}`), others.map(() => undefined)))
          )
          : []
        const verdictOf = new Map(others.map((email, index) => [email.uid, verdicts[index]]))
        // The LLM's verdict remembered for a Message-ID is its twins' too (another Message-ID, the same question).
        for (const email of others) {
          const verdict = verdictOf.get(email.uid)
          if (verdict?.stage === "cache") twins.remember(email, verdict)
        }
        let givenToTwins = 0
        const screened = Arr.map(arrived, (email): Screened => {
          const category = back.get(email.uid)
          if (category !== undefined) {
            return Result.succeed({ _tag: "Leave", email, reason: `you took it out of ${category}: it stays`, retry: false, byUser: true })
          }
          const verdict = verdictOf.get(email.uid)
          if (verdict !== undefined) return Result.succeed(decide(categories, email, verdict))
          const twin = twins.open(email)
          if (twin._tag === "Classify") {
            // Mail the LLM is to answer again (ParsedEmail.reasked) is not the model's to decide: no use waiting.
            return holdsMates && email.reasked !== true && mates.open(email, mateKeys(email, subjectParts(email.subject).core))
              ? Result.succeed(WAITS)
              : Result.fail(email)
          }
          if (twin._tag === "Waits") return Result.succeed(WAITS)
          givenToTwins++
          return Result.succeed(asTwin(email, twin.uid, twin.verdict))
        })
        yield* reporter.answeredAsTwins(givenToTwins)
        return screened
      })

    const [decided, open] = yield* Stream.partition(
      emails.pipe(Stream.mapArrayEffect(screen)),
      (screened: Screened) => screened,
      { capacity: settings.batchSize * settings.workers }
    )
    return Stream.merge(
      decided.pipe(Stream.filter((decision) => decision !== WAITS), Stream.chunks),
      Stream.merge(
        open.pipe(Stream.ensuring(Effect.suspend(() => {
          openEnded = true
          return endIfDone
        }))),
        Stream.fromQueue(reopened)
      ).pipe(
        Stream.groupedWithin(settings.batchSize, settings.batchWindow),
        Stream.filter(Arr.isArrayNonEmpty<ParsedEmail>),
        Stream.mapEffect(classifyBatch, { concurrency: settings.workers, unordered: true }),
        Stream.filter(Arr.isReadonlyArrayNonEmpty)
      )
    )
  }))
