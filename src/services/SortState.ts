/**
 * What the sorter remembers between passes: per source folder, its UIDVALIDITY, the UIDs it has
 * settled (classified and left in place, labelled, or unreadable for good), and the UIDs that
 * failed and wait for their next try. Moved mail needs no memory: it has left the folder. A new
 * UIDVALIDITY forgets the folder's UIDs, so the folder is rescanned rather than trusted.
 *
 * A message that fails again and again (a target the server refuses, a message that cannot be
 * fetched) is tried again with a growing delay, 1 minute doubling up to an hour, not on every
 * pass: a service woken by IDLE every few seconds would otherwise hammer the same failure. So is
 * one left for now (the LLM could not answer for it: each ask may be paid for); that one waits
 * without counting as a failure.
 *
 * A dry run (`layerDryRun`) reads this memory but keeps its own additions, the mail it would have
 * moved included, in the process only.
 */
import { Clock, Context, Effect, Layer, Schema } from "effect"
import type { FolderRef } from "../domain/Email.ts"
import type { StateError } from "../domain/Errors.ts"
import { Database, type Sqlite } from "./Database.ts"

export interface SortStateApi {
  /**
   * The settled UIDs of the folder that are still `present` (the others are forgotten; after a
   * UIDVALIDITY change, none), but those left in place under other categories than `categories`
   * (a key, Categories.key): how many of those there were is `reopened`.
   */
  readonly handled: (folder: FolderRef, present: ReadonlyArray<number>, categories?: string) => Effect.Effect<Handled, StateError>
  /**
   * Records these UIDs as settled (durably, before returning); `leftUnder`: they were left in
   * place by a classification under these categories (a key), and are read again under others;
   * `llmSaidNone`: that classification was the LLM's answer that no category fits.
   */
  readonly settle: (
    folder: FolderRef,
    uids: ReadonlyArray<number>,
    leftUnder?: string,
    llmSaidNone?: boolean
  ) => Effect.Effect<void, StateError>
  /**
   * The folder's UIDs settled with the LLM's answer that no category fits (under its current
   * UIDVALIDITY; none when it has another), with the categories (a key) the answer was given under:
   * mail the learning scan learns as staying, or, given under other categories than today's, is
   * about to be asked again.
   */
  readonly llmSaidNone: (folder: FolderRef) => Effect.Effect<ReadonlyArray<LeftByLlm>, StateError>
  /**
   * The UIDs of the folder, among `present`, whose next try has not come yet, and how many of
   * them failed (the others were left for now: `retryLater`'s `deferred`).
   */
  readonly waiting: (folder: FolderRef, present: ReadonlyArray<number>) => Effect.Effect<Waiting, StateError>
  /**
   * Records that these UIDs failed (or, `deferred`, were left for now: the LLM could not answer
   * for them, or whether the user had moved them back could not be told):
   * each is tried again after a delay that doubles with every try.
   */
  readonly retryLater: (folder: FolderRef, uids: ReadonlyArray<number>, deferred?: boolean) => Effect.Effect<void, StateError>
  /**
   * These UIDs left the folder (the sorter moved them): nothing of them waits for a retry now
   * (`status` would count them until the folder's next pass).
   */
  readonly gone: (folder: FolderRef, uids: ReadonlyArray<number>) => Effect.Effect<void, StateError>
  /** Per folder, how many messages wait to be tried again (failed or left for now), and when the first is due (`status`). */
  readonly retrying: Effect.Effect<ReadonlyArray<Retrying>, StateError>
}

/** See `SortStateApi.llmSaidNone`. */
export interface LeftByLlm {
  readonly uid: number
  readonly categories: string
}

export interface Handled {
  readonly uids: ReadonlySet<number>
  readonly reopened: number
  /** Of those reopened, the ones the LLM had said no category fits (ParsedEmail.reasked). */
  readonly reasked: ReadonlySet<number>
}

export interface Waiting {
  readonly uids: ReadonlySet<number>
  readonly failed: number
}

