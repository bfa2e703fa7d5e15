/**
 * What the sorter remembers between passes: per source folder, its UIDVALIDITY and the UIDs it
 * has settled (classified and left in place, labelled, or unreadable for good). Moved mail needs
 * no memory: it has left the folder. A new UIDVALIDITY forgets the folder's UIDs, so the folder
 * is rescanned rather than trusted.
 */
import { Context, Effect, Layer } from "effect"
import type { FolderRef } from "../domain/Email.ts"
import type { StateError } from "../domain/Errors.ts"
import { Database, type Sqlite } from "./Database.ts"

export interface SortStateApi {
  /**
   * The settled UIDs of the folder that are still `present`; the others are forgotten. After a
   * UIDVALIDITY change, none.
   */
  readonly handled: (folder: FolderRef, present: ReadonlyArray<number>) => Effect.Effect<ReadonlySet<number>, StateError>
  /** Records these UIDs as settled (durably, before returning). */
  readonly settle: (folder: FolderRef, uids: ReadonlyArray<number>) => Effect.Effect<void, StateError>
}

/** Makes `folder.uidValidity` the folder's current one; a different stored one drops its UIDs. */
const adopt = (db: Sqlite, folder: FolderRef) => {
  const stored = db.prepare("SELECT uid_validity FROM folder_state WHERE folder = ?").pluck().get(folder.path)
  if (stored === String(folder.uidValidity)) return
  db.prepare("DELETE FROM handled WHERE folder = ?").run(folder.path)
  db.prepare("INSERT OR REPLACE INTO folder_state (folder, uid_validity) VALUES (?, ?)")
    .run(folder.path, String(folder.uidValidity))
}

export class SortState extends Context.Service<SortState, SortStateApi>()("proton-lumo-ai/SortState") {
  static readonly layer: Layer.Layer<SortState, never, Database> = Layer.effect(
    SortState,
    Effect.gen(function*() {
      const database = yield* Database

      const handled = (folder: FolderRef, present: ReadonlyArray<number>) =>
        database.transaction((db) => {
          adopt(db, folder)
          const stillThere = new Set(present)
          const kept = new Set<number>()
          const forget = db.prepare("DELETE FROM handled WHERE folder = ? AND uid = ?")
          for (const uid of db.prepare("SELECT uid FROM handled WHERE folder = ?").pluck().all(folder.path)) {
            if (typeof uid !== "number") continue
            if (stillThere.has(uid)) kept.add(uid)
            else forget.run(folder.path, uid)
          }
          return kept
        })

      const settle = (folder: FolderRef, uids: ReadonlyArray<number>) =>
        uids.length === 0
          ? Effect.void
          : database.transaction((db) => {
            adopt(db, folder)
            const insert = db.prepare("INSERT OR IGNORE INTO handled (folder, uid) VALUES (?, ?)")
            for (const uid of uids) insert.run(folder.path, uid)
          })

      return SortState.of({ handled, settle })
    })
  )
}
