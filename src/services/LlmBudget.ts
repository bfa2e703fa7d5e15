/**
 * The daily token budget (PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET): tokens spent today (UTC), kept
 * in `llm-budget.json` so a restart does not reset it. Once spent, classification is by keywords
 * until the next day, which is said once in the log, not on every email.
 */
import { Context, DateTime, Effect, type FileSystem, Layer, Option, type Path, Ref, Schema } from "effect"
import { makeJsonFile } from "./JsonFile.ts"

export interface LlmBudgetApi {
  /** Whether the LLM may still be used today. */
  readonly available: Effect.Effect<boolean>
  readonly spend: (tokens: number) => Effect.Effect<void>
}

const Spent = Schema.Struct({ day: Schema.String, tokens: Schema.Number })
type Spent = typeof Spent.Type

const today = Effect.map(DateTime.now, (now) => DateTime.formatIsoDateUtc(now))

const make = (limit: Option.Option<number>, initial: Spent, persist: (spent: Spent) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    const spent = yield* Ref.make(initial)
    /** The day the exhaustion was last announced, so it is logged once per day. */
    const announced = yield* Ref.make("")
    const spentToday = Effect.gen(function*() {
      const day = yield* today
      const current = yield* Ref.get(spent)
      return current.day === day ? current : { day, tokens: 0 }
    })
    return LlmBudget.of({
      available: Option.match(limit, {
        onNone: () => Effect.succeed(true),
        onSome: (max) =>
          Effect.gen(function*() {
            const current = yield* spentToday
            if (current.tokens < max) return true
            if ((yield* Ref.getAndSet(announced, current.day)) !== current.day) {
              yield* Effect.logWarning(
                `the daily LLM token budget (${max}) is spent: keywords only until tomorrow (UTC)`
              )
            }
            return false
          })
      }),
      spend: (tokens) =>
        Effect.gen(function*() {
          const current = yield* spentToday
          const next = { day: current.day, tokens: current.tokens + tokens }
          yield* Ref.set(spent, next)
          yield* persist(next)
        })
    })
  })

export class LlmBudget extends Context.Service<LlmBudget, LlmBudgetApi>()("proton-lumo-ai/LlmBudget") {
  static readonly layerMemory = (limit: Option.Option<number>): Layer.Layer<LlmBudget> =>
    Layer.effect(LlmBudget, make(limit, { day: "", tokens: 0 }, () => Effect.void))

  static readonly layerFile = (
    dataDir: string,
    limit: Option.Option<number>
  ): Layer.Layer<LlmBudget, never, FileSystem.FileSystem | Path.Path> =>
    Layer.effect(
      LlmBudget,
      Effect.gen(function*() {
        const file = yield* makeJsonFile(dataDir, "llm-budget.json", Spent, { day: "", tokens: 0 })
        const initial = yield* file.load.pipe(
          Effect.catch((error) => Effect.as(Effect.logWarning(error.message), { day: "", tokens: 0 }))
        )
        return yield* make(limit, initial, (spent) =>
          file.save(spent).pipe(Effect.catch((error) => Effect.logWarning(error.message))))
      })
    )
}
