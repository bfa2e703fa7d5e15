/**
 * Each source folder's last pass, kept in the database for `status`: when it ended, how long it
 * took, what it moved, left and failed, what it left for later, or why it failed; the folder's
 * last error with its time, kept after later passes succeed; and its last pass that handled mail,
 * kept after later passes that found none. One row per folder: the
 * metrics and the journal hold the history, this only answers "how is it doing now?".
 * Likewise the learning scan before the passes: the last that completed, and the last that failed
 * (the pass sorts on with what was learned before, so a scan failing pass after pass is seen only here).
 */
import { Context, Effect, Layer, Schema } from "effect"
import type { StateError } from "../domain/Errors.ts"
import { Database } from "./Database.ts"

/** One folder's pass as it ended; `error` set when it failed (its counts are then 0). */
export interface PassRecord {
  readonly folder: string
  readonly endedAt: number
  readonly elapsedMillis: number
  readonly moved: number
  readonly left: number
  readonly failed: number
  /** Candidates beyond MAX_EMAILS_PER_FOLDER, left for the next pass. */
  readonly remaining: number
  /** Messages that failed before and wait for their next try. */
  readonly waiting: number
  /** Of those left, the ones the learned model was sure stay: the LLM was not asked (SKIP_KEPT). */
  readonly kept: number
  readonly error: string | undefined
}

/** What a pass did with the mail it handled. */
export interface Handled {
  readonly at: number
  readonly moved: number
  readonly left: number
  readonly failed: number
}

/** A folder's last pass, its last error and its last pass that handled mail (this pass's, or an older one's). */
export interface FolderPass extends PassRecord {
  readonly lastError: { readonly at: number; readonly message: string } | undefined
  readonly lastHandled: Handled | undefined
}

/** A learning scan that completed: when, and what it learned. */
export interface LearningScan {
  readonly at: number
  readonly learned: number
  readonly stays: number
  readonly corrections: number
}

/** How a pass's learning scan ended, when it ended (one cut short by its reading time did not). */
export type LearningOutcome =
  | { readonly _tag: "Scanned"; readonly scan: LearningScan }
  | { readonly _tag: "Failed"; readonly at: number; readonly message: string }

/** The last learning scan that completed, and the last that failed (kept after later ones complete). */
export interface LearningLog {
  readonly lastScan: LearningScan | undefined
  readonly lastFailure: { readonly at: number; readonly message: string } | undefined
}

export interface PassLogApi {
  /** Records these passes (one transaction), each replacing its folder's last. */
  readonly record: (passes: ReadonlyArray<PassRecord>) => Effect.Effect<void, StateError>
  /** Every folder's last pass, by folder name. */
  readonly latest: Effect.Effect<ReadonlyArray<FolderPass>, StateError>
  /** Forgets every folder but these (one sorted no more, or named once by mistake, leaves `status`). */
  readonly keepOnly: (folders: ReadonlyArray<string>) => Effect.Effect<void, StateError>
  /** Records how a learning scan ended. */
  readonly recordLearning: (outcome: LearningOutcome) => Effect.Effect<void, StateError>
  readonly learning: Effect.Effect<LearningLog, StateError>
}

/** The pass's counts, named alike in the table and in PassRecord. */
const Counts = {
  moved: Schema.Number,
  left: Schema.Number,
  failed: Schema.Number,
  remaining: Schema.Number,
  waiting: Schema.Number,
  kept: Schema.Number
}

const Row = Schema.Struct({
  folder: Schema.String,
  ended_at: Schema.Number,
  elapsed_ms: Schema.Number,
  ...Counts,
  error: Schema.NullOr(Schema.String),
  last_error: Schema.NullOr(Schema.String),
  last_error_at: Schema.NullOr(Schema.Number),
  handled_at: Schema.NullOr(Schema.Number),
  handled_moved: Schema.NullOr(Schema.Number),
  handled_left: Schema.NullOr(Schema.Number),
  handled_failed: Schema.NullOr(Schema.Number)
})

const decodeRows = Schema.decodeUnknownSync(Schema.Array(Row))

const toFolderPass = (
  { folder, ended_at, elapsed_ms, error, last_error, last_error_at, handled_at, handled_moved, handled_left, handled_failed, ...counts }:
    typeof Row.Type
): FolderPass => ({
  folder,
  endedAt: ended_at,
  elapsedMillis: elapsed_ms,
  ...counts,
  error: error ?? undefined,
  lastError: last_error === null || last_error_at === null ? undefined : { at: last_error_at, message: last_error },
  lastHandled: handled_at === null
    ? undefined
    : { at: handled_at, moved: handled_moved ?? 0, left: handled_left ?? 0, failed: handled_failed ?? 0 }
})

