/**
 * The daily token budget (PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET): tokens spent per day (UTC), kept
 * in the database so a restart does not reset it. Once spent, classification is by keywords
 * until the next day, which is said once in the log, not on every email.
 */
import { Context, DateTime, Effect, Layer, Option, Ref } from "effect"
import { Database } from "./Database.ts"

export interface LlmBudgetApi {
  /** Whether the LLM may still be used today. */
  readonly available: Effect.Effect<boolean>
  readonly spend: (tokens: number) => Effect.Effect<void>
}

const today = Effect.map(DateTime.now, (now) => DateTime.formatIsoDateUtc(now))

/** A budget that cannot be read or written is logged, never fatal: it only guards spending. */
const warn = (error: { readonly message: string }) => Effect.logWarning(`token budget: ${error.message}`)

export class LlmBudget extends Context.Service<LlmBudget, LlmBudgetApi>()("proton-lumo-ai/LlmBudget") {
  static readonly layer = (limit: Option.Option<number>): Layer.Layer<LlmBudget, never, Database> =>
    Layer.effect(
      LlmBudget,
      Effect.gen(function*() {
        const database = yield* Database
        /** The day the exhaustion was last announced, so it is logged once per day. */
        const announced = yield* Ref.make("")

        const spentOn = (day: string) =>
          database.use((db) => db.prepare("SELECT tokens FROM token_budget WHERE day = ?").pluck().get(day)).pipe(
            Effect.map((tokens) => (typeof tokens === "number" ? tokens : 0)),
            Effect.catch((error) => Effect.as(warn(error), 0))
          )

        return LlmBudget.of({
          available: Option.match(limit, {
            onNone: () => Effect.succeed(true),
            onSome: (max) =>
              Effect.gen(function*() {
                const day = yield* today
                if ((yield* spentOn(day)) < max) return true
                if ((yield* Ref.getAndSet(announced, day)) !== day) {
                  yield* Effect.logWarning(`the daily LLM token budget (${max}) is spent: keywords only until tomorrow (UTC)`)
                }
                return false
              })
          }),
          spend: (tokens) =>
            Effect.flatMap(today, (day) =>
              database.use((db) =>
                db.prepare(
                  "INSERT INTO token_budget (day, tokens) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET tokens = tokens + ?"
                ).run(day, tokens, tokens)
              )).pipe(Effect.asVoid, Effect.catch(warn))
        })
      })
    )
}
