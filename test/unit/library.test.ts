/** The README's "Use it from your own Effect program" example, through the package's entry point. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, References } from "effect"
import { Categories, Database, MemoryMailbox, Settings, sorterLayer, sortMailbox } from "../../src/index.ts"

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
    const layer = sorterLayer({
      settings: { ...Settings.defaults, folders: ["INBOX"] },
      categories: Categories.layerFrom(myCategories),
      mailbox: MemoryMailbox.layer(),
      database: Database.layerMemory
    })
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
