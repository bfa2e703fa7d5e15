import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fromFile } from "../../src/domain/Category.ts"
import type { ParsedEmail, Verdict } from "../../src/domain/Email.ts"
import { keywordClassifier } from "../../src/services/KeywordClassifier.ts"
import { defaultCategories } from "../support/layers.ts"
import { parsedEmail } from "../support/parsedEmail.ts"

const classifier = keywordClassifier(fromFile(defaultCategories))

const classify = (subject: string, body = ""): Effect.Effect<Verdict | undefined> => {
  const email = parsedEmail({ uid: 1, fingerprint: "f1", from: "a@example.com", subject, body })
  return Effect.map(Effect.orDie(classifier.classify([email])), (verdicts) => verdicts[0])
}

const category = (verdict: Verdict | undefined) => (verdict?._tag === "Matched" ? verdict.categoryId : "none")
const confidence = (verdict: Verdict | undefined) => (verdict?._tag === "Matched" ? verdict.confidence : 0)

describe("keyword classifier", () => {
  it.effect("matches regardless of case and accents", () =>
    Effect.gen(function*() {
      assert.strictEqual(category(yield* classify("HOTEL et RESERVATION")), "VOYAGES")
      assert.strictEqual(category(yield* classify("Hôtel et réservation")), "VOYAGES")
    }))

  it.effect("matches whole words with a plural, not fragments of other words", () =>
    Effect.gen(function*() {
      assert.strictEqual(category(yield* classify("Vos factures et paiements")), "BANQUE")
      // "promotion" is not "promo", "volume" is not "vol", "likely" is not "like"
      assert.strictEqual(category(yield* classify("promotion du volume, likely")), "none")
    }))

  it.effect("a keyword in the subject weighs twice one in the body", () =>
    Effect.gen(function*() {
      assert.strictEqual(confidence(yield* classify("x", "virement")), 0.5)
      assert.strictEqual(confidence(yield* classify("virement")), 0.75)
      assert.strictEqual(confidence(yield* classify("virement", "compte et paiement")), 0.9375)
    }))

  it.effect("a close runner-up lowers the confidence", () =>
    Effect.gen(function*() {
      // NEWSLETTER: newsletter (subject) 2 + unsubscribe 1 = 3; SPAM: unsubscribe 1 → margin 3 − 1/2
      const verdict = yield* classify("Newsletter", "unsubscribe")
      assert.strictEqual(category(verdict), "NEWSLETTER")
      assert.closeTo(confidence(verdict), 1 - 0.5 ** 2.5, 1e-9)
      assert.isBelow(confidence(verdict), confidence(yield* classify("Newsletter", "weekly")))
    }))

  it.effect("equal evidence goes to the higher priority (URGENT 5 over VOYAGES 2)", () =>
    Effect.gen(function*() {
      assert.strictEqual(category(yield* classify("urgent", "train")), "URGENT")
      assert.strictEqual(category(yield* classify("train urgent")), "URGENT")
    }))

  it.effect("a keyword made of symbols matches where it stands (\"%\")", () =>
    Effect.gen(function*() {
      assert.strictEqual(category(yield* classify("-30% sur tout")), "VENTE")
    }))

  it.effect("multi-word keywords match across line breaks and spaces", () =>
    Effect.gen(function*() {
      assert.strictEqual(category(yield* classify("Free", "click\n  here for free   money")), "SPAM")
    }))

  it.effect("overlapping keywords are each found: a keyword inside another, one that starts another", () =>
    Effect.gen(function*() {
      const spec = (keywords: ReadonlyArray<string>, priority: number) => ({
        name: `C${priority}`,
        folder: `Folders/C${priority}`,
        keywords: [...keywords],
        confidence_threshold: 0.5,
        priority,
        description: ""
      })
      const overlapping = keywordClassifier(fromFile({
        LONG: spec(["code promo", "promos", "e-mail"], 1),
        SHORT: spec(["code", "promo", "mail"], 2),
        NONE: spec([], 3)
      }))
      const reasons = (subject: string) =>
        Effect.map(Effect.orDie(overlapping.classify([parsedEmail({ uid: 1, subject })])), (verdicts) =>
          verdicts[0]?._tag === "Matched" ? verdicts[0].reason : "none")
      // "code promo" holds "code" and "promo"; "promos" is also "promo" (plural); "e-mail" holds "mail"
      assert.strictEqual(yield* reasons("Votre code promo"), "keywords: code (subject), promo (subject) (also LONG)")
      assert.strictEqual(yield* reasons("Des promos"), "keywords: promo (subject) (also LONG)")
      assert.strictEqual(yield* reasons("Un e-mail"), "keywords: mail (subject) (also LONG)")
      // but "promotion" is not "promo", "code promotion" is not "code promo", "décode" is not "code"
      assert.strictEqual(yield* reasons("code promotion"), "keywords: code (subject)")
      assert.strictEqual(yield* reasons("décode la promotionnelle"), "none")
    }))

  it.effect("no keyword: no match, with a reason", () =>
    Effect.gen(function*() {
      const verdict = yield* classify("Dîner samedi", "Chez Paul à 20h")
      assert.deepStrictEqual(verdict, { _tag: "NoMatch", reason: "no keyword matched", classifier: "keyword", stage: "keyword" })
    }))

  it.effect("answers one verdict per email, in order", () =>
    Effect.gen(function*() {
      const emails: ReadonlyArray<ParsedEmail> = ["virement compte", "réunion projet", "rien"].map((subject, i) => parsedEmail({ uid: i, fingerprint: "f", subject }))
      const [first, ...rest] = emails
      if (first === undefined) return assert.fail("no emails")
      const verdicts = yield* Effect.orDie(classifier.classify([first, ...rest]))
      assert.deepStrictEqual(verdicts.map(category), ["BANQUE", "PRO", "none"])
    }))
})