export interface Retrying {
  readonly folder: string
  readonly messages: number
  /** When the earliest is tried again (epoch ms; it may be past, until the next pass). */
  readonly nextAt: number
}

const RetryingRow = Schema.Struct({ folder: Schema.String, messages: Schema.Number, next_at: Schema.Number })
const decodeRetrying = Schema.decodeUnknownSync(Schema.Array(RetryingRow))
const decodeLeftByLlm = Schema.decodeUnknownSync(Schema.Array(Schema.Struct({ uid: Schema.Number, categories: Schema.String })))
const decodeNotYet = Schema.decodeUnknownSync(Schema.Array(Schema.Struct({ uid: Schema.Number, deferred: Schema.Number })))
const decodeStale = Schema.decodeUnknownSync(Schema.Array(Schema.Struct({ uid: Schema.Number, llm_none: Schema.Number })))

const FIRST_RETRY_MILLIS = 60_000
const LAST_RETRY_MILLIS = 3_600_000

/** The wait before the next try of a message that has failed `attempts` times. */
export const retryDelayMillis = (attempts: number): number =>
  Math.min(LAST_RETRY_MILLIS, FIRST_RETRY_MILLIS * 2 ** Math.max(0, attempts - 1))

/** Makes `folder.uidValidity` the folder's current one; a different stored one drops its UIDs. */
const adopt = (db: Sqlite, folder: FolderRef) => {
  const stored = db.prepare("SELECT uid_validity FROM folder_state WHERE folder = ?").pluck().get(folder.path)
  if (stored === String(folder.uidValidity)) return
  db.prepare("DELETE FROM handled WHERE folder = ?").run(folder.path)
  db.prepare("DELETE FROM retries WHERE folder = ?").run(folder.path)
  db.prepare("INSERT OR REPLACE INTO folder_state (folder, uid_validity) VALUES (?, ?)")
    .run(folder.path, String(folder.uidValidity))
}

/** The UIDs of `table` for the folder that are still present; the rows of the others are deleted. */
const keepPresent = (db: Sqlite, table: "handled" | "retries", folder: FolderRef, present: ReadonlyArray<number>) => {
  const stillThere = new Set(present)
  const kept = new Set<number>()
  const forget = db.prepare(`DELETE FROM ${table} WHERE folder = ? AND uid = ?`)
  for (const uid of db.prepare(`SELECT uid FROM ${table} WHERE folder = ?`).pluck().all(folder.path)) {
    if (typeof uid !== "number") continue
    if (stillThere.has(uid)) kept.add(uid)
    else forget.run(folder.path, uid)
  }
  return kept
}

