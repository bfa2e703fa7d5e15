/**
 * What the sorter remembers between passes: per source folder, its UIDVALIDITY and the UIDs it
 * already classified and chose to leave in place (moved mail is gone from the folder and needs
 * no memory). A new UIDVALIDITY forgets the folder's UIDs, so it is rescanned, never trusted.
 *
 * The file layer keeps `state.json` in the data folder, mode 0600, replaced atomically
 * (write a temporary file, fsync, rename): a crash leaves the old or the new state, never half.
 * It holds UIDs only: no secret, no subject, no body.
 */
import { Context, Effect, FileSystem, Layer, Path, Ref, Schema, Semaphore } from "effect"
import type { FolderRef } from "../domain/Email.ts"
import { StateError } from "../domain/Errors.ts"
import { fromSequenceSet, toSequenceSet } from "../domain/UidSet.ts"

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

const decodeState = Schema.decodeUnknownEffect(Schema.fromJsonString(StateFile))

export class SortState extends Context.Service<SortState, SortStateApi>()("proton-lumo-ai/SortState") {
  /** State kept in memory only (demo, tests, dry runs). */
  static readonly layerMemory: Layer.Layer<SortState> = Layer.effect(
    SortState,
    Effect.map(Ref.make(emptyState), (ref) =>
      SortState.of({
        handled: (folder) => Effect.map(Ref.get(ref), (state) => handledIn(state, folder)),
        save: (folder, handled) => Ref.update(ref, (state) => withFolder(state, folder, handled))
      }))
  )

  /** State in `<dataDir>/state.json`. */
  static readonly layerFile = (
    dataDir: string
  ): Layer.Layer<SortState, StateError, FileSystem.FileSystem | Path.Path> =>
    Layer.effect(
      SortState,
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = (yield* Path.Path).join(dataDir, "state.json")
        const fail = (error: { readonly message: string }) => new StateError({ path, reason: error.message })

        const load = Effect.gen(function*() {
          if (!(yield* fs.exists(path))) return emptyState
          const text = yield* fs.readFileString(path)
          return yield* decodeState(text).pipe(
            Effect.catch(() =>
              // A damaged state file only costs a re-classification: keep it aside and start afresh.
              fs.rename(path, `${path}.damaged-${Date.now()}`).pipe(
                Effect.andThen(Effect.logWarning(`${path} was unreadable; moved aside, starting with empty state`)),
                Effect.as(emptyState)
              )
            )
          )
        }).pipe(Effect.mapError(fail))

        const write = (state: StateFile) =>
          Effect.gen(function*() {
            yield* fs.makeDirectory(dataDir, { recursive: true, mode: 0o700 })
            const temporary = `${path}.${process.pid}.tmp`
            yield* Effect.scoped(Effect.gen(function*() {
              const file = yield* fs.open(temporary, { flag: "w", mode: 0o600 })
              yield* file.writeAll(new TextEncoder().encode(JSON.stringify(state)))
              yield* file.sync
            }))
            yield* fs.rename(temporary, path)
          }).pipe(Effect.mapError(fail))

        const ref = yield* Ref.make(yield* load)
        const writing = yield* Semaphore.make(1)

        return SortState.of({
          handled: (folder) => Effect.map(Ref.get(ref), (state) => handledIn(state, folder)),
          save: (folder, handled) =>
            writing.withPermits(1)(
              Effect.flatMap(Ref.updateAndGet(ref, (state) => withFolder(state, folder, handled)), write)
            )
        })
      })
    )
}
