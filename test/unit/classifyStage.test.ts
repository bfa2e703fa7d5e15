import { assert, describe, it } from "@effect/vitest"
import { type Cause, Effect, Fiber, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import { fromFile } from "../../src/domain/Category.ts"
import type { Decision, ParsedEmail, Verdict } from "../../src/domain/Email.ts"
import { twinKey } from "../../src/domain/Twins.ts"
import { classifyStage, decide } from "../../src/pipeline/classify.ts"
import { makeCategories } from "../../src/services/Categories.ts"
import { makeReporter } from "../../src/pipeline/report.ts"
import { makeFakeClassifier } from "../support/FakeClassifier.ts"
import { testLayer } from "../support/layers.ts"
import { parsedEmail } from "../support/parsedEmail.ts"

const email = (uid: number): ParsedEmail => parsedEmail({ uid, subject: `mail ${uid}` })

/** The stage over a queue of arriving emails, each group of decisions it gives offered to `decided`. */
const running = Effect.gen(function*() {
  const incoming = yield* Queue.unbounded<ParsedEmail, Cause.Done>()
  const decided = yield* Queue.unbounded<ReadonlyArray<Decision>>()
  const reporter = yield* makeReporter("INBOX")
  const fiber = yield* Stream.fromQueue(incoming).pipe(
    classifyStage({ path: "INBOX", uidValidity: 1n }, reporter),
    Stream.runForEach((batch) => Queue.offer(decided, batch)),
    Effect.forkChild
  )
  return { incoming, decided, fiber }
})

describe("time-bounded batches", () => {
  it.effect("a lone new email is classified once the batch window passes, without waiting for nine more", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      const { incoming, decided, fiber } = yield* running
      yield* Queue.offer(incoming, email(1))
      // Let the email reach the batcher (through the screen) before the clock moves.
      for (let n = 0; n < 20; n++) yield* Effect.yieldNow
      yield* TestClock.adjust("900 millis")
      assert.strictEqual(yield* Queue.size(decided), 0)
      yield* TestClock.adjust("200 millis")
      const batch = yield* Queue.take(decided)
      assert.deepStrictEqual(batch.map((decision) => decision.email.uid), [1])
      assert.deepStrictEqual(fake.stats.batches, [[1]])
      // A full batch does not wait for the window.
      for (let uid = 2; uid <= 11; uid++) yield* Queue.offer(incoming, email(uid))
      const full = yield* Queue.take(decided)
      assert.strictEqual(full.length, 10)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { batchSize: 10 } })))
  })
})

