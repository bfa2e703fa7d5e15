/**
 * LLM verdicts remembered by message, so a restart (or a real run after a dry run) never pays
 * twice for the same email. Keys are SHA-256 hashes of the model and the categories, the
 * Message-ID, and what the model saw (sender, subject, body excerpt): changing any of them asks
 * again, so a message that reuses another's Message-ID does not inherit its verdict. The table
 * holds hashes and verdicts only: no address, subject or text.
 *
 * It keeps the newest `maxCached` verdicts. The row count is tracked (counted once at start,
 * plus the writes), and the oldest are deleted only once the table is 10% over the cap, rather
 * than scanning the table on every write.
 */
import { createHash } from "node:crypto"
import { Clock, Context, Effect, Layer, Option, Ref, Semaphore } from "effect"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import { Database, type Sqlite } from "./Database.ts"

export interface ClassificationCacheApi {
  readonly get: (key: string) => Effect.Effect<Option.Option<Verdict>>
  readonly put: (entries: ReadonlyArray<readonly [string, Verdict]>) => Effect.Effect<void>
}

/** Most verdicts kept (by default); the oldest go first. */
export const MAX_CACHED = 100_000
/** How far over the cap the table may grow before it is pruned back to it. */
const PRUNE_MARGIN = 1.1

/**
 * The key of an email's verdict under one model and one set of categories (`context`): its
 * Message-ID bound to what the classifier saw, the sender, the subject and the first
 * `bodyChars` of the body. (A JSON array separates the parts unambiguously.)
 */
export const cacheKey = (email: ParsedEmail, context: string, bodyChars: number): string =>
  createHash("sha256")
    .update(JSON.stringify([context, email.messageId ?? "", email.from, email.subject, email.body.slice(0, bodyChars)]))
    .digest("hex")

/** Losing the cache only costs money, never mail: a storage error is logged, not raised. */
const warn = (error: { readonly message: string }) => Effect.logWarning(`verdict cache: ${error.message}`)

const countRows = (db: Sqlite): number => Number(db.prepare("SELECT COUNT(*) FROM verdicts").pluck().get())

/** Deletes the oldest verdicts down to `maxCached`; returns the rows left. */
const pruneTo = (db: Sqlite, maxCached: number): number => {
  const excess = countRows(db) - maxCached
  if (excess > 0) db.prepare("DELETE FROM verdicts WHERE key IN (SELECT key FROM verdicts ORDER BY at ASC LIMIT ?)").run(excess)
  return countRows(db)
}

const insertAll = (db: Sqlite, entries: ReadonlyArray<readonly [string, Verdict]>, at: number) => {
  const insert = db.prepare(
    "INSERT OR REPLACE INTO verdicts (key, category, confidence, classifier, at) VALUES (?, ?, ?, ?, ?)"
  )
  for (const [key, verdict] of entries) {
    if (verdict._tag === "Matched") insert.run(key, verdict.categoryId, verdict.confidence, verdict.classifier, at)
    else insert.run(key, null, 0, verdict.classifier, at)
  }
}

export class ClassificationCache extends Context.Service<ClassificationCache, ClassificationCacheApi>()(
  "proton-lumo-ai/ClassificationCache"
) {
  /** The cache in the Database, keeping the newest `maxCached` verdicts. */
  static readonly layer = (maxCached: number = MAX_CACHED): Layer.Layer<ClassificationCache, never, Database> =>
    Layer.effect(ClassificationCache, makeCache(maxCached))
}

const makeCache = (maxCached: number) =>
  Effect.gen(function*() {
    const database = yield* Database
    /** Rows in the table, as far as this process knows: replaced keys count as new, other writers not at all. */
    const rows = yield* Ref.make(yield* database.use(countRows).pipe(Effect.catch((error) => Effect.as(warn(error), 0))))
    /** One write at a time, so the tracked count does not lose an update. */
    const lock = yield* Semaphore.make(1)

    const get = Effect.fn("ClassificationCache.get")((key: string) =>
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
                ? { _tag: "Matched", categoryId: category, confidence, reason: "remembered", classifier, stage: "cache" }
                : { _tag: "NoMatch", reason: "no category fits (remembered)", classifier, stage: "cache" }
            )
          }),
          Effect.catch((error) => Effect.as(warn(error), Option.none()))
        )
    )

    const put = Effect.fn("ClassificationCache.put")((entries: ReadonlyArray<readonly [string, Verdict]>) =>
      Effect.gen(function*() {
        if (entries.length === 0) return
        const at = yield* Clock.currentTimeMillis
        const before = yield* Ref.get(rows)
        const after = yield* database.transaction((db) => {
          insertAll(db, entries, at)
          const grown = before + entries.length
          return grown > maxCached * PRUNE_MARGIN ? pruneTo(db, maxCached) : grown
        })
        yield* Ref.set(rows, after)
      }).pipe(lock.withPermit, Effect.catch(warn))
    )

    return ClassificationCache.of({ get, put })
  })
