/**
 * The user's categories, loaded once from `categories.json` and validated with Schema.
 */
import { createHash } from "node:crypto"
import { Context, Effect, FileSystem, Layer, Option, Path, Schema } from "effect"
import {
  type CategoriesFile,
  CategoriesFile as CategoriesFileSchema,
  type Category,
  categoryLookup,
  CategorySpec,
  fromFile
} from "../domain/Category.ts"
import { CategoriesError } from "../domain/Errors.ts"
import { refusedLevel } from "../domain/Folders.ts"
import { escapeControls } from "../domain/Terminal.ts"

export interface CategoriesApi {
  /** As categories.json has them, each marked `spam` as the server's folders last said (noteServerFolders). */
  readonly all: ReadonlyArray<Category>
  /** The category a classifier named: exact key first, then a unique case-insensitive match; else None. */
  readonly find: (id: string) => Option.Option<Category>
  /**
   * What these categories are, as a short hash of all of them: mail left in place under other
   * categories (before categories.json was edited) is looked at again (SortState.handled).
   */
  readonly key: string
  /**
   * The server's folders as listed: a category whose folder the server marks `\Junk` is a spam
   * one from now on, whatever its name ("Courrier indésirable", "Bulk Mail"), and the log says so
   * once; one whose folder is missing where the server creates none is unreachable (`Category`).
   */
  readonly noteServerFolders: (folders: ReadonlyArray<ServerFolder>) => Effect.Effect<void>
}

/** A folder as the server lists it (Mailbox's FolderInfo): its name and RFC 6154 attribute. */
export interface ServerFolder {
  readonly path: string
  readonly specialUse: string | undefined
}

/** The categories service over these categories (as categories.json gives them). */
export const makeCategories = (configured: ReadonlyArray<Category>): CategoriesApi => {
  let current = configured
  let lookup = categoryLookup(current)
  // By id: the order of the keys in the file changes nothing.
  const described = configured.map((c) => [c.id, c.folder, c.keywords, c.threshold, c.priority, c.description])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
  return {
    get all() {
      return current
    },
    find: (id) => Option.fromUndefinedOr(lookup(id)),
    key: createHash("sha256").update(JSON.stringify(described)).digest("hex").slice(0, 16),
    noteServerFolders: Effect.fn("Categories.noteServerFolders")(function*(folders: ReadonlyArray<ServerFolder>) {
      const junk = new Set(folders.filter((folder) => folder.specialUse === "\\Junk").map((folder) => folder.path))
      const existing = folders.map((folder) => folder.path)
      const next = configured.map((category): Category => {
        const spam = category.spam || junk.has(category.folder)
        return refusedLevel(category.folder, existing) === undefined ? { ...category, spam } : { ...category, spam, unreachable: true }
      })
      const newly = next.filter((category, index) => category.spam && current[index]?.spam !== true)
      current = next
      lookup = categoryLookup(current)
      for (const category of newly) {
        yield* Effect.logInfo(
          `category ${escapeControls(category.id)}: "${escapeControls(category.folder)}" is the server's junk folder (\\Junk), ` +
            "so it is guarded as a folder named Spam would be (a good message lost there is the costliest mistake)"
        )
      }
    })
  }
}

const decode = (path: string, text: string): Effect.Effect<ReadonlyArray<Category>, CategoriesError> =>
  Effect.gen(function*() {
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) => new CategoriesError({ path, reason: `not valid JSON (${String(error)})` })
    })
    const unknown = unknownKeys(json)
    const file = yield* Schema.decodeUnknownEffect(CategoriesFileSchema)(json).pipe(
      // A misspelt key is often why a key is missing: both are said.
      Effect.mapError((error) =>
        new CategoriesError({ path, reason: [error.message.replace(/\n\s*/g, " "), ...unknown].join("; ") })
      )
    )
    const categories = fromFile(file)
    if (categories.length === 0) {
      return yield* new CategoriesError({ path, reason: "defines no category" })
    }
    yield* Effect.forEach(unknown, (warning) => Effect.logWarning(`${path}: ${warning}`), { discard: true })
    return categories
  })

/** The keys of a category spec; any other is ignored, and named (`confidence_treshold` is a typo the user wants to hear of). */
const specKeys: ReadonlySet<string> = new Set(Object.keys(CategorySpec.fields))

/** For each category with keys the format does not have, which ones (escaped: the file may be anyone's). */
const unknownKeys = (json: unknown): ReadonlyArray<string> =>
  typeof json !== "object" || json === null ? [] : Object.entries(json).flatMap(([id, spec]) => {
    const extra = typeof spec === "object" && spec !== null ? Object.keys(spec).filter((key) => !specKeys.has(key)) : []
    return extra.length === 0
      ? []
      : [`category ${escapeControls(id)}: unknown ${extra.length === 1 ? "key" : "keys"} ${extra.map((key) => `"${escapeControls(key)}"`).join(", ")} ignored (known: ${[...specKeys].join(", ")})`]
  })

/** Reads and validates `<configDir>/categories.json`. */
export const loadCategories = (
  configDir: string
): Effect.Effect<CategoriesApi, CategoriesError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = (yield* Path.Path).join(configDir, "categories.json")
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) =>
        new CategoriesError({
          path,
          reason: error.reason._tag === "NotFound"
            ? "not found (set PROTON_LUMO_CONFIG to the folder that holds categories.json)"
            : error.message
        })
      )
    )
    return makeCategories(yield* decode(path, text))
  })

export class Categories extends Context.Service<Categories, CategoriesApi>()("proton-lumo-ai/Categories") {
  /** Categories given in the seed's format, already in memory (tests, embedding apps). */
  static readonly layerFrom = (file: CategoriesFile): Layer.Layer<Categories> =>
    Layer.succeed(Categories, makeCategories(fromFile(file)))

  /** Categories from `<configDir>/categories.json`. */
  static readonly layerFile = (
    configDir: string
  ): Layer.Layer<Categories, CategoriesError, FileSystem.FileSystem | Path.Path> =>
    Layer.effect(Categories, loadCategories(configDir))
}
