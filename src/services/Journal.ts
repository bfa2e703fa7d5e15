/**
 * The journal of every move: when, which message (Message-ID), from and to which folder, why
 * (category, confidence, classifier, reason). An entry is written *before* the IMAP command
 * ("pending") and settled after the server answers ("done" or "failed"), so a crash between the
 * two leaves a pending entry that the next pass checks against the server. `undo` marks what it
 * put back as "undone".
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { StateError } from "../domain/Errors.ts"
import type { FolderRef } from "../domain/Email.ts"
import { cut } from "../domain/Text.ts"
import { Database } from "./Database.ts"

export type JournalAction = "move" | "label"
export type JournalState = "pending" | "done" | "failed" | "undone"

export interface NewJournalEntry {
  readonly runId: string
  readonly messageId: string | undefined
  /** Of the message's source (domain/Fingerprint.ts); absent in entries from before it was recorded. */
  readonly fingerprint: string | undefined
  readonly source: string
  readonly sourceUid: number
  readonly sourceUidValidity: bigint
  readonly target: string
  readonly action: JournalAction
  readonly category: string
  readonly confidence: number
  readonly classifier: string
  readonly reason: string
  /** The hashed address of its sender (classify/features.ts `senderOf`), never the address; absent when it had none. */
  readonly sender?: number | undefined
  /**
   * When the server received the message (its INTERNALDATE, epoch ms; absent: the server gave
   * none, or entries from before it was kept): the message moved back has it still (a move keeps
   * it), the same bytes delivered again have their own.
   */
  readonly internalDate?: number | undefined
  /**
   * The target folder as the move was journaled (absent: it did not exist yet, or entries from
   * before this was kept): a message in it whose UID is below `uidNext` was there before.
   */
  readonly targetBefore?: { readonly uidNext: number; readonly uidValidity: bigint } | undefined
}

export interface JournalEntry extends NewJournalEntry {
  readonly id: number
  readonly at: number
  readonly state: JournalState
  readonly note: string | undefined
  /** Where the server put the message, when it said (COPYUID): its UID in the target, and the target's UIDVALIDITY. */
  readonly placed: { readonly uid: number; readonly uidValidity: bigint } | undefined
}

export interface JournalQuery {
  /** Only entries of this run (pass). */
  readonly runId?: string
  /** Only entries written at or after this time (epoch ms). */
  readonly since?: number
  readonly states?: ReadonlyArray<JournalState>
  /** The newest `limit` entries. */
  readonly limit?: number
}

/** How some entries ended: the server's answer, or why no command was sent. */
export interface Settlement {
  readonly ids: ReadonlyArray<number>
  readonly state: Exclude<JournalState, "pending">
  readonly note?: string
  /** The UIDs the server gave the messages in the target (COPYUID), by entry id. */
  readonly placed?: { readonly uidValidity: bigint; readonly uids: ReadonlyMap<number, number> }
}

export interface JournalApi {
  /** Writes pending entries (one transaction) and returns their ids, in order. */
  readonly begin: (entries: ReadonlyArray<NewJournalEntry>) => Effect.Effect<ReadonlyArray<number>, StateError>
  /** Records how entries ended, all in one transaction. */
  readonly settle: (settlements: ReadonlyArray<Settlement>) => Effect.Effect<void, StateError>
  /** Pending entries whose source is `folder`, oldest first. */
  readonly pending: (folder: string) => Effect.Effect<ReadonlyArray<JournalEntry>, StateError>
  /** Entries matching the query, oldest first. */
  readonly list: (query: JournalQuery) => Effect.Effect<ReadonlyArray<JournalEntry>, StateError>
  /** The newest run that moved or labelled something. */
  readonly lastRun: Effect.Effect<Option.Option<string>, StateError>
  /** The moves (not labels) made since `since` (epoch ms), done or undone since: their ids, and which were undone. */
  readonly movesSince: (since: number) => Effect.Effect<ReadonlyArray<{ readonly id: number; readonly undone: boolean }>, StateError>
  /**
   * The sorter's moves (and labels) of messages with these fingerprints, oldest first: those
   * completed, or those in `state` ("undone": put back by undo).
   */
  readonly movesOf: (
    fingerprints: ReadonlyArray<string>,
    state?: "done" | "undone"
  ) => Effect.Effect<ReadonlyArray<JournalEntry>, StateError>
  /** The UIDs the server gave in `folder` (its UIDVALIDITY now) to what the sorter moved or labelled there. */
  readonly placedIn: (folder: FolderRef) => Effect.Effect<ReadonlyArray<number>, StateError>
  /** The moves into `folder` (its UIDVALIDITY now) that the server gave a UID of at least `fromUid`. */
  readonly movedInFrom: (folder: FolderRef, fromUid: number) => Effect.Effect<ReadonlyArray<JournalEntry>, StateError>
}

