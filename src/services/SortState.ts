/**
 * What the sorter remembers between passes: per source folder, its UIDVALIDITY and the UIDs it
 * already classified and chose to leave in place (moved mail is gone from the folder and needs
 * no memory). A new UIDVALIDITY forgets the folder's UIDs, so it is rescanned, never trusted.
 *
 * The file layer keeps `state.json` in the data folder (see JsonFile: 0600, replaced
 * atomically). It holds UIDs only: no secret, no subject, no body.
 */
import { Context, Effect, type FileSystem, Layer, type Path, Ref, Schema } from "effect"
import type { FolderRef } from "../domain/Email.ts"
import type { StateError } from "../domain/Errors.ts"
import { fromSequenceSet, toSequenceSet } from "../domain/UidSet.ts"
import { makeJsonFile } from "./JsonFile.ts"

export interface SortStateApi {
  /** UIDs of the folder already handled; empty when the folder is new or its UIDVALIDITY changed. */
  readonly handled: (folder: FolderRef) => Effect.Effect<ReadonlySet<number>>
  /** Replaces the folder's handled UIDs and makes that durable. */
  readonly save: (folder: FolderRef, handled: ReadonlySet<number>) => Effect.Effect<void, StateError>
}

const StateFile = Schema.Struct({
  version: Schema.Literal(1),
  folders: Schema.Record(
    Schema.String,
    Schema.Struct({ uidValidity: Schema.String, handled: Schema.String })
  )
})
type StateFile = typeof StateFile.Type

const emptyState: StateFile = { version: 1, folders: {} }

const handledIn = (state: StateFile, folder: FolderRef): ReadonlySet<number> => {
  const entry = state.folders[folder.path]
  return entry !== undefined && entry.uidValidity === String(folder.uidValidity)
    ? new Set(fromSequenceSet(entry.handled))
    : new Set()
}

const withFolder = (state: StateFile, folder: FolderRef, handled: ReadonlySet<number>): StateFile => ({
  version: 1,
  folders: {
    ...state.folders,
    [folder.path]: { uidValidity: String(folder.uidValidity), handled: toSequenceSet(handled) }
  }
})

/** The service over a state held in a Ref, handing each new state to `persist`. */
const make = (initial: StateFile, persist: (state: StateFile) => Effect.Effect<void, StateError>) =>
  Effect.map(Ref.make(initial), (ref) =>
    SortState.of({
      handled: (folder) => Effect.map(Ref.get(ref), (state) => handledIn(state, folder)),
      save: (folder, handled) => Effect.flatMap(Ref.updateAndGet(ref, (state) => withFolder(state, folder, handled)), persist)
    }))

export class SortState extends Context.Service<SortState, SortStateApi>()("proton-lumo-ai/SortState") {
  /** State kept in memory only (demo, tests). */
  static readonly layerMemory: Layer.Layer<SortState> = Layer.effect(SortState, make(emptyState, () => Effect.void))

  /** State in `<dataDir>/state.json`. */
  static readonly layerFile = (
    dataDir: string
  ): Layer.Layer<SortState, StateError, FileSystem.FileSystem | Path.Path> =>
    Layer.effect(
      SortState,
      Effect.gen(function*() {
        const file = yield* makeJsonFile(dataDir, "state.json", StateFile, emptyState)
        return yield* make(yield* file.load, file.save)
      })
    )
}
