/**
 * Keyword classification: no network, deterministic, and the fallback whenever an LLM fails.
 *
 * Matching is case- and accent-insensitive and whole-word (a plural s/es/x is allowed), so
 * "Hotel" matches "hôtel" and "factures" matches "facture", but "promotion" is not "promo".
 * Evidence for a category: 2 per keyword found in the subject, 1 per keyword found only in the
 * body. Confidence = 1 − 0.5^(best − runner-up/2): one body hit gives 0.5, a subject hit 0.75,
 * three hits 0.875; a close second category lowers it. Ties go to the higher `priority`.
 */
import { Effect } from "effect"
import type { Category } from "../domain/Category.ts"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import { emptyStats } from "../domain/ClassifierStats.ts"
import type { ClassifierApi } from "./Classifier.ts"

export const KEYWORD_CLASSIFIER = "keyword"

/** Lower case without diacritics, so that "Réservation" and "reservation" compare equal. */
export const fold = (text: string): string => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase()

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")

const isWordChar = /[\p{L}\p{N}]/u

/** A whole-word pattern for a keyword; keywords that start or end with a symbol ("%") match there as-is. */
const compile = (keyword: string): RegExp | undefined => {
  const folded = fold(keyword).trim()
  if (folded === "") return undefined
  const body = escapeRegExp(folded).replace(/\s+/g, "\\s+")
  const start = isWordChar.test(folded.charAt(0)) ? "(?<![\\p{L}\\p{N}])" : ""
  const end = isWordChar.test(folded.charAt(folded.length - 1)) ? "(?:s|es|x)?(?![\\p{L}\\p{N}])" : ""
  return new RegExp(`${start}${body}${end}`, "u")
}

interface Matcher {
  readonly category: Category
  readonly keywords: ReadonlyArray<{ readonly keyword: string; readonly pattern: RegExp }>
}

interface Score {
  readonly category: Category
  readonly evidence: number
  readonly hits: ReadonlyArray<string>
}

const score = (matcher: Matcher, subject: string, body: string): Score => {
  let evidence = 0
  const hits: Array<string> = []
  for (const { keyword, pattern } of matcher.keywords) {
    if (pattern.test(subject)) {
      evidence += 2
      hits.push(`${keyword} (subject)`)
    } else if (pattern.test(body)) {
      evidence += 1
      hits.push(keyword)
    }
  }
  return { category: matcher.category, evidence, hits }
}

const byEvidenceThenPriority = (a: Score, b: Score): number =>
  b.evidence - a.evidence || b.category.priority - a.category.priority

/** Classifies one email against compiled matchers. */
const classifyOne = (matchers: ReadonlyArray<Matcher>, email: ParsedEmail): Verdict => {
  const subject = fold(email.subject)
  const body = fold(email.body)
  const [best, runnerUp] = matchers
    .map((matcher) => score(matcher, subject, body))
    .filter((candidate) => candidate.evidence > 0)
    .sort(byEvidenceThenPriority)
  if (best === undefined) {
    return { _tag: "NoMatch", reason: "no keyword matched", classifier: KEYWORD_CLASSIFIER }
  }
  const margin = best.evidence - (runnerUp?.evidence ?? 0) / 2
  return {
    _tag: "Matched",
    categoryId: best.category.id,
    confidence: 1 - 0.5 ** margin,
    reason: `keywords: ${best.hits.join(", ")}` + (runnerUp ? ` (also ${runnerUp.category.id})` : ""),
    classifier: KEYWORD_CLASSIFIER
  }
}

/** A classifier over these categories' keywords. */
export const keywordClassifier = (categories: ReadonlyArray<Category>): ClassifierApi => {
  const matchers: ReadonlyArray<Matcher> = categories.map((category) => ({
    category,
    keywords: category.keywords.flatMap((keyword) => {
      const pattern = compile(keyword)
      return pattern === undefined ? [] : [{ keyword, pattern }]
    })
  }))
  return {
    name: KEYWORD_CLASSIFIER,
    classify: (emails) => Effect.sync(() => emails.map((email) => classifyOne(matchers, email))),
    stats: Effect.succeed(emptyStats)
  }
}