/** A journal row as SQL gives it (also the scale-out spike's Postgres journal: same columns). */
export const JournalRow = Schema.Struct({
  id: Schema.Number,
  run_id: Schema.String,
  at: Schema.Number,
  message_id: Schema.NullOr(Schema.String),
  source: Schema.String,
  source_uid: Schema.Number,
  source_uid_validity: Schema.String,
  target: Schema.String,
  action: Schema.Literals(["move", "label"]),
  category: Schema.String,
  confidence: Schema.Number,
  classifier: Schema.String,
  reason: Schema.String,
  state: Schema.Literals(["pending", "done", "failed", "undone"]),
  note: Schema.NullOr(Schema.String),
  fingerprint: Schema.NullOr(Schema.String),
  target_uid: Schema.NullOr(Schema.Number),
  target_uid_validity: Schema.NullOr(Schema.String),
  // Absent from the scale-out spike's journal.
  target_uid_next: Schema.optional(Schema.NullOr(Schema.Number)),
  sender: Schema.optional(Schema.NullOr(Schema.Number)),
  // Absent from the scale-out spike's journal.
  internal_date: Schema.optional(Schema.NullOr(Schema.Number))
})

const decodeRows = Schema.decodeUnknownSync(Schema.Array(JournalRow))

export const entryOfRow = (row: typeof JournalRow.Type): JournalEntry => ({
  id: row.id,
  runId: row.run_id,
  at: row.at,
  messageId: row.message_id ?? undefined,
  source: row.source,
  sourceUid: row.source_uid,
  sourceUidValidity: BigInt(row.source_uid_validity),
  target: row.target,
  action: row.action,
  category: row.category,
  confidence: row.confidence,
  classifier: row.classifier,
  reason: row.reason,
  state: row.state,
  note: row.note ?? undefined,
  fingerprint: row.fingerprint ?? undefined,
  sender: row.sender ?? undefined,
  internalDate: row.internal_date ?? undefined,
  placed: row.target_uid === null || row.target_uid_validity === null
    ? undefined
    : { uid: row.target_uid, uidValidity: BigInt(row.target_uid_validity) },
  targetBefore: row.target_uid_next === undefined || row.target_uid_next === null || row.target_uid_validity === null
    ? undefined
    : { uidNext: row.target_uid_next, uidValidity: BigInt(row.target_uid_validity) }
})

