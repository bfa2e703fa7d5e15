/**
 * Keyword classification: no network, deterministic, and the fallback whenever an LLM fails.
 *
 * Matching is case- and accent-insensitive and whole-word (a plural s/es/x is allowed), so
 * "Hotel" matches "hôtel" and "factures" matches "facture", but "promotion" is not "promo".
 * Evidence for a category: 2 per keyword found in the subject, 1 per keyword found only in the
 * body. Confidence = 1 − 0.5^(best − runner-up/2): one body hit gives 0.5, a subject hit 0.75,
 * three hits 0.875; a close second category lowers it. Ties go to the higher `priority`.
 */
import { Effect, Layer } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { fold } from "../classify/text.ts"
import type { Category } from "../domain/Category.ts"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import { emptyStats } from "../domain/ClassifierStats.ts"
import { Categories } from "./Categories.ts"
import { Classifier, type ClassifierApi, screenNothing } from "./Classifier.ts"

export const KEYWORD_CLASSIFIER = "keyword"


/** Escapes the syntax characters (only those: the Unicode mode rejects any other escape, "\\-" included). */
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

const isWordChar = /[\p{L}\p{N}]/u

interface Keyword {
  readonly keyword: string
  /** The keyword's first word, as folded: every match starts with it. */
  readonly token: string
  /** Sticky: tested only where the token was found. */
  readonly pattern: RegExp
}

/** A whole-word pattern for a keyword; keywords that start or end with a symbol ("%") match there as-is. */
const compile = (keyword: string): Keyword | undefined => {
  const folded = fold(keyword).trim()
  if (folded === "") return undefined
  const body = escapeRegExp(folded).replace(/\s+/g, "\\s+")
  const start = isWordChar.test(folded.charAt(0)) ? "(?<![\\p{L}\\p{N}])" : ""
  const end = isWordChar.test(folded.charAt(folded.length - 1)) ? "(?:s|es|x)?(?![\\p{L}\\p{N}])" : ""
  return { keyword, token: folded.split(/\s/)[0] ?? folded, pattern: new RegExp(`${start}${body}${end}`, "uy") }
}

/**
 * Finds every keyword in a text with one scan instead of one per keyword: a plain alternation of
 * the keywords' first words (longest first) finds where one may start, and only there is the
 * keyword's exact pattern tried.
 */
interface KeywordIndex {
  readonly scan: RegExp
  /** Per token, the keywords that start with it. */
  readonly keywordsOf: ReadonlyMap<string, ReadonlyArray<Keyword>>
  /**
   * Per token, the tokens found where it is found: itself and the tokens it starts with (the
   * alternation reports only the longest at each position).
   */
  readonly tokensAt: ReadonlyMap<string, ReadonlyArray<string>>
}

const indexKeywords = (keywords: ReadonlyArray<Keyword>): KeywordIndex => {
  const keywordsOf = new Map<string, Array<Keyword>>()
  for (const keyword of keywords) keywordsOf.set(keyword.token, [...(keywordsOf.get(keyword.token) ?? []), keyword])
  const tokens = [...keywordsOf.keys()].sort((a, b) => b.length - a.length)
  return {
    // No keywords at all: a scan that never matches (an empty alternation would match everywhere).
    scan: tokens.length === 0 ? /(?!)/g : new RegExp(tokens.map(escapeRegExp).join("|"), "g"),
    keywordsOf,
    tokensAt: new Map(tokens.map((token) => [token, tokens.filter((other) => token.startsWith(other))]))
  }
}

/** The keywords that occur in a folded text. */
const occurring = (index: KeywordIndex, text: string): ReadonlySet<Keyword> => {
  const found = new Set<Keyword>()
  const scan = new RegExp(index.scan)
  for (let match = scan.exec(text); match !== null; match = scan.exec(text)) {
    for (const token of index.tokensAt.get(match[0]) ?? []) {
      for (const keyword of index.keywordsOf.get(token) ?? []) {
        keyword.pattern.lastIndex = match.index
        if (!found.has(keyword) && keyword.pattern.test(text)) found.add(keyword)
      }
    }
    // Overlapping occurrences count too: "code promo" also holds "promo".
    scan.lastIndex = match.index + 1
  }
  return found
}

interface Matcher {
  readonly category: Category
  readonly keywords: ReadonlyArray<Keyword>
}

interface Score {
  readonly category: Category
  readonly evidence: number
  readonly hits: ReadonlyArray<string>
}

const score = (matcher: Matcher, inSubject: ReadonlySet<Keyword>, inBody: ReadonlySet<Keyword>): Score => {
  let evidence = 0
  const hits: Array<string> = []
  for (const keyword of matcher.keywords) {
    if (inSubject.has(keyword)) {
      evidence += 2
      hits.push(`${keyword.keyword} (subject)`)
    } else if (inBody.has(keyword)) {
      evidence += 1
      hits.push(keyword.keyword)
    }
  }
  return { category: matcher.category, evidence, hits }
}

const byEvidenceThenPriority = (a: Score, b: Score): number =>
  b.evidence - a.evidence || b.category.priority - a.category.priority

/** Classifies one email against compiled matchers. */
const classifyOne = (matchers: ReadonlyArray<Matcher>, index: KeywordIndex, email: ParsedEmail): Verdict => {
  const inSubject = occurring(index, fold(email.subject))
  const inBody = occurring(index, fold(email.body))
  const [best, runnerUp] = matchers
    .map((matcher) => score(matcher, inSubject, inBody))
    .filter((candidate) => candidate.evidence > 0)
    .sort(byEvidenceThenPriority)
  if (best === undefined) {
    return { _tag: "NoMatch", reason: "no keyword matched", classifier: KEYWORD_CLASSIFIER, stage: "keyword" }
  }
  const margin = best.evidence - (runnerUp?.evidence ?? 0) / 2
  return {
    _tag: "Matched",
    categoryId: best.category.id,
    confidence: 1 - 0.5 ** margin,
    reason: `keywords: ${best.hits.join(", ")}` + (runnerUp ? ` (also ${runnerUp.category.id})` : ""),
    classifier: KEYWORD_CLASSIFIER,
    stage: "keyword"
  }
}

/** A classifier over these categories' keywords. */
export const keywordClassifier = (categories: ReadonlyArray<Category>): ClassifierApi => {
  const matchers: ReadonlyArray<Matcher> = categories.map((category) => ({
    category,
    keywords: category.keywords.flatMap((keyword) => compile(keyword) ?? [])
  }))
  const index = indexKeywords(matchers.flatMap((matcher) => matcher.keywords))
  return {
    name: KEYWORD_CLASSIFIER,
    // Keywords cost nothing either way: they classify in the batches, as before there was a screen.
    screen: screenNothing,
    classify: Effect.fn("KeywordClassifier.classify")((emails: NonEmptyReadonlyArray<ParsedEmail>) =>
      Effect.sync(() => emails.map((email) => classifyOne(matchers, index, email)))
    ),
    stats: Effect.succeed(emptyStats),
    beginPass: Effect.void
  }
}

/** The keyword classifier over the user's categories, as the `Classifier` service. */
export const layer: Layer.Layer<Classifier, never, Categories> = Layer.effect(
  Classifier,
  Effect.map(Effect.service(Categories), (categories) => keywordClassifier(categories.all))
)
