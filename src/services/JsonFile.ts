/**
 * A JSON document kept in one file, as the services that persist small state use it (the
 * sort state, the classification cache, the token budget): decoded with Schema, written with
 * mode 0600 through a temporary file, fsync and rename, so a crash leaves the old or the new
 * content and never half of it. A file that does not decode is moved aside, never trusted.
 */
import { Effect, FileSystem, Path, Schema, Semaphore } from "effect"
import { StateError } from "../domain/Errors.ts"

export interface JsonFile<A> {
  readonly path: string
  /** The content, or `empty` when there is no file yet or it was damaged (then moved aside). */
  readonly load: Effect.Effect<A, StateError>
  readonly save: (value: A) => Effect.Effect<void, StateError>
}

export const makeJsonFile = <A>(
  dataDir: string,
  name: string,
  schema: Schema.Codec<A, unknown>,
  empty: A
): Effect.Effect<JsonFile<A>, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = (yield* Path.Path).join(dataDir, name)
    const fail = (error: { readonly message: string }) => new StateError({ path, reason: error.message })
    const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(schema))
    const encode = Schema.encodeEffect(Schema.fromJsonString(schema))
    const writing = yield* Semaphore.make(1)

    const load = Effect.gen(function*() {
      if (!(yield* fs.exists(path))) return empty
      return yield* decode(yield* fs.readFileString(path)).pipe(
        Effect.catch(() =>
          fs.rename(path, `${path}.damaged-${Date.now()}`).pipe(
            Effect.andThen(Effect.logWarning(`${path} was unreadable; moved aside, starting afresh`)),
            Effect.as(empty)
          )
        )
      )
    }).pipe(Effect.mapError(fail))

    const save = (value: A) =>
      writing.withPermits(1)(Effect.gen(function*() {
        const text = yield* encode(value)
        yield* fs.makeDirectory(dataDir, { recursive: true, mode: 0o700 })
        const temporary = `${path}.${process.pid}.tmp`
        yield* Effect.scoped(Effect.gen(function*() {
          const file = yield* fs.open(temporary, { flag: "w", mode: 0o600 })
          yield* file.writeAll(new TextEncoder().encode(text))
          yield* file.sync
        }))
        yield* fs.rename(temporary, path)
      })).pipe(Effect.mapError(fail))

    return { path, load, save }
  })
