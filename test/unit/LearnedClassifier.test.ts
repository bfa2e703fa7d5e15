/** The learned link's own rules, apart from the pipeline: what it tells the user about mail it left. */
import { describe, expect, it } from "vitest"
import type { Category } from "../../src/domain/Category.ts"
import { isSpamFolder } from "../../src/domain/Folders.ts"
import type { FolderGuess } from "../../src/classify/FolderModel.ts"
import type { Verdict } from "../../src/domain/Email.ts"
import { decisive, doubtsKeywords, passLesson, vetoed, withOpinion, withUsual } from "../../src/services/LearnedClassifier.ts"

const category = (id: string, folder: string, threshold: number): Category =>
  ({ id, name: id, folder, keywords: [], threshold, priority: 1, description: id, spam: isSpamFolder(folder) })
const categories = [
  category("PRO", "Folders/Travail", 0.9),
  category("SPAM", "Spam", 0.7),
  category("ANY", "Folders/Any", 0),
  category("IMPORTANT", "Labels/Important", 0.5)
]
const find = (id: string) => categories.find((c) => c.id === id)
const guess = (label: string | undefined, confidence: number, examples: number): FolderGuess => ({ label, confidence, examples })
const noMatch: Verdict = { _tag: "NoMatch", reason: "no keyword matched", classifier: "keyword", stage: "keyword" }

describe("decisive", () => {
  it("moves at the category's threshold, 0.99 at least for a spam folder, with enough examples", () => {
    expect(decisive(guess("PRO", 0.9, 3), find)).toMatchObject({ _tag: "Matched", categoryId: "PRO" })
    expect(decisive(guess("PRO", 0.89, 30), find)).toBeUndefined()
    expect(decisive(guess("PRO", 0.99, 2), find)).toBeUndefined()
    expect(decisive(guess("SPAM", 0.98, 30), find)).toBeUndefined()
    expect(decisive(guess("SPAM", 0.99, 30), find)).toMatchObject({ categoryId: "SPAM" })
    expect(decisive(guess(undefined, 0.99, 30), find)).toBeUndefined()
  })

  it("a confidence of 0 (a model not calibrated yet) moves nothing, even at a threshold of 0", () => {
    expect(decisive(guess("ANY", 0, 30), find)).toBeUndefined()
    expect(decisive(guess("ANY", 0.01, 30), find)).toMatchObject({ categoryId: "ANY" })
  })
})

describe("passLesson", () => {
  const llm: Verdict = { _tag: "Matched", categoryId: "PRO", confidence: 0.95, reason: "", classifier: "llm:m", stage: "llm" }
  it("the rest of the pass learns the LLM's own answer that moves the mail, as its folder's mail is learned", () => {
    expect(passLesson(llm, categories, false)).toBe("PRO")
    expect(passLesson({ ...llm, confidence: 0.9 }, categories, false)).toBe("PRO")
    // Two categories naming one folder: its mail is learned as the first's.
    const shared = [...categories, category("WORK", "Folders/Travail", 0.5)]
    expect(passLesson({ ...llm, categoryId: "WORK" }, shared, false)).toBe("PRO")
  })
  it("not a stand-in's, a remembered one's, keywords', the model's own, one below its threshold, for an unknown or unreachable category, no match, or for mail that talks to the LLM", () => {
    expect(passLesson({ ...llm, provisional: true }, categories, false)).toBeUndefined()
    expect(passLesson({ ...llm, stage: "cache" }, categories, false)).toBeUndefined()
    expect(passLesson({ ...llm, stage: "keyword" }, categories, false)).toBeUndefined()
    expect(passLesson({ ...llm, stage: "learned" }, categories, false)).toBeUndefined()
    expect(passLesson({ ...llm, confidence: 0.89 }, categories, false)).toBeUndefined()
    expect(passLesson({ ...llm, categoryId: "NOPE" }, categories, false)).toBeUndefined()
    expect(passLesson(llm, [{ ...category("PRO", "Travail", 0.9), unreachable: true }], false)).toBeUndefined()
    expect(passLesson({ _tag: "NoMatch", reason: "none", classifier: "llm:m", stage: "llm" }, categories, false)).toBeUndefined()
    expect(passLesson(llm, categories, true)).toBeUndefined()
  })
})

describe("doubtsKeywords", () => {
  const sure: Verdict = { _tag: "Matched", categoryId: "PRO", confidence: 0.9, reason: "", classifier: "keyword", stage: "keyword" }
  it("a sure keyword match is doubted when the model takes the mail for another category, or is sure it stays", () => {
    expect(doubtsKeywords(sure, guess("ANY", 0.6, 3))).toBe(true)
    expect(doubtsKeywords(sure, guess(undefined, 0.9, 30))).toBe(true)
  })

  it("not when the model agrees, is unsure, knows too little, or the verdict is not a keyword's sure one", () => {
    expect(doubtsKeywords(sure, guess("PRO", 0.8, 30))).toBe(false)
    expect(doubtsKeywords(sure, guess("ANY", 0.59, 30))).toBe(false)
    // 0.5 is what a model with little evidence says of mail unlike all it learned.
    expect(doubtsKeywords(sure, guess(undefined, 0.5, 40))).toBe(false)
    expect(doubtsKeywords(sure, guess("ANY", 0.95, 2))).toBe(false)
    expect(doubtsKeywords({ ...sure, stage: "llm", classifier: "llm:m" }, guess("ANY", 0.95, 30))).toBe(false)
    expect(doubtsKeywords({ ...sure, provisional: true }, guess("ANY", 0.95, 30))).toBe(false)
    expect(doubtsKeywords(noMatch, guess("ANY", 0.95, 30))).toBe(false)
  })
})