export class Journal extends Context.Service<Journal, JournalApi>()("proton-lumo-ai/Journal") {
  static readonly layer: Layer.Layer<Journal, never, Database> = Layer.effect(
    Journal,
    Effect.gen(function*() {
      const database = yield* Database
      const now = Effect.clockWith((clock) => clock.currentTimeMillis)

      const begin = Effect.fn("Journal.begin")((entries: ReadonlyArray<NewJournalEntry>) =>
        Effect.flatMap(now, (at) =>
          database.transaction((db) => {
            const insert = db.prepare(
              `INSERT INTO journal (run_id, at, message_id, fingerprint, source, source_uid, source_uid_validity, target,
                 action, category, confidence, classifier, reason, sender, target_uid_next, target_uid_validity, internal_date,
                 state)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`
            )
            return entries.map((e) =>
              Number(
                insert.run(e.runId, at, e.messageId ?? null, e.fingerprint ?? null, e.source, e.sourceUid,
                  String(e.sourceUidValidity), e.target, e.action, e.category, e.confidence, e.classifier,
                  cut(e.reason, 200), e.sender ?? null, e.targetBefore?.uidNext ?? null,
                  e.targetBefore === undefined ? null : String(e.targetBefore.uidValidity), e.internalDate ?? null).lastInsertRowid
              )
            )
          })))

      const settle = Effect.fn("Journal.settle")((settlements: ReadonlyArray<Settlement>) =>
        settlements.every((settlement) => settlement.ids.length === 0) ? Effect.void : Effect.flatMap(now, (at) =>
          database.transaction((db) => {
            const update = db.prepare("UPDATE journal SET state = ?, note = ?, settled_at = ? WHERE id = ?")
            const place = db.prepare("UPDATE journal SET target_uid = ?, target_uid_validity = ? WHERE id = ?")
            for (const { ids, note, placed, state } of settlements) {
              for (const id of ids) {
                update.run(state, note ?? null, at, id)
                const uid = placed?.uids.get(id)
                if (placed !== undefined && uid !== undefined) place.run(uid, String(placed.uidValidity), id)
              }
            }
          })))

      const list = Effect.fn("Journal.list")((query: JournalQuery) =>
        database.use((db) => {
          const conditions: Array<string> = []
          const values: Array<string | number> = []
          if (query.runId !== undefined) {
            conditions.push("run_id = ?")
            values.push(query.runId)
          }
          if (query.since !== undefined) {
            conditions.push("at >= ?")
            values.push(query.since)
          }
          if (query.states !== undefined) {
            conditions.push(`state IN (${query.states.map(() => "?").join(", ")})`)
            values.push(...query.states)
          }
          const where = conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`
          const newest = `SELECT * FROM journal ${where} ORDER BY id DESC${query.limit === undefined ? "" : " LIMIT ?"}`
          if (query.limit !== undefined) values.push(query.limit)
          return decodeRows(db.prepare(`SELECT * FROM (${newest}) ORDER BY id`).all(...values)).map(entryOfRow)
        }))

      const pending = Effect.fn("Journal.pending")((folder: string) =>
        database.use((db) =>
          decodeRows(db.prepare("SELECT * FROM journal WHERE source = ? AND state = 'pending' ORDER BY id").all(folder))
            .map(entryOfRow)
        ))

      const lastRun = database.use((db) => {
        const runId = db.prepare("SELECT run_id FROM journal WHERE state IN ('done', 'undone') ORDER BY id DESC LIMIT 1")
          .pluck().get()
        return typeof runId === "string" ? Option.some(runId) : Option.none<string>()
      }).pipe(Effect.withSpan("Journal.lastRun"))

      const movesOf = Effect.fn("Journal.movesOf")((fingerprints: ReadonlyArray<string>, state: "done" | "undone" = "done") =>
        fingerprints.length === 0 ? Effect.succeed([]) : database.use((db) => {
          const query = db.prepare("SELECT * FROM journal WHERE fingerprint = ? AND state = ? ORDER BY id")
          return fingerprints.flatMap((fingerprint) => decodeRows(query.all(fingerprint, state)).map(entryOfRow))
        })
      )

      const movesSince = Effect.fn("Journal.movesSince")((since: number) =>
        database.use((db) =>
          Schema.decodeUnknownSync(Schema.Array(Schema.Struct({ id: Schema.Number, state: Schema.String })))(
            db.prepare("SELECT id, state FROM journal WHERE at >= ? AND action = 'move' AND state IN ('done', 'undone')").all(since)
          ).map((row) => ({ id: row.id, undone: row.state === "undone" }))
        )
      )

      const placedIn = Effect.fn("Journal.placedIn")((folder: FolderRef) =>
        database.use((db) =>
          Schema.decodeUnknownSync(Schema.Array(Schema.Number))(
            db.prepare(
              "SELECT target_uid FROM journal WHERE target = ? AND target_uid_validity = ? AND state = 'done' AND target_uid IS NOT NULL"
            ).pluck().all(folder.path, String(folder.uidValidity))
          )
        )
      )

      const movedInFrom = Effect.fn("Journal.movedInFrom")((folder: FolderRef, fromUid: number) =>
        database.use((db) =>
          decodeRows(
            db.prepare(
              `SELECT * FROM journal WHERE target = ? AND target_uid_validity = ? AND state = 'done' AND action = 'move'
                 AND target_uid >= ? ORDER BY id`
            ).all(folder.path, String(folder.uidValidity), fromUid)
          ).map(entryOfRow)
        )
      )

      return Journal.of({ begin, settle, pending, list, lastRun, movesOf, movesSince, placedIn, movedInFrom })
    })
  )
}
