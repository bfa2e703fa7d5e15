/**
 * LLM verdicts remembered by message, so a restart (or a real run after a dry run) never pays
 * twice for the same email. Keys are SHA-256 hashes of the Message-ID (or, without one, of the
 * sender, subject and body) together with the model and the categories: changing either asks
 * again. The table holds hashes and verdicts only: no address, subject or text.
 */
import { createHash } from "node:crypto"
import { Context, Effect, Layer, Option } from "effect"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import { Database } from "./Database.ts"

export interface ClassificationCacheApi {
  readonly get: (key: string) => Effect.Effect<Option.Option<Verdict>>
  readonly put: (entries: ReadonlyArray<readonly [string, Verdict]>) => Effect.Effect<void>
}

/** Most verdicts kept; the oldest go first. */
export const MAX_CACHED = 100_000

/** The key of an email's verdict under one model and one set of categories (`context`). */
export const cacheKey = (email: ParsedEmail, context: string): string => {
  const identity = email.messageId !== undefined && email.messageId !== ""
    ? `id:${email.messageId}`
    : `content:${email.from}\u0000${email.subject}\u0000${email.body.slice(0, 1000)}`
  return createHash("sha256").update(`${context}\u0000${identity}`).digest("hex")
}

/** Losing the cache only costs money, never mail: a storage error is logged, not raised. */
const warn = (error: { readonly message: string }) => Effect.logWarning(`verdict cache: ${error.message}`)

export class ClassificationCache extends Context.Service<ClassificationCache, ClassificationCacheApi>()(
  "proton-lumo-ai/ClassificationCache"
) {
  static readonly layer: Layer.Layer<ClassificationCache, never, Database> = Layer.effect(
    ClassificationCache,
    Effect.gen(function*() {
      const database = yield* Database

      const get = (key: string) =>
        database.use((db) => db.prepare("SELECT category, confidence, classifier FROM verdicts WHERE key = ?").get(key))
          .pipe(
            Effect.map((row): Option.Option<Verdict> => {
              if (typeof row !== "object" || row === null) return Option.none()
              const category: unknown = Reflect.get(row, "category")
              const confidence: unknown = Reflect.get(row, "confidence")
              const classifier: unknown = Reflect.get(row, "classifier")
              if (typeof confidence !== "number" || typeof classifier !== "string") return Option.none()
              return Option.some(
                typeof category === "string"
                  ? { _tag: "Matched", categoryId: category, confidence, reason: "remembered", classifier }
                  : { _tag: "NoMatch", reason: "no category fits (remembered)", classifier }
              )
            }),
            Effect.catch((error) => Effect.as(warn(error), Option.none()))
          )

      const put = (entries: ReadonlyArray<readonly [string, Verdict]>) =>
        Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (at) =>
          database.transaction((db) => {
            const insert = db.prepare(
              "INSERT OR REPLACE INTO verdicts (key, category, confidence, classifier, at) VALUES (?, ?, ?, ?, ?)"
            )
            for (const [key, verdict] of entries) {
              if (verdict._tag === "Matched") insert.run(key, verdict.categoryId, verdict.confidence, verdict.classifier, at)
              else insert.run(key, null, 0, verdict.classifier, at)
            }
            db.prepare(
              "DELETE FROM verdicts WHERE key IN (SELECT key FROM verdicts ORDER BY at DESC LIMIT -1 OFFSET ?)"
            ).run(MAX_CACHED)
          })).pipe(Effect.catch(warn))

      return ClassificationCache.of({ get, put })
    })
  )
}
