/**
 * The user's categories, as written in `categories.json` (the original tool's format):
 * `{ NAME: { name, folder, keywords[], confidence_threshold, priority, description } }`.
 */
import { Schema } from "effect"
import { levelProblem } from "./FolderNames.ts"
import { isSpamFolder } from "./Folders.ts"

/** Mailboxes that must never receive sorted mail (Bridge refuses them, or they are not folders). */
const forbiddenTargets = new Set(["inbox", "all mail", "scheduled", "folders", "labels"])

export const isForbiddenTarget = (folder: string): boolean => forbiddenTargets.has(folder.trim().toLowerCase())

// oxlint-disable-next-line no-control-regex -- finding control characters is the point
const controls = /[\u0000-\u001f\u007f-\u009f]/

/** Why `folder` cannot be a category's folder, if it cannot. */
const targetProblem = (folder: string): string | undefined => {
  if (isForbiddenTarget(folder)) {
    return `"${folder}" cannot be a target folder (INBOX, All Mail, Scheduled and the Folders/Labels parents are off limits)`
  }
  if (controls.test(folder)) return `${JSON.stringify(folder)} holds a control character (a line break?): no server takes that as a folder name`
  const problem = levelProblem(folder)
  return problem === undefined ? undefined : `"${folder}": ${problem}`
}

const TargetFolder = Schema.NonEmptyString.check(Schema.makeFilter(targetProblem))

/** What the LLM answers when no category fits: no category can be called this. */
export const NO_CATEGORY = "NONE"

/** Why `id` (a key of the file) cannot be a category's id, if it cannot: classifiers answer with it, logs and metrics show it. */
const idProblem = (id: string): string | undefined =>
  id.trim() === ""
    ? "a category needs a name as its key (found an empty one)"
    : controls.test(id)
    ? `the category ${JSON.stringify(id)} holds a control character`
    : id.trim().toUpperCase() === NO_CATEGORY
    ? `"${id}" cannot be a category: it is what the LLM answers when no category fits`
    : undefined

export const CategorySpec = Schema.Struct({
  name: Schema.NonEmptyString,
  folder: TargetFolder,
  keywords: Schema.Array(Schema.String),
  confidence_threshold: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  priority: Schema.Int,
  description: Schema.String
})
export type CategorySpec = typeof CategorySpec.Type

// The ids are checked on the whole record: a key schema's check would skip a bad key silently.
export const CategoriesFile = Schema.Record(Schema.String, CategorySpec).check(
  Schema.makeFilter((file: { readonly [id: string]: CategorySpec }) =>
    Object.keys(file).map(idProblem).find((problem) => problem !== undefined)
  )
)
export type CategoriesFile = typeof CategoriesFile.Type

/** A confidence beside a threshold, rounded down: 0.646 is not the 0.65 a threshold of 0.65 asks for. */
export const confidenceText = (confidence: number): string => (Math.floor(confidence * 100) / 100).toFixed(2)

/** A category as the pipeline uses it: `id` is the key in `categories.json` (what classifiers answer with). */
export interface Category {
  readonly id: string
  readonly name: string
  readonly folder: string
  readonly keywords: ReadonlyArray<string>
  readonly threshold: number
  readonly priority: number
  readonly description: string
  /**
   * Its folder holds spam or junk mail, where a good message lost is the costliest mistake: by
   * its name (isSpamFolder), or as the server marks it (Categories.noteServerFolders).
   */
  readonly spam: boolean
  /**
   * Its folder is missing where the server creates none (Bridge: only under Folders/ and Labels/),
   * as the server's folders last said (Categories.noteServerFolders): no mail can be moved there.
   */
  readonly unreachable?: true
}

export const fromFile = (file: CategoriesFile): ReadonlyArray<Category> =>
  Object.entries(file).map(([id, spec]) => ({
    id,
    name: spec.name,
    folder: spec.folder,
    keywords: spec.keywords,
    threshold: spec.confidence_threshold,
    priority: spec.priority,
    description: spec.description,
    spam: isSpamFolder(spec.folder)
  }))

/**
 * Finds a category by id: exactly, or else ignoring case and surrounding spaces (a model may answer
 * "bank" for BANK).
 */
export const categoryLookup = (categories: ReadonlyArray<Category>) => {
  const byId = new Map(categories.map((category) => [category.id, category]))
  const byUpperId = new Map<string, Category | undefined>()
  for (const category of categories) {
    const key = category.id.toUpperCase()
    // Two ids differing only in case make the loose match ambiguous: then only exact ids match.
    byUpperId.set(key, byUpperId.has(key) ? undefined : category)
  }
  return (id: string): Category | undefined => byId.get(id) ?? byUpperId.get(id.trim().toUpperCase())
}

/**
 * The learned model's label for mail in `folder`: the id of the first category naming it (two
 * categories may share a folder; its mail can only teach one of them).
 */
export const labelOfFolder = (categories: ReadonlyArray<Category>, folder: string): string | undefined =>
  categories.find((category) => category.folder === folder)?.id

/** Where each category's examples are: its folder (when it exists), by the folder's label. */
export const categoryFolders = (
  categories: ReadonlyArray<Category>,
  existing: ReadonlySet<string>
): ReadonlyMap<string, string> =>
  new Map(
    [...new Set(categories.map((category) => category.folder))]
      .filter((folder) => existing.has(folder))
      .flatMap((folder) => {
        const label = labelOfFolder(categories, folder)
        return label === undefined ? [] : [[folder, label] as const]
      })
  )
