/**
 * LLM verdicts remembered by message, so a restart (or a real run after a dry run) never pays
 * twice for the same email. Keys are SHA-256 hashes of the Message-ID (or, without one, of the
 * sender, subject and body) together with the model and the categories: changing either asks
 * again. The file holds hashes and verdicts only: no address, subject or text.
 *
 * The file layer appends one JSON line per verdict to `classifications.jsonl` (mode 0600), so
 * each batch costs one small write; a line torn by a crash is skipped on load, and the file is
 * rewritten without stale lines when it has grown to twice the entries it holds.
 */
import { createHash } from "node:crypto"
import { Context, Effect, FileSystem, Layer, Option, Path, Schema } from "effect"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"

export interface ClassificationCacheApi {
  readonly get: (key: string) => Effect.Effect<Option.Option<Verdict>>
  readonly put: (entries: ReadonlyArray<readonly [string, Verdict]>) => Effect.Effect<void>
}

/** Most verdicts kept; the oldest go first. */
export const MAX_CACHED = 50_000

/** The key of an email's verdict under one model and one set of categories (`context`). */
export const cacheKey = (email: ParsedEmail, context: string): string => {
  const identity = email.messageId !== undefined && email.messageId !== ""
    ? `id:${email.messageId}`
    : `content:${email.from}\u0000${email.subject}\u0000${email.body.slice(0, 1000)}`
  return createHash("sha256").update(`${context}\u0000${identity}`).digest("hex")
}

const Line = Schema.Struct({
  k: Schema.String,
  /** Category id, or null for "no category fits". */
  c: Schema.NullOr(Schema.String),
  p: Schema.Number,
  m: Schema.String
})
type Line = typeof Line.Type

const decodeLine = Schema.decodeUnknownOption(Schema.fromJsonString(Line))

const toLine = (key: string, verdict: Verdict): Line =>
  verdict._tag === "Matched"
    ? { k: key, c: verdict.categoryId, p: verdict.confidence, m: verdict.classifier }
    : { k: key, c: null, p: 0, m: verdict.classifier }

const fromLine = (line: Line): Verdict =>
  line.c === null
    ? { _tag: "NoMatch", reason: "no category fits (remembered)", classifier: line.m }
    : { _tag: "Matched", categoryId: line.c, confidence: line.p, reason: "remembered", classifier: line.m }

/** Insertion-ordered map capped at MAX_CACHED: re-putting a key moves it to the end. */
const remember = (entries: Map<string, Line>, line: Line) => {
  entries.delete(line.k)
  entries.set(line.k, line)
  if (entries.size > MAX_CACHED) {
    const oldest = entries.keys().next()
    if (oldest.done !== true) entries.delete(oldest.value)
  }
}

const make = (entries: Map<string, Line>, persist: (lines: ReadonlyArray<Line>) => Effect.Effect<void>) =>
  ClassificationCache.of({
    get: (key) => Effect.sync(() => Option.map(Option.fromUndefinedOr(entries.get(key)), fromLine)),
    put: (pairs) =>
      Effect.suspend(() => {
        const lines = pairs.map(([key, verdict]) => toLine(key, verdict))
        for (const line of lines) remember(entries, line)
        return persist(lines)
      })
  })

export class ClassificationCache extends Context.Service<ClassificationCache, ClassificationCacheApi>()(
  "proton-lumo-ai/ClassificationCache"
) {
  static readonly layerMemory: Layer.Layer<ClassificationCache> = Layer.sync(ClassificationCache, () =>
    make(new Map(), () => Effect.void))

  static readonly layerFile = (
    dataDir: string
  ): Layer.Layer<ClassificationCache, never, FileSystem.FileSystem | Path.Path> =>
    Layer.effect(
      ClassificationCache,
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = (yield* Path.Path).join(dataDir, "classifications.jsonl")
        const entries = new Map<string, Line>()
        let linesOnDisk = 0
        const text = yield* fs.readFileString(path).pipe(
          Effect.catch((error) =>
            error.reason._tag === "NotFound"
              ? Effect.succeed("")
              : Effect.as(Effect.logWarning(`cannot read ${path} (${error.message}); starting with an empty cache`), "")
          )
        )
        for (const row of text.split("\n")) {
          const line = decodeLine(row)
          if (Option.isSome(line)) {
            remember(entries, line.value)
            linesOnDisk += 1
          }
        }

        const write = (content: string, flag: "a" | "w", target: string) =>
          Effect.scoped(Effect.gen(function*() {
            const file = yield* fs.open(target, { flag, mode: 0o600 })
            yield* file.writeAll(new TextEncoder().encode(content))
            yield* file.sync
          }))

        const compact = Effect.gen(function*() {
          const temporary = `${path}.${process.pid}.tmp`
          yield* write([...entries.values()].map((line) => `${JSON.stringify(line)}\n`).join(""), "w", temporary)
          yield* fs.rename(temporary, path)
          linesOnDisk = entries.size
        })

        const persist = (lines: ReadonlyArray<Line>) =>
          Effect.gen(function*() {
            yield* fs.makeDirectory(dataDir, { recursive: true, mode: 0o700 })
            yield* write(lines.map((line) => `${JSON.stringify(line)}\n`).join(""), "a", path)
            linesOnDisk += lines.length
            if (linesOnDisk > 2 * Math.max(entries.size, 1000)) yield* compact
          }).pipe(
            // Losing the cache only costs money, never mail: say so and go on.
            Effect.catch((error) => Effect.logWarning(`cannot write ${path}: ${error.message}`))
          )

        return make(entries, persist)
      })
    )
}