describe("twins", () => {
  const letter = (uid: number, body = "Dear Vince, the workshop is on Monday.") =>
    parsedEmail({ uid, messageId: `<${uid}@example.org>`, fromAddress: "hr@example.org", subject: "Workshop", body })

  /** The stage over `emails` (a stream: some arriving later), to its end. */
  const classified = (
    emails: ReadonlyArray<ParsedEmail> | Stream.Stream<ParsedEmail>,
    fake: ReturnType<typeof makeFakeClassifier>,
    settings: { readonly batchSize: number; readonly workers?: number } = { batchSize: 10 }
  ) =>
    Effect.gen(function*() {
      const reporter = yield* makeReporter("INBOX")
      const arriving = Stream.isStream(emails) ? emails : Stream.fromIterable(emails)
      const decisions = yield* arriving.pipe(classifyStage({ path: "INBOX", uidValidity: 1n }, reporter), Stream.runCollect)
      return { decisions: decisions.flat(), tally: yield* reporter.tally }
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings })))

  it("twins differ only where no classifier reads: the UID, the Message-ID, the dates", () => {
    const first = letter(1)
    assert.strictEqual(twinKey({ ...first, uid: 2, messageId: "<other@example.org>", fingerprint: "f2", date: 1, internalDate: 2 }), twinKey(first))
    const read: ReadonlyArray<Partial<ParsedEmail>> = [
      { from: "HR <hr@example.org>" },
      { fromName: "HR" },
      { to: ["vince@example.org"] },
      { cc: ["shirley@example.org"] },
      { listId: "hr.example.org" },
      { listUnsubscribe: true },
      { subject: "Workshop!" },
      { body: "Dear Vince, the workshop is on Monday" },
      { reasked: true }
    ]
    for (const change of read) assert.notStrictEqual(twinKey({ ...first, ...change }), twinKey(first), JSON.stringify(change))
  })

  it.effect("the same message delivered twice is classified once: its twin gets the verdict, and says whose it was", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      // 2 and 4 are 1 again under other Message-IDs; 3 differs in its body only.
      const { decisions } = yield* classified([letter(1), letter(2), letter(3, "Dear Vince, the workshop is on Tuesday."), letter(4)], fake)
      assert.deepStrictEqual(fake.stats.batches.flat().sort(), [1, 3])
      const reasons = new Map(decisions.map((decision) => [decision.email.uid, decision._tag === "Leave" ? decision.reason : ""]))
      assert.deepStrictEqual([...reasons.keys()].sort(), [1, 2, 3, 4])
      assert.strictEqual(reasons.get(1), "fake: scripted")
      assert.strictEqual(reasons.get(2), "fake: scripted (as its twin, UID 1)")
      assert.strictEqual(reasons.get(4), "fake: scripted (as its twin, UID 1)")
      assert.strictEqual(reasons.get(3), "fake: scripted")
    })
  })

  it.effect("a twin of mail whose verdict the LLM gave before (remembered for its Message-ID) gets that verdict, without a call; a stand-in is not handed on", () => {
    const remembered = (stage: "cache" | "keyword", provisional = false): Verdict => ({
      _tag: "Matched",
      categoryId: "PRO",
      confidence: 0.95,
      reason: "remembered",
      classifier: "fake",
      stage,
      ...(provisional ? { provisional: true } : {})
    })
    const run = (first: Verdict) => {
      const fake = makeFakeClassifier({ screen: (arrived) => (arrived.uid === 1 ? first : undefined) })
      return Effect.map(classified([letter(1), letter(2)], fake), ({ decisions }) => ({
        batches: fake.stats.batches.flat(),
        second: decisions.find((decision) => decision.email.uid === 2)
      }))
    }
    return Effect.gen(function*() {
      const cached = yield* run(remembered("cache"))
      assert.deepStrictEqual(cached.batches, [])
      assert.deepInclude(cached.second, { _tag: "Move", twinOf: 1, reason: "remembered (as its twin, UID 1)" })
      // Only what depends on the Message-ID is handed on: what keywords decide, they decide for the twin too.
      assert.deepStrictEqual((yield* run(remembered("keyword"))).batches, [2])
      assert.deepStrictEqual((yield* run(remembered("cache", true))).batches, [2])
    })
  })

  it.effect("a twin arriving once the verdict is in gets it too, without a call", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      const { incoming, decided, fiber } = yield* running
      yield* Queue.offer(incoming, letter(1))
      for (let n = 0; n < 20; n++) yield* Effect.yieldNow
      yield* TestClock.adjust("1100 millis")
      assert.deepStrictEqual((yield* Queue.take(decided)).map((decision) => decision.email.uid), [1])
      yield* Queue.offer(incoming, letter(2))
      const [second] = yield* Queue.take(decided)
      assert.strictEqual(second?._tag === "Leave" ? second.reason : second?._tag, "fake: scripted (as its twin, UID 1)")
      assert.deepStrictEqual(fake.stats.batches, [[1]])
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { batchSize: 10 } })))
  })

  it.live("a twin is decided once, even when its twin's verdict comes while it is still queued for the batches", () => {
    // One email a batch, one batch at a time: the first's verdict is in long before the twin's turn.
    const fake = makeFakeClassifier({ latency: "20 millis" })
    return Effect.gen(function*() {
      const others = Array.from({ length: 6 }, (_, n) => letter(10 + n, `other ${n}`))
      const { decisions } = yield* classified([letter(1), ...others, letter(2)], fake, { batchSize: 1, workers: 1 })
      assert.deepStrictEqual(decisions.filter((decision) => decision.email.uid === 2).length, 1)
      assert.isFalse(fake.stats.batches.flat().includes(2))
      assert.strictEqual(decisions.length, 8)
    })
  })

  it.live("at most as many twins wait as the queue before the batches holds: the next is asked about itself", () => {
    const fake = makeFakeClassifier({ latency: "20 millis" })
    return Effect.gen(function*() {
      const { decisions, tally } = yield* classified([letter(1), letter(2), letter(3)], fake, { batchSize: 1, workers: 1 })
      assert.deepStrictEqual(fake.stats.batches, [[1], [3]])
      assert.deepStrictEqual(decisions.map((decision) => decision.email.uid).sort(), [1, 2, 3])
      assert.strictEqual(tally.twins, 1)
    })
  })

  it.effect("an email read twice under one UID is no twin of itself: it is classified, not lost", () => {
    const fake = makeFakeClassifier()
    return Effect.gen(function*() {
      const { decisions } = yield* classified([letter(1), letter(1)], fake)
      assert.isTrue(decisions.some((decision) => decision.email.uid === 1))
    })
  })

  it.live("a stand-in's verdict (the LLM could not answer) is not handed on: a twin arriving later is asked itself", () => {
    let calls = 0
    const fake = makeFakeClassifier({
      verdict: (): Verdict =>
        calls++ === 0
          ? { _tag: "NoMatch", reason: "no keyword matched", classifier: "keyword", stage: "keyword", provisional: true }
          : { _tag: "NoMatch", reason: "no category fits", classifier: "llm", stage: "llm" }
    })
    return Effect.gen(function*() {
      const later = Stream.fromEffect(Effect.as(Effect.sleep("1500 millis"), letter(2)))
      yield* classified(Stream.concat(Stream.make(letter(1)), later), fake)
      assert.deepStrictEqual(fake.stats.batches, [[1], [2]])
    })
  })

  it.effect("when the first cannot be classified, its twins fail with it and are tried again", () => {
    const fake = makeFakeClassifier({ failWhen: (batch) => batch.some((each) => each.uid === 1) })
    return Effect.gen(function*() {
      const { decisions, tally } = yield* classified([letter(1), letter(2)], fake)
      assert.deepStrictEqual(fake.stats.batches, [[1]])
      assert.strictEqual(decisions.length, 0)
      assert.strictEqual(tally.failed, 2)
    })
  })
})

