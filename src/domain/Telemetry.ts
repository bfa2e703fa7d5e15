/**
 * What the sorter measures, as Effect metrics (served as Prometheus text on /metrics when
 * PROTON_LUMO_METRICS_PORT is set). Counters count since the process started; Prometheus works
 * out the rates.
 */
import { Effect, Metric } from "effect"
import type { ClassifierStage, Outcome } from "./Email.ts"
import { escapeControls } from "./Terminal.ts"

/** A counter that only goes up, as Prometheus counters do. */
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

const messages = counter(
  "protonlumo_messages_total",
  "Messages a pass looked at, by source folder, category and outcome (moved, left or failed)"
)
const classifications = counter(
  "protonlumo_classifications_total",
  "Messages moved, by the stage of the classifier chain that decided (cache, learned, keyword, llm)"
)
export const llmRequests = counter("protonlumo_llm_requests_total", "HTTP requests to the LLM, retries included")
export const llmTokens = counter(
  "protonlumo_llm_tokens_total",
  "LLM tokens, by kind (prompt or completion; estimated when the server reports none)"
)
export const llmKept = counter(
  "protonlumo_llm_kept_total",
  "Messages the learned model was sure stay where they are, left without asking the LLM (PROTON_LUMO_LLM_SKIP_KEPT)"
)
export const llmCost = counter(
  "protonlumo_llm_cost",
  "Estimated LLM cost (tokens × PROTON_LUMO_LLM_COST_PER_1K_TOKENS)"
)
const corrections = counter(
  "protonlumo_corrections_total",
  "The sorter's moves the user corrected (refiled elsewhere, or moved back)"
)
const reconnects = counter(
  "protonlumo_imap_reconnects_total",
  "Times the IMAP server came back after a lost connection"
)
export const passDuration = Metric.histogram("protonlumo_pass_duration_seconds", {
  description: "How long a folder's pass took",
  boundaries: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
})
export const lastPass = Metric.gauge("protonlumo_last_pass_timestamp_seconds", {
  description: "When a folder's last successful pass ended (Unix time)"
})
export const learningFailures = counter(
  "protonlumo_learning_failures_total",
  "Learning scans that failed (the pass sorted with what was learned before)"
)
export const lastLearning = Metric.gauge("protonlumo_last_learning_timestamp_seconds", {
  description: "When the last learning scan that completed ended (Unix time)"
})
export const backlog = Metric.gauge("protonlumo_backlog_messages", {
  description: "Messages a folder's last pass left to sort later (beyond the per-pass cap, or waiting to be retried)"
})

const outcomeOf = (outcome: Outcome): "moved" | "left" | "failed" | "gone" =>
  outcome._tag === "Moved" ? "moved" : outcome._tag === "Left" ? "left" : outcome._tag === "Gone" ? "gone" : "failed"

/** One message's outcome in `folder`. Dry runs count too: they are what the run did. */
export const countOutcome = (folder: string, outcome: Outcome): Effect.Effect<void> =>
  Effect.gen(function*() {
    const category = outcome._tag === "Moved" ? outcome.categoryId : ""
    // Folder names come from the server (category ids are checked when categories.json is read).
    yield* Metric.update(Metric.withAttributes(messages, { folder: escapeControls(folder), category, outcome: outcomeOf(outcome) }), 1)
    if (outcome._tag === "Moved") yield* countDecision(outcome.stage)
  })

const countDecision = (stage: ClassifierStage) => Metric.update(Metric.withAttributes(classifications, { stage }), 1)

/** Counted even when none: a series that exists at 0 can be graphed and alerted on from the start. */
export const countCorrections = (count: number): Effect.Effect<void> => Metric.update(corrections, count)

export const countReconnect: Effect.Effect<void> = Metric.update(reconnects, 1)

