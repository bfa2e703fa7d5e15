/**
 * The daily token budget (PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET): tokens spent per day (UTC), kept
 * in the database so a restart does not reset it.
 *
 * A call reserves its estimated cost before it is sent, against what is neither spent nor
 * reserved by calls in flight; it is settled with the tokens it really used, or released if it
 * failed. Checking before and charging after would let every worker pass the check at once and
 * overshoot. A call with no room left is not made (keywords classify), which is said once a day.
 * The day's failed calls and unusable answers are counted beside, for `status`.
 */
import { Context, DateTime, Effect, Layer, Option, Ref, Schema, Semaphore } from "effect"
import type { StateError } from "../domain/Errors.ts"
import { cut } from "../domain/Text.ts"
import { Database } from "./Database.ts"

/** Tokens held for one call in flight. */
export interface Reservation {
  /** The call answered, using `tokens`: they are spent and the reservation ends. */
  readonly settle: (tokens: number) => Effect.Effect<void>
  /** The call failed: the reservation ends, nothing is spent. */
  readonly release: Effect.Effect<void>
}

/** What the LLM calls that answered on one day (UTC) spent, and how many calls or answers failed. */
export interface DailyUsage {
  /** `2026-12-01`. */
  readonly day: string
  readonly calls: number
  readonly tokens: number
  /** Calls that failed (after their retries) and answers that held no verdict. */
  readonly problems: number
  readonly lastProblem: { readonly at: number; readonly message: string } | undefined
}

export interface LlmBudgetApi {
  /** Holds `estimate` tokens for one call, if today's budget has room for them. */
  readonly reserve: (estimate: number) => Effect.Effect<Option.Option<Reservation>>
  /** What was spent today, the budget's day (UTC): none, when nothing was. */
  readonly usageToday: Effect.Effect<DailyUsage, StateError>
  /** A call failed, or its answer held no verdict: counted for today, `message` kept as the last. */
  readonly noteProblem: (message: string) => Effect.Effect<void>
}

const UsageRow = Schema.Struct({
  tokens: Schema.Number,
  calls: Schema.Number,
  problems: Schema.Number,
  last_problem: Schema.NullOr(Schema.String),
  last_problem_at: Schema.NullOr(Schema.Number)
})
const decodeUsage = Schema.decodeUnknownSync(Schema.UndefinedOr(UsageRow))

/** The budget's day of the time `at` (epoch millis): `2026-12-01`, UTC. */
export const budgetDay = (at: number): string => DateTime.formatIsoDateUtc(DateTime.makeUnsafe(at))

const today = Effect.map(DateTime.now, (now) => budgetDay(DateTime.toEpochMillis(now)))

/** A budget that cannot be read or written is logged, never fatal: it only guards spending. */
const warn = (error: { readonly message: string }) => Effect.logWarning(`token budget: ${error.message}`)

export class LlmBudget extends Context.Service<LlmBudget, LlmBudgetApi>()("proton-lumo-ai/LlmBudget") {
  static readonly layer = (limit: Option.Option<number>): Layer.Layer<LlmBudget, never, Database> =>
    Layer.effect(
      LlmBudget,
      Effect.gen(function*() {
        const database = yield* Database
        /** Tokens held by calls in flight. */
        const reserved = yield* Ref.make(0)
        /** Reading what is spent and reserving must not interleave with another reservation or settlement. */
        const lock = yield* Semaphore.make(1)
        /** The day the lack of room was last announced, so it is logged once per day. */
        const announced = yield* Ref.make("")

        const spentOn = (day: string) =>
          database.use((db) => db.prepare("SELECT tokens FROM token_budget WHERE day = ?").pluck().get(day)).pipe(
            Effect.map((tokens) => (typeof tokens === "number" ? tokens : 0)),
            Effect.catch((error) => Effect.as(warn(error), 0))
          )

        /** A call that answered: its tokens, and one call, for `status`. */
        const spend = (tokens: number) =>
          Effect.flatMap(today, (day) =>
            database.use((db) =>
              db.prepare(
                `INSERT INTO token_budget (day, tokens, calls) VALUES (?, ?, 1)
                 ON CONFLICT (day) DO UPDATE SET tokens = tokens + ?, calls = calls + 1`
              ).run(day, tokens, tokens)
            )).pipe(Effect.asVoid, Effect.catch(warn))

        const reservation = (estimate: number): Reservation => ({
          settle: (tokens) => lock.withPermit(Effect.andThen(spend(tokens), Ref.update(reserved, (held) => held - estimate))),
          release: lock.withPermit(Ref.update(reserved, (held) => held - estimate))
        })

        const noRoom = (max: number) =>
          Effect.gen(function*() {
            const day = yield* today
            if ((yield* Ref.getAndSet(announced, day)) !== day) {
              yield* Effect.logWarning(
                `the daily LLM token budget (${max}) has no room for another call: keywords classify until tomorrow (UTC)`
              )
            }
            return Option.none<Reservation>()
          })

        const reserveWithin = (max: number, estimate: number) =>
          lock.withPermit(Effect.gen(function*() {
            const spent = yield* spentOn(yield* today)
            const held = yield* Ref.get(reserved)
            if (spent + held + estimate > max) return yield* noRoom(max)
            yield* Ref.set(reserved, held + estimate)
            return Option.some(reservation(estimate))
          }))

        const usageToday = Effect.flatMap(today, (day) =>
          database.use((db): DailyUsage => {
            const row = decodeUsage(
              db.prepare("SELECT tokens, calls, problems, last_problem, last_problem_at FROM token_budget WHERE day = ?").get(day)
            )
            return {
              day,
              calls: row?.calls ?? 0,
              tokens: row?.tokens ?? 0,
              problems: row?.problems ?? 0,
              lastProblem: row?.last_problem === null || row?.last_problem === undefined || row.last_problem_at === null
                ? undefined
                : { at: row.last_problem_at, message: row.last_problem }
            }
          })).pipe(Effect.withSpan("LlmBudget.usageToday"))

        const noteProblem = Effect.fn("LlmBudget.noteProblem")((message: string) =>
          Effect.flatMap(DateTime.now, (now) => {
            const at = DateTime.toEpochMillis(now)
            const kept = cut(message, 300)
            return database.use((db) =>
              db.prepare(
                `INSERT INTO token_budget (day, tokens, calls, problems, last_problem, last_problem_at) VALUES (?, 0, 0, 1, ?, ?)
                 ON CONFLICT (day) DO UPDATE SET problems = problems + 1, last_problem = ?, last_problem_at = ?`
              ).run(budgetDay(at), kept, at, kept, at)
            )
          }).pipe(Effect.asVoid, Effect.catch(warn))
        )

        return LlmBudget.of({
          usageToday,
          noteProblem,
          reserve: (estimate) =>
            Option.match(limit, {
              onNone: () => Effect.succeed(Option.some(reservation(estimate))),
              onSome: (max) => reserveWithin(max, estimate)
            })
        })
      })
    )
}