describe("decide", () => {
  it("a confidence just under the threshold is not shown rounded up to it", () => {
    const categories = makeCategories(fromFile({
      VENTE: { name: "VENTE", folder: "Folders/Achats", keywords: [], confidence_threshold: 0.65, priority: 1, description: "" }
    }))
    const verdict: Verdict = { _tag: "Matched", categoryId: "VENTE", confidence: 0.646, reason: "", classifier: "keyword", stage: "keyword" }
    const decision = decide(categories, email(1), verdict)
    assert.strictEqual(decision._tag === "Leave" ? decision.reason : decision._tag, "VENTE 0.64 is below its threshold 0.65 (keyword)")
    assert.strictEqual(decide(categories, email(2), { ...verdict, confidence: 0.65 })._tag, "Move")
    // Left below its threshold, it says what the learned model made of it, as a message no link matched does.
    const withModel = decide(categories, email(3), { ...verdict, opinion: "VENTE, 0.52 (it moves at 0.65)" })
    assert.strictEqual(
      withModel._tag === "Leave" ? withModel.reason : withModel._tag,
      "VENTE 0.64 is below its threshold 0.65 (keyword); the learned model: VENTE, 0.52 (it moves at 0.65)"
    )
    const none = decide(categories, email(4), { _tag: "NoMatch", reason: "no verdict", classifier: "keyword", stage: "keyword", provisional: true, opinion: "x" })
    assert.strictEqual(none._tag === "Leave" ? none.reason : none._tag, "keyword: no verdict; the learned model: x; tried again later")
  })

  it("the LLM's answer that no category fits, fresh or remembered, is one the model may learn from; keywords' or a stand-in's is not", () => {
    const categories = makeCategories(fromFile({}))
    const taught = (verdict: Verdict) => {
      const decision = decide(categories, email(1), verdict)
      return decision._tag === "Leave" && decision.llmSaidNone === true
    }
    const none = { _tag: "NoMatch", reason: "no category fits", classifier: "llm:test-model" } as const
    assert.isTrue(taught({ ...none, stage: "llm" }))
    assert.isTrue(taught({ ...none, stage: "cache" }))
    assert.isFalse(taught({ ...none, stage: "keyword", classifier: "keyword" }))
    // The LLM could not answer: keywords stood in, for now.
    assert.isFalse(taught({ ...none, stage: "keyword", provisional: true }))
    assert.isFalse(taught({ ...none, stage: "llm", provisional: true }))
    // The learned model vetoed the LLM's call (mail like this is what the user keeps): not the LLM's answer.
    assert.isFalse(taught({ ...none, stage: "learned", classifier: "learned" }))
    assert.isFalse(taught({ _tag: "Matched", categoryId: "NOPE", confidence: 0.9, reason: "", classifier: "llm:test-model", stage: "llm" }))
  })
})