/** The sorter's memory in the Database. */
const make = Effect.gen(function*() {
  const database = yield* Database

  const handled = Effect.fn("SortState.handled")((folder: FolderRef, present: ReadonlyArray<number>, categories?: string) =>
    database.transaction((db): Handled => {
      adopt(db, folder)
      const kept = keepPresent(db, "handled", folder, present)
      if (categories === undefined) return { uids: kept, reopened: 0, reasked: new Set() }
      const rows = db.prepare("SELECT uid, llm_none FROM handled WHERE folder = ? AND categories IS NOT NULL AND categories <> ?")
        .all(folder.path, categories)
      const stale = decodeStale(rows)
      const reopened = new Set(stale.map((row) => row.uid))
      const uids = new Set([...kept].filter((uid) => !reopened.has(uid)))
      const reasked = new Set(stale.flatMap((row) => (row.llm_none === 1 && kept.has(row.uid) ? [row.uid] : [])))
      return { uids, reopened: kept.size - uids.size, reasked }
    })
  )

  const settle = Effect.fn("SortState.settle")(
    (folder: FolderRef, uids: ReadonlyArray<number>, leftUnder?: string, llmSaidNone = false) =>
      uids.length === 0
        ? Effect.void
        : database.transaction((db) => {
          adopt(db, folder)
          const insert = db.prepare("INSERT OR REPLACE INTO handled (folder, uid, categories, llm_none) VALUES (?, ?, ?, ?)")
          const done = db.prepare("DELETE FROM retries WHERE folder = ? AND uid = ?")
          for (const uid of uids) {
            insert.run(folder.path, uid, leftUnder ?? null, llmSaidNone ? 1 : 0)
            done.run(folder.path, uid)
          }
        })
  )

  const llmSaidNone = Effect.fn("SortState.llmSaidNone")((folder: FolderRef) =>
    database.use((db): ReadonlyArray<LeftByLlm> => {
      const stored = db.prepare("SELECT uid_validity FROM folder_state WHERE folder = ?").pluck().get(folder.path)
      if (stored !== String(folder.uidValidity)) return []
      return decodeLeftByLlm(
        db.prepare("SELECT uid, categories FROM handled WHERE folder = ? AND llm_none = 1 AND categories IS NOT NULL ORDER BY uid")
          .all(folder.path)
      )
    })
  )

  const waiting = Effect.fn("SortState.waiting")((folder: FolderRef, present: ReadonlyArray<number>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      database.transaction((db) => {
        adopt(db, folder)
        const notYet = new Map(
          decodeNotYet(db.prepare("SELECT uid, deferred FROM retries WHERE folder = ? AND next_at > ?").all(folder.path, now))
            .map((row) => [row.uid, row.deferred === 1])
        )
        const uids = new Set([...keepPresent(db, "retries", folder, present)].filter((uid) => notYet.has(uid)))
        const due: Waiting = { uids, failed: [...uids].filter((uid) => notYet.get(uid) === false).length }
        return due
      }))
  )

  const retryLater = Effect.fn("SortState.retryLater")((folder: FolderRef, uids: ReadonlyArray<number>, deferred = false) =>
    uids.length === 0 ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) =>
      database.transaction((db) => {
        adopt(db, folder)
        const attemptsOf = db.prepare("SELECT attempts FROM retries WHERE folder = ? AND uid = ?").pluck()
        // Waiting for a retry, it is not settled (a row left under other categories would be counted as reopened again).
        const unsettle = db.prepare("DELETE FROM handled WHERE folder = ? AND uid = ?")
        const record = db.prepare(
          "INSERT OR REPLACE INTO retries (folder, uid, attempts, next_at, deferred) VALUES (?, ?, ?, ?, ?)"
        )
        for (const uid of uids) {
          const before = attemptsOf.get(folder.path, uid)
          const attempts = (typeof before === "number" ? before : 0) + 1
          record.run(folder.path, uid, attempts, now + retryDelayMillis(attempts), deferred ? 1 : 0)
          unsettle.run(folder.path, uid)
        }
      }))
  )

  const gone = Effect.fn("SortState.gone")((folder: FolderRef, uids: ReadonlyArray<number>) =>
    uids.length === 0 ? Effect.void : database.transaction((db) => {
      adopt(db, folder)
      const forget = db.prepare("DELETE FROM retries WHERE folder = ? AND uid = ?")
      for (const uid of uids) forget.run(folder.path, uid)
    })
  )

  const retrying = database.use((db) =>
    decodeRetrying(
      db.prepare("SELECT folder, count(*) AS messages, min(next_at) AS next_at FROM retries GROUP BY folder ORDER BY folder")
        .all()
    ).map((row) => ({ folder: row.folder, messages: row.messages, nextAt: row.next_at }))
  ).pipe(Effect.withSpan("SortState.retrying"))

  const api: SortStateApi = { handled, settle, llmSaidNone, waiting, retryLater, gone, retrying }
  return api
})

/** What a dry run remembers of one folder, in memory. */
interface Remembered {
  readonly uidValidity: bigint
  /** Settled UIDs, with the categories they were left under. */
  readonly settled: Map<number, string | undefined>
  readonly retries: Map<number, { readonly attempts: number; readonly nextAt: number; readonly deferred: boolean }>
}

