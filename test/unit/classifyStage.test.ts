import { assert, describe, it } from "@effect/vitest"
import { type Cause, Duration, Effect, Fiber, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import { fromFile } from "../../src/domain/Category.ts"
import type { Decision, ParsedEmail, Verdict } from "../../src/domain/Email.ts"
import { mateKeys } from "../../src/domain/Mates.ts"
import { twinKey } from "../../src/domain/Twins.ts"
import { classifyStage, decide } from "../../src/pipeline/classify.ts"
import { makeCategories } from "../../src/services/Categories.ts"
import { makeReporter, type Reporter } from "../../src/pipeline/report.ts"
import { makeFakeClassifier, matched } from "../support/FakeClassifier.ts"
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

describe("mates: mail from the sender, or in the thread, of an email being asked", () => {
  const from = (uid: number, sender: string, subject = `note ${uid}`) =>
    parsedEmail({ uid, messageId: `<${uid}@example.org>`, fromAddress: sender, subject, body: `body ${uid}` })

  /**
   * A fake LLM behind a screen that, as the learned model does, learns each answer for the rest
   * of the pass: once a sender's or thread's first mail is answered, it decides the mail in `sure`.
   */
  const learning = (sure: ReadonlySet<number>, options: { readonly learns?: boolean; readonly failFirst?: boolean } = {}) => {
    const answered = new Set<string>()
    const decidedByModel: Verdict = { _tag: "Matched", categoryId: "PRO", confidence: 0.95, reason: "learned", classifier: "learned", stage: "learned" }
    return makeFakeClassifier({
      learnsFromAnswers: options.learns ?? true,
      screen: (arrived) => (sure.has(arrived.uid) && (answered.has(arrived.fromAddress) || answered.has(arrived.subject)) ? decidedByModel : undefined),
      failWhen: (batch) => options.failFirst === true && batch.some((each) => each.uid === 1),
      verdict: (asked) => {
        answered.add(asked.fromAddress)
        answered.add(asked.subject)
        return matched("PRO", 0.95)
      }
    })
  }

  // Live: a first's batch that is not full is sent when the batch window passes (the stream does
  // not end while its mates wait for it).
  const run = (emails: ReadonlyArray<ParsedEmail>, fake: ReturnType<typeof makeFakeClassifier>, batches = { batchSize: 10, workers: 5 }) =>
    Effect.gen(function*() {
      const reporter = yield* makeReporter("INBOX")
      const decisions = yield* Stream.fromIterable(emails).pipe(classifyStage({ path: "INBOX", uidValidity: 1n }, reporter), Stream.runCollect)
      return { decisions: decisions.flat(), tally: yield* reporter.tally }
    }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { ...batches, learn: false } })))

  it.live("wait for the first's answer and are screened again: what the screen then decides costs no call, the rest is asked", () => {
    const fake = learning(new Set([2, 4]))
    return Effect.gen(function*() {
      // 2 and 3 are hr's like 1; 4 is in 1's thread from another sender; 5 is no mate.
      const mail = [from(1, "hr@example.org", "Workshop"), from(2, "hr@example.org"), from(3, "hr@example.org"), from(4, "bob@example.org", "Workshop"), from(5, "ann@example.org")]
      const { decisions } = yield* run(mail, fake)
      assert.deepStrictEqual(fake.stats.batches.map((batch) => [...batch].sort()), [[1, 5], [3]])
      assert.deepStrictEqual(decisions.map((decision) => decision.email.uid).sort(), [1, 2, 3, 4, 5])
      const second = decisions.find((decision) => decision.email.uid === 2)
      assert.deepInclude(second, { _tag: "Move", stage: "learned", reason: "learned, looked at again once the LLM had answered UID 1 (its sender or thread)" })
      assert.strictEqual(decisions.find((decision) => decision.email.uid === 4)?._tag, "Move")
    })
  })

  it.live("are asked when the model, taught the answer, files them elsewhere than their first went, or their first was filed nowhere", () => {
    const answered = new Set<string>()
    const fake = makeFakeClassifier({
      learnsFromAnswers: true,
      screen: (arrived) =>
        answered.has(arrived.fromAddress)
          ? { _tag: "Matched", categoryId: arrived.uid === 2 ? "VOYAGES" : "PRO", confidence: 0.95, reason: "learned", classifier: "learned", stage: "learned" }
          : undefined,
      verdict: (asked) => {
        answered.add(asked.fromAddress)
        return asked.uid === 1 ? matched("PRO", 0.95) : { _tag: "NoMatch", reason: "none fits", classifier: "fake", stage: "llm" }
      }
    })
    return Effect.gen(function*() {
      // 2 waits for 1 (filed in PRO) but the model would file it in VOYAGES; 4 waits for 3, which the LLM filed nowhere.
      const mail = [from(1, "hr@example.org"), from(2, "hr@example.org"), from(3, "ann@example.org"), from(4, "ann@example.org")]
      const { decisions } = yield* run(mail, fake)
      assert.deepStrictEqual(fake.stats.batches.map((batch) => [...batch].sort()), [[1, 3], [2, 4]])
      assert.deepStrictEqual(decisions.map((decision) => decision.email.uid).sort(), [1, 2, 3, 4])
    })
  })

  it("are grouped by sender address and thread, a thread by the first 200 characters of its subject at most", () => {
    assert.deepStrictEqual(mateKeys({ fromAddress: "hr@example.org" }, "workshop"), ["from hr@example.org", "thread workshop"])
    assert.deepStrictEqual(mateKeys({ fromAddress: "" }, ""), [])
    const [key] = mateKeys({ fromAddress: "" }, "x".repeat(1_000_000))
    assert.strictEqual(key?.length, "thread ".length + 200)
  })

  it.live("do not wait when the answers teach the screen nothing (no learned model, or no LLM behind it)", () => {
    const fake = learning(new Set([2]), { learns: false })
    return Effect.gen(function*() {
      const { decisions } = yield* run([from(1, "hr@example.org"), from(2, "hr@example.org"), from(3, "hr@example.org")], fake)
      assert.deepStrictEqual(fake.stats.batches, [[1, 2, 3]])
      assert.strictEqual(decisions.length, 3)
    })
  })

  it.live("are asked themselves when the first's call fails: none is lost", () => {
    const fake = learning(new Set([2]), { failFirst: true })
    return Effect.gen(function*() {
      const { decisions, tally } = yield* run([from(1, "hr@example.org"), from(2, "hr@example.org"), from(3, "hr@example.org")], fake)
      assert.deepStrictEqual(fake.stats.batches.map((batch) => [...batch].sort()), [[1], [2, 3]])
      assert.strictEqual(tally.failed, 1)
      assert.deepStrictEqual(decisions.map((decision) => decision.email.uid).sort(), [2, 3])
    })
  })

  it.live("a twin of a mate that waited gets the mate's verdict when the screen decides it", () => {
    const fake = learning(new Set([2, 3]))
    return Effect.gen(function*() {
      const twin = { ...from(2, "hr@example.org"), uid: 3, messageId: "<3@example.org>" }
      const { decisions } = yield* run([from(1, "hr@example.org"), from(2, "hr@example.org"), twin], fake)
      assert.deepStrictEqual(fake.stats.batches, [[1]])
      assert.deepInclude(decisions.find((decision) => decision.email.uid === 3), { _tag: "Move", twinOf: 2 })
    })
  })

  it.live("wait at most as many at a time as the batches before the LLM hold; the others take seats at once", () => {
    const fake = learning(new Set())
    return Effect.gen(function*() {
      const mail = Array.from({ length: 30 }, (_, index) => from(index + 1, "hr@example.org"))
      const { decisions } = yield* run(mail, fake, { batchSize: 2, workers: 2 })
      // 2 × 2 may wait (2 to 5): 6 is asked beside 1, the first.
      assert.deepStrictEqual(fake.stats.batches[0], [1, 6])
      assert.deepStrictEqual(decisions.map((decision) => decision.email.uid).sort((a, b) => a - b), mail.map((each) => each.uid))
      assert.deepStrictEqual(fake.stats.batches.flat().sort((a, b) => a - b), mail.map((each) => each.uid))
    })
  })

  it.live("whatever the timing, the failures and the twins, every email is decided or failed exactly once, and the stage ends", () =>
    Effect.gen(function*() {
      for (let seed = 1; seed <= 40; seed++) {
        let state = seed
        const random = () => {
          state = (state * 1103515245 + 12345) & 0x7fffffff
          return state / 0x7fffffff
        }
        const mail: Array<ParsedEmail> = []
        for (let uid = 1; uid <= 10 + Math.floor(random() * 40); uid++) {
          const copied = random() < 0.15 ? mail[Math.floor(random() * mail.length)] : undefined
          mail.push(copied === undefined
            ? parsedEmail({ uid, messageId: `<${uid}@x>`, fromAddress: random() < 0.1 ? "" : `s${Math.floor(random() * 4)}@x`, subject: `${random() < 0.5 ? "Re: " : ""}topic ${Math.floor(random() * 4)}`, body: `b ${uid}` })
            : { ...copied, uid, messageId: `<${uid}@x>` })
        }
        const answered = new Set<string>()
        const failed: Array<number> = []
        const fake = makeFakeClassifier({
          learnsFromAnswers: true,
          latency: `${Math.floor(random() * 20)} millis`,
          screenLatency: `${Math.floor(random() * 10)} millis`,
          failWhen: () => random() < 0.2,
          screen: (arrived) => (answered.has(arrived.fromAddress) && random() < 0.5 ? { ...matched("PRO", 0.95), stage: "learned" } : undefined),
          verdict: (asked) => {
            answered.add(asked.fromAddress)
            return matched("PRO", 0.95)
          }
        })
        const decisions = yield* Effect.gen(function*() {
          const base = yield* makeReporter("INBOX")
          const reporter: Reporter = {
            ...base,
            record: (outcome) =>
              Effect.andThen(
                Effect.sync(() => {
                  if (outcome._tag !== "Failed") return
                  failed.push(outcome.failure.uid)
                  // Only the classifier's own failures: the stage ending under a mate would be its bug.
                  assert.strictEqual(outcome.failure.reason, "fake classifier failed: scripted failure", `seed ${seed}`)
                }),
                base.record(outcome)
              )
          }
          return yield* Stream.fromIterable(mail).pipe(
            Stream.rechunk(1 + Math.floor(random() * 5)),
            classifyStage({ path: "INBOX", uidValidity: 1n }, reporter),
            Stream.runCollect,
            Effect.timeout("10 seconds")
          )
        }).pipe(Effect.provide(testLayer({ classifier: fake.layer, settings: { batchSize: 1 + Math.floor(random() * 4), workers: 1 + Math.floor(random() * 3), learn: false, batchWindow: Duration.millis(30) } })))
        const seen = [...decisions.flat().map((decision) => decision.email.uid), ...failed].sort((a, b) => a - b)
        assert.deepStrictEqual(seen, mail.map((each) => each.uid), `seed ${seed}`)
      }
    }), 120_000)
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
