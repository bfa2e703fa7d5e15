/**
 * After each pass: its figures into the metrics (domain/Telemetry.ts), and each folder's success
 * or failure into Health, for /readyz.
 */
import { Clock, Effect, Metric } from "effect"
import { backlog, countCorrections, lastPass, llmCost, llmRequests, llmTokens, passDuration } from "../domain/Telemetry.ts"
import { withHealth } from "../services/Health.ts"
import type { FolderReport } from "./report.ts"
import type { PassReport } from "./sortMailbox.ts"

const observeFolder = (report: FolderReport, now: number) =>
  Effect.gen(function*() {
    const folder = { folder: report.folder }
    yield* Metric.update(passDuration, report.elapsedMillis / 1000)
    yield* Metric.update(Metric.withAttributes(lastPass, folder), now / 1000)
    yield* Metric.update(Metric.withAttributes(backlog, folder), report.remaining + report.waiting)
    yield* Metric.update(llmRequests, report.llm.llmRequests)
    yield* Metric.update(Metric.withAttributes(llmTokens, { kind: "prompt" }), report.llm.promptTokens)
    yield* Metric.update(Metric.withAttributes(llmTokens, { kind: "completion" }), report.llm.completionTokens)
    yield* Metric.update(llmCost, report.llm.estimatedCost)
  })

/** After a pass: its figures into the metrics, and each folder's success or failure into Health. */
export const observePass = Effect.fn("observePass")(function*(pass: PassReport) {
  const now = yield* Clock.currentTimeMillis
  for (const report of pass.folders) yield* observeFolder(report, now)
  if (pass.learning._tag === "Some") yield* countCorrections(pass.learning.value.corrections)
  // A pass that ended went through the server: logged in (again, after an outage).
  yield* withHealth((health) =>
    Effect.gen(function*() {
      yield* health.loggedIn
      for (const report of pass.folders) yield* health.passed(report.folder, undefined)
      for (const problem of pass.problems) yield* health.passed(problem.folder, problem.reason)
    })
  )
})