/** The pass's own `Handled` columns: null when it handled no mail (the folder's last that did is kept). */
const handledColumns = (p: PassRecord) =>
  p.moved + p.left + p.failed === 0 ? [null, null, null, null] : [p.endedAt, p.moved, p.left, p.failed]

// A pass without error keeps the folder's last error; one with an error makes it the last. Likewise
// a pass that handled no mail keeps the last that did.
const upsert = `INSERT INTO passes (folder, ended_at, elapsed_ms, moved, left, failed, remaining, waiting, kept, error,
    last_error, last_error_at, handled_at, handled_moved, handled_left, handled_failed)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (folder) DO UPDATE SET ended_at = excluded.ended_at, elapsed_ms = excluded.elapsed_ms,
    moved = excluded.moved, left = excluded.left, failed = excluded.failed, remaining = excluded.remaining,
    waiting = excluded.waiting, kept = excluded.kept, error = excluded.error,
    last_error = coalesce(excluded.last_error, last_error), last_error_at = coalesce(excluded.last_error_at, last_error_at),
    handled_at = coalesce(excluded.handled_at, handled_at), handled_moved = coalesce(excluded.handled_moved, handled_moved),
    handled_left = coalesce(excluded.handled_left, handled_left), handled_failed = coalesce(excluded.handled_failed, handled_failed)`

const LearningRow = Schema.Struct({
  scanned_at: Schema.NullOr(Schema.Number),
  learned: Schema.Number,
  stays: Schema.Number,
  corrections: Schema.Number,
  failed_at: Schema.NullOr(Schema.Number),
  failure: Schema.NullOr(Schema.String)
})

const decodeLearningRow = Schema.decodeUnknownSync(Schema.UndefinedOr(LearningRow))

const toLearningLog = (row: typeof LearningRow.Type | undefined): LearningLog => {
  if (row === undefined) return { lastScan: undefined, lastFailure: undefined }
  const { scanned_at, learned, stays, corrections, failed_at, failure } = row
  return {
    lastScan: scanned_at === null ? undefined : { at: scanned_at, learned, stays, corrections },
    lastFailure: failed_at === null || failure === null ? undefined : { at: failed_at, message: failure }
  }
}

// One row (id 1): a completed scan replaces the last one's figures, a failure the last failure.
const scannedUpsert = `INSERT INTO learning_scans (id, scanned_at, learned, stays, corrections) VALUES (1, ?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET scanned_at = excluded.scanned_at, learned = excluded.learned, stays = excluded.stays,
    corrections = excluded.corrections`
const failedUpsert = `INSERT INTO learning_scans (id, failed_at, failure) VALUES (1, ?, ?)
  ON CONFLICT (id) DO UPDATE SET failed_at = excluded.failed_at, failure = excluded.failure`

export class PassLog extends Context.Service<PassLog, PassLogApi>()("proton-lumo-ai/PassLog") {
  static readonly layer: Layer.Layer<PassLog, never, Database> = Layer.effect(
    PassLog,
    Effect.gen(function*() {
      const database = yield* Database

      const record = Effect.fn("PassLog.record")((passes: ReadonlyArray<PassRecord>) =>
        passes.length === 0 ? Effect.void : database.transaction((db) => {
          const insert = db.prepare(upsert)
          for (const p of passes) {
            insert.run(p.folder, p.endedAt, Math.round(p.elapsedMillis), p.moved, p.left, p.failed, p.remaining,
              p.waiting, p.kept, p.error ?? null, p.error ?? null, p.error === undefined ? null : p.endedAt, ...handledColumns(p))
          }
        })
      )

      const latest = database.use((db) =>
        decodeRows(db.prepare("SELECT * FROM passes ORDER BY folder").all()).map(toFolderPass)
      ).pipe(Effect.withSpan("PassLog.latest"))

      const keepOnly = Effect.fn("PassLog.keepOnly")((folders: ReadonlyArray<string>) =>
        database.use((db) => {
          db.prepare(`DELETE FROM passes WHERE folder NOT IN (${folders.map(() => "?").join(", ")})`).run(...folders)
        })
      )

      const recordLearning = Effect.fn("PassLog.recordLearning")((outcome: LearningOutcome) =>
        database.use((db) => {
          if (outcome._tag === "Failed") db.prepare(failedUpsert).run(outcome.at, outcome.message)
          else {
            const { at, learned, stays, corrections } = outcome.scan
            db.prepare(scannedUpsert).run(at, learned, stays, corrections)
          }
        })
      )

      const learning = database.use((db) =>
        toLearningLog(decodeLearningRow(db.prepare("SELECT * FROM learning_scans WHERE id = 1").get()))
      ).pipe(Effect.withSpan("PassLog.learning"))

      return PassLog.of({ record, latest, keepOnly, recordLearning, learning })
    })
  )
}