/** Drops the UIDs no longer in the folder. */
const forgetAbsent = (uids: Map<number, unknown>, present: ReadonlyArray<number>) => {
  const here = new Set(present)
  for (const uid of uids.keys()) if (!here.has(uid)) uids.delete(uid)
}

/**
 * A dry run's memory: what the Database holds, read but never written, and what this process
 * settled (the mail it listed as it would move it, or leave it) in memory. So a dry-run service
 * lists each message once, not again at every pass, and a later real run finds nothing of it.
 */
const dryRun = (stored: SortStateApi): SortStateApi => {
  const folders = new Map<string, Remembered>()
  const of = (folder: FolderRef): Remembered => {
    const known = folders.get(folder.path)
    if (known !== undefined && known.uidValidity === folder.uidValidity) return known
    const fresh: Remembered = { uidValidity: folder.uidValidity, settled: new Map(), retries: new Map() }
    folders.set(folder.path, fresh)
    return fresh
  }
  return {
    handled: Effect.fn("SortState.handled")((folder: FolderRef, present: ReadonlyArray<number>, categories?: string) =>
      Effect.map(stored.handled(folder, present, categories), (fromDatabase): Handled => {
        const remembered = of(folder)
        forgetAbsent(remembered.settled, present)
        const uids = new Set(fromDatabase.uids)
        let reopened = fromDatabase.reopened
        for (const [uid, under] of remembered.settled) {
          if (categories !== undefined && under !== undefined && under !== categories) reopened++
          else uids.add(uid)
        }
        // A dry run's own settlements say nothing of the LLM's answers (llmSaidNone reads the Database alone).
        return { uids, reopened, reasked: fromDatabase.reasked }
      })),
    settle: Effect.fn("SortState.settle")((folder: FolderRef, uids: ReadonlyArray<number>, leftUnder?: string) =>
      Effect.sync(() => {
        const remembered = of(folder)
        for (const uid of uids) {
          remembered.settled.set(uid, leftUnder)
          remembered.retries.delete(uid)
        }
      })),
    // A dry run learns nothing from what the LLM answered in it: only from what the Database holds.
    llmSaidNone: stored.llmSaidNone,
    waiting: Effect.fn("SortState.waiting")((folder: FolderRef, present: ReadonlyArray<number>) =>
      Effect.flatMap(stored.waiting(folder, present), (fromDatabase) =>
        Effect.map(Clock.currentTimeMillis, (now): Waiting => {
          const remembered = of(folder)
          forgetAbsent(remembered.retries, present)
          const uids = new Set(fromDatabase.uids)
          let failed = fromDatabase.failed
          for (const [uid, retry] of remembered.retries) {
            if (retry.nextAt <= now || uids.has(uid)) continue
            uids.add(uid)
            if (!retry.deferred) failed++
          }
          return { uids, failed }
        }))),
    retryLater: Effect.fn("SortState.retryLater")((folder: FolderRef, uids: ReadonlyArray<number>, deferred = false) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const remembered = of(folder)
        for (const uid of uids) {
          const attempts = (remembered.retries.get(uid)?.attempts ?? 0) + 1
          remembered.retries.set(uid, { attempts, nextAt: now + retryDelayMillis(attempts), deferred })
          remembered.settled.delete(uid)
        }
      })),
    gone: Effect.fn("SortState.gone")((folder: FolderRef, uids: ReadonlyArray<number>) =>
      Effect.sync(() => {
        const remembered = of(folder)
        for (const uid of uids) remembered.retries.delete(uid)
      })),
    retrying: stored.retrying
  }
}

export class SortState extends Context.Service<SortState, SortStateApi>()("proton-lumo-ai/SortState") {
  static readonly layer: Layer.Layer<SortState, never, Database> = Layer.effect(SortState, make)

  /** For a dry run: reads the Database, remembers in memory only (see `dryRun`). */
  static readonly layerDryRun: Layer.Layer<SortState, never, Database> = Layer.effect(SortState, Effect.map(make, dryRun))
}
