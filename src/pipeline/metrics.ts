/** The original's "Performance Metrics" block, one per folder and pass. */
import type { FolderReport } from "./report.ts"

const seconds = (millis: number): string => `${(millis / 1000).toFixed(2)} s`

export const formatMetrics = (report: FolderReport): string => {
  const calls = report.classificationCalls
  const perCall = calls === 0 ? "-" : ((report.moved + report.left) / calls).toFixed(1)
  const perEmail = report.processed === 0 ? "-" : `${(report.elapsedMillis / report.processed).toFixed(1)} ms`
  return [
    `📊 Performance Metrics: ${report.folder}${report.dryRun ? " (dry run)" : ""}`,
    `   Emails processed:      ${report.processed}`,
    `   ${report.dryRun ? "Would move" : "Moved"} / left / failed: ${report.moved} / ${report.left} / ${report.failed}`,
    `   Total time:            ${seconds(report.elapsedMillis)}`,
    `   Average per email:     ${perEmail}`,
    `   Classification calls:  ${calls} (${perCall} emails per call, batch size ${report.batchSize})`,
    `   Workers:               ${report.workers}`
  ].join("\n")
}
