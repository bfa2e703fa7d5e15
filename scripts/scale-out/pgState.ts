/**
 * The sorter's per-account memory in Postgres, for the scale-out spike: the journal of moves and
 * the sort state (settled UIDs, retries), the two things a pass resumed on another runner must
 * see exactly as the dead runner left them. They implement the project's own `JournalApi` and
 * `SortStateApi` (src/services/Journal.ts, SortState.ts) with the same meaning, keyed by account,
 * so the real pipeline (`sortMailbox`, `recoverFolder`) runs on them unchanged. The spike's
 * `events` table records which runner began and finished which pass, and when.
 *
 * What the SQLite versions also keep (LLM cache and budget, learned model, pass log) is left out:
 * the spike sorts with keywords and learning off; docs/scale-out.md says where they would go.
 */
import { Clock, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { FolderRef } from "../../src/domain/Email.ts"
import { StateError } from "../../src/domain/Errors.ts"
import { entryOfRow, Journal, JournalRow, type JournalQuery, type NewJournalEntry, type Settlement } from "../../src/services/Journal.ts"
import { type LeftByLlm, retryDelayMillis, SortState } from "../../src/services/SortState.ts"

/** Creates the spike's tables (the cluster's own are made by SqlRunnerStorage and SqlMessageStorage). */
export const createTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS journal (
    id SERIAL PRIMARY KEY,
    account TEXT NOT NULL,
    runner TEXT NOT NULL,
    run_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    message_id TEXT,
    fingerprint TEXT,
    source TEXT NOT NULL,
    source_uid INTEGER NOT NULL,
    source_uid_validity TEXT NOT NULL,
    target TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('move', 'label')),
    category TEXT NOT NULL,
    confidence DOUBLE PRECISION NOT NULL,
    classifier TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'undone')),
    note TEXT,
    settled_at BIGINT,
    settled_by TEXT,
    target_uid INTEGER,
    target_uid_validity TEXT
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS journal_pending ON journal (account, source, state)`
  yield* sql`CREATE TABLE IF NOT EXISTS folder_state (
    account TEXT NOT NULL, folder TEXT NOT NULL, uid_validity TEXT NOT NULL, PRIMARY KEY (account, folder))`
  yield* sql`CREATE TABLE IF NOT EXISTS handled (
    account TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL, PRIMARY KEY (account, folder, uid))`
  yield* sql`CREATE TABLE IF NOT EXISTS retries (
    account TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL, attempts INTEGER NOT NULL,
    next_at BIGINT NOT NULL, deferred INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, folder, uid))`
  yield* sql`CREATE TABLE IF NOT EXISTS events (
    id SERIAL PRIMARY KEY, account TEXT NOT NULL, runner TEXT NOT NULL, event TEXT NOT NULL,
    at BIGINT NOT NULL, detail TEXT)`
})

const stateError = (error: SqlError.SqlError | Schema.SchemaError) =>
  new StateError({ path: "postgres", reason: error.message })

/** Runs a query and decodes its rows; any failure is a StateError, as the SQLite services give. */
const rows = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  query: Effect.Effect<ReadonlyArray<unknown>, SqlError.SqlError>
): Effect.Effect<ReadonlyArray<S["Type"]>, StateError> =>
  query.pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(schema))), Effect.mapError(stateError))


/** The columns of a journal row, `at` as a double (BIGINT would come back as a string). */
const journalColumns = `id, run_id, at::float8 AS at, message_id, source, source_uid, source_uid_validity, target,
  action, category, confidence, classifier, reason, state, note, fingerprint, target_uid, target_uid_validity`

/** The journal of `account`'s moves, its entries written and settled by `runner`. */
export const journalLayer = (account: string, runner: string): Layer.Layer<Journal, never, SqlClient.SqlClient> =>
  Layer.effect(
    Journal,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const columns = sql.literal(journalColumns)
      const entries = (query: Effect.Effect<ReadonlyArray<unknown>, SqlError.SqlError>) =>
        Effect.map(rows(JournalRow, query), (found) => found.map(entryOfRow))

      const begin = Effect.fn("Journal.begin")(function*(newEntries: ReadonlyArray<NewJournalEntry>) {
        const at = yield* Clock.currentTimeMillis
        const insert = (e: NewJournalEntry) =>
          rows(
            Schema.Struct({ id: Schema.Number }),
            sql`INSERT INTO journal (account, runner, run_id, at, message_id, fingerprint, source, source_uid,
                  source_uid_validity, target, action, category, confidence, classifier, reason, state)
                VALUES (${account}, ${runner}, ${e.runId}, ${at}, ${e.messageId ?? null}, ${e.fingerprint ?? null},
                  ${e.source}, ${e.sourceUid}, ${String(e.sourceUidValidity)}, ${e.target}, ${e.action}, ${e.category},
                  ${e.confidence}, ${e.classifier}, ${e.reason.slice(0, 200)}, 'pending')
                RETURNING id`
          ).pipe(Effect.map((inserted) => inserted[0]?.id ?? -1))
        // One transaction: every entry of the round is pending before the first command is sent.
        return yield* sql.withTransaction(Effect.forEach(newEntries, insert)).pipe(
          Effect.catchTag("SqlError", (error) => Effect.fail(stateError(error)))
        )
      })

      const settle = Effect.fn("Journal.settle")(function*(settlements: ReadonlyArray<Settlement>) {
        if (settlements.every((settlement) => settlement.ids.length === 0)) return
        const at = yield* Clock.currentTimeMillis
        const one = (settlement: Settlement, id: number) => {
          const uid = settlement.placed?.uids.get(id)
          const placed = settlement.placed !== undefined && uid !== undefined
            ? sql`, target_uid = ${uid}, target_uid_validity = ${String(settlement.placed.uidValidity)}`
            : sql.literal("")
          return sql`UPDATE journal SET state = ${settlement.state}, note = ${settlement.note ?? null},
              settled_at = ${at}, settled_by = ${runner} ${placed}
            WHERE id = ${id} AND account = ${account}`
        }
        yield* sql.withTransaction(
          Effect.forEach(settlements, (settlement) => Effect.forEach(settlement.ids, (id) => one(settlement, id)))
        ).pipe(Effect.mapError(stateError))
      })

      const pending = Effect.fn("Journal.pending")((folder: string) =>
        entries(sql`SELECT ${columns} FROM journal
          WHERE account = ${account} AND source = ${folder} AND state = 'pending' ORDER BY id`)
      )

      const list = Effect.fn("Journal.list")((query: JournalQuery) =>
        entries(sql`SELECT ${columns} FROM journal WHERE ${sql.and([
          sql`account = ${account}`,
          ...(query.runId === undefined ? [] : [sql`run_id = ${query.runId}`]),
          ...(query.since === undefined ? [] : [sql`at >= ${query.since}`]),
          ...(query.states === undefined || query.states.length === 0 ? [] : [sql`state IN ${sql.in(query.states)}`])
        ])} ORDER BY id`).pipe(Effect.map((found) => query.limit === undefined ? found : found.slice(-query.limit)))
      )

      const lastRun = rows(
        Schema.Struct({ run_id: Schema.String }),
        sql`SELECT run_id FROM journal WHERE account = ${account} AND state IN ('done', 'undone') ORDER BY id DESC LIMIT 1`
      ).pipe(
        Effect.map((found) => Option.fromNullishOr(found[0]?.run_id)),
        Effect.withSpan("Journal.lastRun")
      )

      const movesOf = Effect.fn("Journal.movesOf")((fingerprints: ReadonlyArray<string>) =>
        fingerprints.length === 0
          ? Effect.succeed([])
          : entries(sql`SELECT ${columns} FROM journal WHERE account = ${account} AND state = 'done'
              AND fingerprint IN ${sql.in(fingerprints)} ORDER BY id`)
      )

      const movesSince = Effect.fn("Journal.movesSince")((since: number) =>
        rows(
          Schema.Struct({ id: Schema.Number, state: Schema.String }),
          sql`SELECT id, state FROM journal WHERE account = ${account} AND at >= ${since} AND action = 'move'
            AND state IN ('done', 'undone')`
        ).pipe(Effect.map((found) => found.map((row) => ({ id: row.id, undone: row.state === "undone" }))))
      )

      const placedIn = Effect.fn("Journal.placedIn")((folder: FolderRef) =>
        rows(
          Schema.Struct({ target_uid: Schema.Number }),
          sql`SELECT target_uid FROM journal WHERE account = ${account} AND target = ${folder.path}
            AND target_uid_validity = ${String(folder.uidValidity)} AND state = 'done' AND target_uid IS NOT NULL`
        ).pipe(Effect.map((found) => found.map((row) => row.target_uid)))
      )

      const movedInFrom = Effect.fn("Journal.movedInFrom")((folder: FolderRef, fromUid: number) =>
        entries(sql`SELECT ${columns} FROM journal WHERE account = ${account} AND target = ${folder.path}
          AND target_uid_validity = ${String(folder.uidValidity)} AND state = 'done' AND action = 'move'
          AND target_uid >= ${fromUid} ORDER BY id`)
      )

      return Journal.of({ begin, settle, pending, list, lastRun, movesOf, movesSince, placedIn, movedInFrom })
    })
  )

const Uid = Schema.Struct({ uid: Schema.Number })

/** What `account`'s passes remember between them: settled UIDs and retries, per folder (SortState.ts). */
export const sortStateLayer = (account: string): Layer.Layer<SortState, never, SqlClient.SqlClient> =>
  Layer.effect(
    SortState,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      /** Makes the folder's UIDVALIDITY the current one; a different stored one drops its UIDs. */
      const adopt = (folder: FolderRef) =>
        Effect.gen(function*() {
          const stored = yield* rows(
            Schema.Struct({ uid_validity: Schema.String }),
            sql`SELECT uid_validity FROM folder_state WHERE account = ${account} AND folder = ${folder.path} FOR UPDATE`
          )
          if (stored[0]?.uid_validity === String(folder.uidValidity)) return
          yield* sql`DELETE FROM handled WHERE account = ${account} AND folder = ${folder.path}`
          yield* sql`DELETE FROM retries WHERE account = ${account} AND folder = ${folder.path}`
          yield* sql`INSERT INTO folder_state (account, folder, uid_validity)
            VALUES (${account}, ${folder.path}, ${String(folder.uidValidity)})
            ON CONFLICT (account, folder) DO UPDATE SET uid_validity = EXCLUDED.uid_validity`
        }).pipe(Effect.mapError((error) => error instanceof StateError ? error : stateError(error)))

      /** The UIDs of `table` for the folder still present; the rows of the others are deleted. */
      const keepPresent = (table: "handled" | "retries", folder: FolderRef, present: ReadonlyArray<number>) =>
        Effect.gen(function*() {
          const stillThere = new Set(present)
          const stored = yield* rows(
            Uid,
            sql`SELECT uid FROM ${sql(table)} WHERE account = ${account} AND folder = ${folder.path}`
          )
          const gone = stored.map((row) => row.uid).filter((uid) => !stillThere.has(uid))
          if (gone.length > 0) {
            yield* sql`DELETE FROM ${sql(table)} WHERE account = ${account} AND folder = ${folder.path}
              AND uid IN ${sql.in(gone)}`.pipe(Effect.mapError(stateError))
          }
          return new Set(stored.map((row) => row.uid).filter((uid) => stillThere.has(uid)))
        })

      const transaction = <A>(effect: Effect.Effect<A, StateError | SqlError.SqlError>) =>
        sql.withTransaction(effect).pipe(Effect.mapError((error) => error instanceof StateError ? error : stateError(error)))

      // The spike keeps no categories key: mail left in place is not looked at again after an edit of categories.json.
      const handled = Effect.fn("SortState.handled")((folder: FolderRef, present: ReadonlyArray<number>) =>
        transaction(Effect.andThen(adopt(folder), keepPresent("handled", folder, present))).pipe(
          Effect.map((uids) => ({ uids, reopened: 0, reasked: new Set<number>() }))
        )
      )

      const settle = Effect.fn("SortState.settle")((folder: FolderRef, uids: ReadonlyArray<number>) =>
        uids.length === 0 ? Effect.void : transaction(Effect.gen(function*() {
          yield* adopt(folder)
          for (const uid of uids) {
            yield* sql`INSERT INTO handled (account, folder, uid) VALUES (${account}, ${folder.path}, ${uid})
              ON CONFLICT DO NOTHING`
            yield* sql`DELETE FROM retries WHERE account = ${account} AND folder = ${folder.path} AND uid = ${uid}`
          }
        }))
      )

      const waiting = Effect.fn("SortState.waiting")((folder: FolderRef, present: ReadonlyArray<number>) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          transaction(Effect.gen(function*() {
            yield* adopt(folder)
            const notYet = new Map((yield* rows(
              Schema.Struct({ uid: Schema.Number, deferred: Schema.Number }),
              sql`SELECT uid, deferred FROM retries WHERE account = ${account} AND folder = ${folder.path} AND next_at > ${now}`
            )).map((row) => [row.uid, row.deferred === 1]))
            const kept = yield* keepPresent("retries", folder, present)
            const uids = new Set([...kept].filter((uid) => notYet.has(uid)))
            return { uids, failed: [...uids].filter((uid) => notYet.get(uid) === false).length }
          })))
      )

      const retryLater = Effect.fn("SortState.retryLater")((folder: FolderRef, uids: ReadonlyArray<number>, deferred = false) =>
        uids.length === 0 ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          transaction(Effect.gen(function*() {
            yield* adopt(folder)
            for (const uid of uids) {
              const before = yield* rows(
                Schema.Struct({ attempts: Schema.Number }),
                sql`SELECT attempts FROM retries WHERE account = ${account} AND folder = ${folder.path} AND uid = ${uid}`
              )
              const attempts = (before[0]?.attempts ?? 0) + 1
              yield* sql`INSERT INTO retries (account, folder, uid, attempts, next_at, deferred)
                VALUES (${account}, ${folder.path}, ${uid}, ${attempts}, ${now + retryDelayMillis(attempts)}, ${deferred ? 1 : 0})
                ON CONFLICT (account, folder, uid) DO UPDATE SET attempts = EXCLUDED.attempts, next_at = EXCLUDED.next_at,
                  deferred = EXCLUDED.deferred`
            }
          })))
      )

      const retrying = rows(
        Schema.Struct({ folder: Schema.String, messages: Schema.Number, next_at: Schema.Number }),
        sql`SELECT folder, count(*)::int AS messages, min(next_at)::float8 AS next_at FROM retries
          WHERE account = ${account} GROUP BY folder ORDER BY folder`
      ).pipe(
        Effect.map((found) => found.map((row) => ({ folder: row.folder, messages: row.messages, nextAt: row.next_at }))),
        Effect.withSpan("SortState.retrying")
      )

      // The spike keeps no record of the LLM's "no category fits": its runners learn no stays from it.
      const llmSaidNone = Effect.fn("SortState.llmSaidNone")((_folder: FolderRef) => Effect.succeed<ReadonlyArray<LeftByLlm>>([]))

      const gone = Effect.fn("SortState.gone")((folder: FolderRef, uids: ReadonlyArray<number>) =>
        uids.length === 0 ? Effect.void : transaction(Effect.gen(function*() {
          yield* adopt(folder)
          for (const uid of uids) yield* sql`DELETE FROM retries WHERE account = ${account} AND folder = ${folder.path} AND uid = ${uid}`
        }))
      )

      return SortState.of({ handled, settle, llmSaidNone, waiting, retryLater, gone, retrying })
    })
  )

/** Records that `runner` began, finished or failed `account`'s pass. */
export const recordEvent = (account: string, runner: string, event: "start" | "finish" | "failed", detail = "") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const at = yield* Clock.currentTimeMillis
    yield* sql`INSERT INTO events (account, runner, event, at, detail) VALUES (${account}, ${runner}, ${event}, ${at}, ${detail})`
  })
