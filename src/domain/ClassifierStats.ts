/** What a classifier spent: the LLM accounting shown in the per-pass metrics, and what spared it. */

/** LLM accounting. Counters since the classifier started; a pass reports the difference. */
export interface ClassifierStats {
  /** Logical LLM calls (one per batch, plus one per re-asked remainder). */
  readonly llmCalls: number
  /** Emails sent to the LLM over those calls. */
  readonly llmEmails: number
  /** HTTP requests, retries included. */
  readonly llmRequests: number
  readonly llmRetries: number
  readonly promptTokens: number
  readonly completionTokens: number
  readonly estimatedCost: number
  /** Emails answered from the cache of earlier verdicts. */
  readonly cacheHits: number
  /** Emails a confident keyword match classified without the LLM. */
  readonly skippedConfident: number
  /** Confident keyword matches the learned model doubted: asked of the LLM after all. */
  readonly keywordsDoubted: number
  /** Emails keywords classified because the LLM failed, left them out, or the budget was spent. */
  readonly fallbacks: number
  /** Emails the learned model decided (no keyword or LLM asked). */
  readonly learned: number
  /** Emails the learned model was sure stay where they are: left without asking the LLM (SKIP_KEPT). */
  readonly keptWithoutLlm: number
}

export const emptyStats: ClassifierStats = {
  llmCalls: 0,
  llmEmails: 0,
  llmRequests: 0,
  llmRetries: 0,
  promptTokens: 0,
  completionTokens: 0,
  estimatedCost: 0,
  cacheHits: 0,
  skippedConfident: 0,
  keywordsDoubted: 0,
  fallbacks: 0,
  learned: 0,
  keptWithoutLlm: 0
}

/** `after − before`, counter by counter. */
export const statsSince = (before: ClassifierStats, after: ClassifierStats): ClassifierStats => ({
  llmCalls: after.llmCalls - before.llmCalls,
  llmEmails: after.llmEmails - before.llmEmails,
  llmRequests: after.llmRequests - before.llmRequests,
  llmRetries: after.llmRetries - before.llmRetries,
  promptTokens: after.promptTokens - before.promptTokens,
  completionTokens: after.completionTokens - before.completionTokens,
  estimatedCost: after.estimatedCost - before.estimatedCost,
  cacheHits: after.cacheHits - before.cacheHits,
  skippedConfident: after.skippedConfident - before.skippedConfident,
  keywordsDoubted: after.keywordsDoubted - before.keywordsDoubted,
  fallbacks: after.fallbacks - before.fallbacks,
  learned: after.learned - before.learned,
  keptWithoutLlm: after.keptWithoutLlm - before.keptWithoutLlm
})