describe("withUsual", () => {
  it("a sender's usual folder stands in for 'stays', unless it is a spam folder or no category's", () => {
    const kept = (label: string): FolderGuess => ({ label: undefined, confidence: 0.03, examples: 40, usual: { label, confidence: 0.96, examples: 41 } })
    expect(withUsual(kept("PRO"), find)).toEqual({ label: "PRO", confidence: 0.96, examples: 41 })
    expect(withUsual(kept("SPAM"), find)).toEqual(kept("SPAM"))
    expect(withUsual(kept("GONE"), find)).toEqual(kept("GONE"))
    expect(withUsual(guess("PRO", 0.5, 10), find)).toEqual(guess("PRO", 0.5, 10))
  })

  it("a sender followed to a new folder of their own is followed, but not to a label (a copy): there the model's own guess stands", () => {
    const followed = (label: string): FolderGuess => ({ label, confidence: 2 / 3, examples: 5, habit: guess("PRO", 0.95, 40) })
    expect(withUsual(followed("ANY"), find)).toEqual(followed("ANY"))
    expect(withUsual(followed("IMPORTANT"), find)).toEqual(guess("PRO", 0.95, 40))
    expect(decisive(followed("ANY"), find)?.reason).toBe("this sender's mail goes there since you made the folder for it")
    // Left short of its threshold, the message says why it was not filed as the sender's mail was.
    expect(withOpinion(noMatch, { ...followed("PRO"), confidence: 0.25 }, find)?.opinion)
      .toBe("PRO, 0.25 (it moves at 0.90; you made its folder for this sender's mail)")
  })
})

describe("withOpinion", () => {
  it("a message left in place says what the model thought of it and the confidence that category moves at", () => {
    expect(withOpinion(noMatch, guess("PRO", 0.724, 12), find)?.opinion).toBe("PRO, 0.72 (it moves at 0.90)")
    // Rounded down: short of the threshold, it never reads as reaching it.
    expect(withOpinion(noMatch, guess("PRO", 0.8996, 12), find)?.opinion).toBe("PRO, 0.89 (it moves at 0.90)")
    // A spam folder needs 0.99 of the model, whatever its threshold says.
    expect(withOpinion(noMatch, guess("SPAM", 0.95, 40), find)?.opinion).toBe("SPAM, 0.95 (it moves at 0.99)")
    expect(withOpinion(noMatch, guess(undefined, 0.8, 30), find)?.opinion).toBe("mail you keep where it is, 0.80")
    // A match that may fall short of its threshold gets one too (said only if the message is left).
    const matched: Verdict = { _tag: "Matched", categoryId: "PRO", confidence: 0.5, reason: "keywords: projet", classifier: "keyword", stage: "keyword" }
    expect(withOpinion(matched, guess("PRO", 0.5, 20), find)).toEqual({ ...matched, opinion: "PRO, 0.50 (it moves at 0.90)" })
  })

  it("no opinion to give: too few examples, a label no category has; nor to an email still undecided", () => {
    expect(withOpinion(noMatch, guess("PRO", 0.8, 2), find)).toBe(noMatch)
    expect(withOpinion(noMatch, guess("GONE", 0.8, 20), find)).toBe(noMatch)
    expect(withOpinion(noMatch, undefined, find)).toBe(noMatch)
    // Undecided at screening: still open for a batch.
    expect(withOpinion(undefined, guess("PRO", 0.5, 20), find)).toBeUndefined()
  })
})

describe("vetoed", () => {
  const toPro = (stage: "keyword" | "llm"): Verdict =>
    ({ _tag: "Matched", categoryId: "PRO", confidence: 0.95, reason: "", classifier: stage, stage })
  const none = () => 0
  it("a sender the user moved back out of a folder: neither keywords nor the LLM put its mail there; refiled elsewhere: keywords only", () => {
    const movedBack = new Map([["Folders/Travail", "moved back" as const]])
    const refiled = new Map([["Folders/Travail", "refiled" as const]])
    expect(vetoed(toPro("keyword"), undefined, find, none, movedBack)).toMatchObject({ _tag: "NoMatch" })
    expect(vetoed(toPro("llm"), undefined, find, none, movedBack)?.reason)
      .toBe("llm said PRO, but you took this sender's mail out of Folders/Travail: not moved there again")
    expect(vetoed(toPro("keyword"), undefined, find, none, refiled)).toMatchObject({ _tag: "NoMatch" })
    expect(vetoed(toPro("llm"), undefined, find, none, refiled)).toMatchObject({ _tag: "Matched", categoryId: "PRO" })
    expect(vetoed(toPro("keyword"), undefined, find, none, new Map([["Spam", "moved back" as const]])))
      .toMatchObject({ _tag: "Matched", categoryId: "PRO" })
    expect(vetoed(toPro("keyword"), undefined, find, none, undefined)).toMatchObject({ _tag: "Matched" })
  })
})
