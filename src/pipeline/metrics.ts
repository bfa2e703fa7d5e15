/** The original's "Performance Metrics" block, one per folder and pass, with the LLM's accounting. */
import type { ClassifierStats } from "../domain/ClassifierStats.ts"
import type { FolderReport } from "./report.ts"

const seconds = (millis: number): string => `${(millis / 1000).toFixed(2)} s`
const count = (n: number): string => n.toLocaleString("en-US")

const llmLines = (classifier: string, llm: ClassifierStats): ReadonlyArray<string> => {
  const perCall = llm.llmCalls === 0 ? "-" : (llm.llmEmails / llm.llmCalls).toFixed(1)
  return [
    `   LLM calls:             ${llm.llmCalls} (${perCall} emails per call; ${llm.llmRequests} requests, ` +
    `${llm.llmRetries} retries) with ${classifier}`,
    `   LLM tokens:            ${count(llm.promptTokens)} prompt + ${count(llm.completionTokens)} completion` +
    (llm.estimatedCost > 0 ? `, about ${llm.estimatedCost.toFixed(4)} in cost` : ""),
    `   LLM spared:            ${llm.learned} by the learned model` +
    (llm.keptWithoutLlm > 0 ? ` (and ${llm.keptWithoutLlm} left in place, sure to stay)` : "") +
    `, ${llm.skippedConfident} by confident keywords` +
    (llm.keywordsDoubted > 0 ? ` (${llm.keywordsDoubted} more the learned model doubted: asked)` : "") + ", " +
    `${llm.cacheHits} from the cache; ` +
    `${llm.fallbacks} fell back to keywords`
  ]
}

/** Whether the LLM was called, or would have been but for the keywords, the cache or a fallback. */
const usedAnLlm = (llm: ClassifierStats): boolean =>
  llm.llmCalls + llm.cacheHits + llm.skippedConfident + llm.fallbacks + llm.keptWithoutLlm > 0

/** Which link of the chain moved how many: what the learned model spares, in one line. */
const movedByLine = (movedBy: FolderReport["movedBy"]): string =>
  `   Moved by:              learned model ${movedBy.learned}, keywords ${movedBy.keyword}, ` +
  `LLM ${movedBy.llm}, remembered LLM verdicts ${movedBy.cache}`

export const formatMetrics = (report: FolderReport): string => {
  const calls = report.classificationCalls
  const perCall = calls === 0 ? "-" : (report.classifiedEmails / calls).toFixed(1)
  const perEmail = report.processed === 0 ? "-" : `${(report.elapsedMillis / report.processed).toFixed(1)} ms`
  return [
    `📊 Performance Metrics: ${report.folder}${report.dryRun ? " (dry run)" : ""}`,
    `   Emails processed:      ${report.processed}`,
    `   ${report.dryRun ? "Would move" : "Moved"} / left / failed: ${report.moved} / ${report.left} / ${report.failed}` +
      (report.gone > 0 ? `; ${report.gone} gone before the move (another client moved or deleted them)` : ""),
    `   Total time:            ${seconds(report.elapsedMillis)}`,
    `   Average per email:     ${perEmail}`,
    `   Batches classified:    ${calls} (${perCall} emails per batch, batch size ${report.batchSize})` +
      (report.twins > 0 ? `; ${report.twins} more had a twin's verdict` : ""),
    `   Workers:               ${report.workers}`,
    `   Peak memory (RSS):     ${(report.peakRssBytes / 2 ** 20).toFixed(0)} MB`,
    ...(report.moved > 0 ? [movedByLine(report.movedBy)] : []),
    ...(usedAnLlm(report.llm) ? llmLines(report.classifier, report.llm) : [])
  ].join("\n")
}
