/**
 * The demo: the real pipeline sorting the bundled sample mailbox (`samples/mailbox/*.eml`),
 * held in memory, with the keyword classifier. No server, no network, no credentials.
 */
import { Console, Effect, FileSystem, Layer, Path } from "effect"
import { sorterLayer } from "./layers.ts"
import { sortMailbox } from "./pipeline/sortMailbox.ts"
import { Categories, loadCategories } from "./services/Categories.ts"
import { Database } from "./services/Database.ts"
import { MemoryMailbox } from "./services/MemoryMailbox.ts"
import type { SortSettings } from "./services/Settings.ts"

/** Appends every `.eml` file of `dir` to INBOX, unread, in file-name order. */
export const seedMailbox = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const mailbox = yield* MemoryMailbox
    const files = (yield* fs.readDirectory(dir)).filter((file) => file.endsWith(".eml")).sort()
    for (const file of files) yield* mailbox.append("INBOX", yield* fs.readFile(path.join(dir, file)))
    return files.length
  })

/** Where each message ended up, as `folder: count` lines. */
const folderSummary = Effect.gen(function*() {
  const mailbox = yield* MemoryMailbox
  const lines: Array<string> = []
  for (const folder of yield* mailbox.folders) {
    const count = (yield* mailbox.messages(folder)).length
    if (count > 0) lines.push(`   ${folder.padEnd(32)} ${count}`)
  }
  return lines.join("\n")
})

/** Sorts the sample mailbox found under `root` (the package folder) with these settings. */
export const runDemo = (root: string, settings: SortSettings) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const categories = yield* loadCategories(path.join(root, "config"))
    const layer = sorterLayer({
      settings: { ...settings, folders: ["INBOX"] },
      categories: Layer.succeed(Categories, categories),
      mailbox: MemoryMailbox.layer({ readOnly: settings.dryRun }),
      database: Database.layerMemory
    })

    yield* Effect.gen(function*() {
      const seeded = yield* seedMailbox(path.join(root, "samples", "mailbox"))
      yield* Console.log(
        `Demo: sorting ${seeded} sample emails from samples/mailbox (in memory, keyword classifier, ` +
          `${settings.workers} workers, batches of ${settings.batchSize}${settings.dryRun ? ", dry run" : ""})\n`
      )
      yield* sortMailbox()
      yield* Console.log(`\nWhere the mail is now:\n${yield* folderSummary}`)
    }).pipe(Effect.provide(layer))
  })
