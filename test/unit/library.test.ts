/** The README's "Use it from your own Effect program" example, through the package's entry point. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, References } from "effect"
import {
  Categories,
  Classifier,
  Database,
  Journal,
  MemoryMailbox,
  MessageParser,
  Settings,
  SortState,
  sortMailbox
} from "../../src/index.ts"

const myCategories = {
  WORK: {
    name: "Work",
    folder: "Folders/Work",
    keywords: ["meeting", "agenda"],
    confidence_threshold: 0.7,
    priority: 1,
    description: "Work mail"
  }
}

describe("the package as a library", () => {
  it.effect("composes with the caller's own layers, as the README shows", () => {
    const layer = Layer.mergeAll(
      MemoryMailbox.layer(),
      MessageParser.layer,
      Classifier.layerKeyword,
      SortState.layer,
      Journal.layer
    ).pipe(
      Layer.provideMerge(Layer.succeed(Settings, { ...Settings.defaults, folders: ["INBOX"] })),
      Layer.provideMerge(Categories.layerFrom(myCategories)),
      Layer.provideMerge(Database.layerMemory)
    )
    return Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      yield* mailbox.append("INBOX", "Subject: Team meeting agenda\r\nMessage-ID: <a@x>\r\n\r\nSee you there.\r\n")
      yield* mailbox.append("INBOX", "Subject: Hello\r\nMessage-ID: <b@x>\r\n\r\nHi!\r\n")
      const [report] = (yield* sortMailbox()).folders
      assert.deepStrictEqual([report?.folder, report?.moved, report?.left], ["INBOX", 1, 1])
      assert.strictEqual((yield* mailbox.messages("Folders/Work")).length, 1)
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "Error"))
  })
})
