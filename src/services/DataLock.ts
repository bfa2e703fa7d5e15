/**
 * One sorter per data folder. Two sorters on one `PROTON_LUMO_DATA` would both sort the same
 * folders and take each other's moves in flight for crashed ones, journaling moves twice. The
 * lock is an exclusive SQLite lock on `<data>/protonlumo.lock`, held for the life of the process:
 * the operating system releases it when the process ends in any way, `kill -9` included, so a
 * stale lock cannot exist. Who holds it is written beside it (`protonlumo.lock.owner`), so the
 * one refused can name the other.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import BetterSqlite3 from "better-sqlite3"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { StateError } from "../domain/Errors.ts"
import { makePrivateFolder, openFailure } from "./privateFolder.ts"

/** Another process holds the data folder. */
export class DataFolderBusy extends Schema.TaggedError<DataFolderBusy>()("DataFolderBusy", {
  dataDir: Schema.String,
  owner: Schema.String
}) {
  override get message(): string {
    return `another ProtonLumoAI (${this.owner}) is using the data folder ${this.dataDir}: ` +
      "stop it first (or give this one its own PROTON_LUMO_DATA)"
  }
}

const Owner = Schema.Struct({ pid: Schema.Number, command: Schema.String, host: Schema.String, since: Schema.String })
const decodeOwner = Schema.decodeUnknownOption(Schema.fromJsonString(Owner))

const describeOwner = (path: string): string => {
  const text = existsSync(path) ? readFileSync(path, "utf8") : ""
  return Option.match(decodeOwner(text), {
    onNone: () => "a process that has not said who it is",
    onSome: (owner) => `pid ${owner.pid} on ${owner.host}, "${owner.command}" since ${owner.since}`
  })
}

export class DataLock extends Context.Service<DataLock, { readonly dataDir: string }>()("proton-lumo-ai/DataLock") {
  /** Takes the lock of `dataDir` for `command` (shown to whoever is refused), until the layer is released. */
  static readonly layer = (dataDir: string, command: string): Layer.Layer<DataLock, DataFolderBusy | StateError> =>
    Layer.effect(
      DataLock,
      Effect.acquireRelease(
        Effect.suspend((): Effect.Effect<BetterSqlite3.Database, DataFolderBusy | StateError> => {
          const path = join(dataDir, "protonlumo.lock")
          const ownerPath = `${path}.owner`
          const failed = (error: unknown) => new StateError({ path, reason: openFailure(dataDir, error) })
          let db: BetterSqlite3.Database
          try {
            makePrivateFolder(dataDir)
            db = new BetterSqlite3(path, { timeout: 0 })
            chmodSync(path, 0o600)
            db.pragma("locking_mode = EXCLUSIVE")
          } catch (error) {
            return Effect.fail(failed(error))
          }
          try {
            // In EXCLUSIVE locking mode the lock this write takes is kept until the connection closes.
            db.exec("BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS held (at TEXT); COMMIT")
          } catch {
            db.close()
            return Effect.fail(new DataFolderBusy({ dataDir, owner: describeOwner(ownerPath) }))
          }
          const owner = { pid: process.pid, command, host: hostname(), since: new Date().toISOString() }
          try {
            writeFileSync(ownerPath, JSON.stringify(owner), { mode: 0o600 })
          } catch (error) {
            db.close()
            return Effect.fail(failed(error))
          }
          return Effect.succeed(db)
        }),
        (db) => Effect.sync(() => db.close())
      ).pipe(Effect.as({ dataDir }))
    )
}
