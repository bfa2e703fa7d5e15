/** Reading the process's Effect metrics in tests. */
import { Effect, Metric } from "effect"

/** A counter's count so far, outside any account (counters count from the start of the process: compare before and after). */
export const counted = (id: string) =>
  Effect.map(Metric.snapshot, (entries) =>
    entries
      .filter((entry) => entry.id === id && entry.attributes?.["account"] === undefined)
      .reduce((sum, entry) => sum + ("count" in entry.state ? Number(entry.state.count) : 0), 0))
