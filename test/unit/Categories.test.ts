import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result } from "effect"
import { loadCategories } from "../../src/services/Categories.ts"
import { captureLogs, captureWarnings } from "../support/logs.ts"

const load = (dir: string) => loadCategories(dir).pipe(Effect.result, Effect.provide(NodeServices.layer))

const dirWith = (content: string) => {
  const dir = mkdtempSync(join(tmpdir(), "categories-"))
  writeFileSync(join(dir, "categories.json"), content)
  return dir
}

const valid = {
  name: "BANQUE",
  folder: "Folders/Banque",
  keywords: ["virement"],
  confidence_threshold: 0.8,
  priority: 3,
  description: "Bank"
}

const errorOf = (dir: string) =>
  Effect.map(load(dir), (result) => (Result.isFailure(result) ? result.failure.message : "loaded"))

describe("categories.json", () => {
  it.effect("the shipped file has the original's eight categories", () =>
    Effect.gen(function*() {
      const result = yield* load("config")
      assert.isTrue(Result.isSuccess(result))
      if (Result.isSuccess(result)) {
        assert.deepStrictEqual(
          result.success.all.map((category) => category.id).sort(),
          ["BANQUE", "NEWSLETTER", "PRO", "SOCIAL", "SPAM", "URGENT", "VENTE", "VOYAGES"]
        )
        const bank = result.success.find("BANQUE")
        assert.deepStrictEqual(Option.map(bank, (c) => [c.folder, c.threshold, c.priority]), Option.some([
          "Folders/Administratif/Banque",
          0.8,
          3
        ]))
      }
    }))

  it.effect("finds a category by exact id, or by a unique case-insensitive id; never an unknown one", () =>
    Effect.gen(function*() {
      const result = yield* load(dirWith(JSON.stringify({ BANQUE: valid })))
      if (Result.isFailure(result)) return assert.fail(result.failure.message)
      assert.isTrue(Option.isSome(result.success.find("banque")))
      assert.isTrue(Option.isNone(result.success.find("SPAM")))
    }))

  it.effect("a category whose folder the server marks \\Junk is a spam one whatever its name, said once; named Spam it is one anyway", () => {
    const logs = captureLogs(["Info"])
    return Effect.gen(function*() {
      const junk = "Courrier indésirable"
      const result = yield* load(dirWith(JSON.stringify({ BANQUE: valid, SPAM: { ...valid, folder: junk }, JUNK: { ...valid, folder: "Junk" } })))
      if (Result.isFailure(result)) return assert.fail(result.failure.message)
      const categories = result.success
      const spam = (id: string) => Option.getOrThrow(categories.find(id)).spam
      assert.deepStrictEqual([spam("BANQUE"), spam("SPAM"), spam("JUNK")], [false, false, true])
      const listed = [{ path: "INBOX", specialUse: undefined }, { path: junk, specialUse: "\\Junk" }]
      yield* categories.noteServerFolders(listed)
      yield* categories.noteServerFolders(listed)
      assert.deepStrictEqual([spam("BANQUE"), spam("SPAM"), spam("JUNK")], [false, true, true])
      assert.deepStrictEqual(categories.all.map((category) => category.spam), [false, true, true])
      assert.deepStrictEqual(logs.lines.filter((line) => line.includes("junk folder")).length, 1)
      // The server's junk folder elsewhere now: this one is a folder like any other again.
      yield* categories.noteServerFolders([{ path: "Bulk", specialUse: "\\Junk" }])
      assert.isFalse(spam("SPAM"))
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("a category whose folder is missing where the server makes none (Bridge: outside Folders/ and Labels/) is unreachable until the folder is made", () =>
    Effect.gen(function*() {
      const result = yield* load(dirWith(JSON.stringify({ BANQUE: { ...valid, folder: "Banque" }, PRO: { ...valid, folder: "Folders/Pro" } })))
      if (Result.isFailure(result)) return assert.fail(result.failure.message)
      const categories = result.success
      const unreachable = () => categories.all.map((category) => category.unreachable === true)
      const bridge = ["INBOX", "Folders", "Labels"].map((path) => ({ path, specialUse: undefined }))
      // Folders/Pro can be made when a message goes there; Banque cannot.
      yield* categories.noteServerFolders(bridge)
      assert.deepStrictEqual(unreachable(), [true, false])
      assert.isTrue(Option.getOrThrow(categories.find("BANQUE")).unreachable)
      yield* categories.noteServerFolders([...bridge, { path: "Banque", specialUse: undefined }])
      assert.deepStrictEqual(unreachable(), [false, false])
      // A server that makes folders anywhere: nothing is unreachable; and the categories are what they were.
      const key = categories.key
      yield* categories.noteServerFolders([{ path: "INBOX", specialUse: undefined }])
      assert.deepStrictEqual(unreachable(), [false, false])
      yield* categories.noteServerFolders(bridge)
      assert.strictEqual(categories.key, key)
    }))

  it.effect("an invalid field is named with its path", () =>
    Effect.gen(function*() {
      const high = yield* errorOf(dirWith(JSON.stringify({ BANQUE: { ...valid, confidence_threshold: 1.5 } })))
      assert.include(high, `["BANQUE"]["confidence_threshold"]`)
      const missing = yield* errorOf(dirWith(JSON.stringify({ PRO: { ...valid, folder: undefined } })))
      assert.include(missing, `["PRO"]["folder"]`)
      const keywords = yield* errorOf(dirWith(JSON.stringify({ PRO: { ...valid, keywords: "urgent" } })))
      assert.include(keywords, `["PRO"]["keywords"]`)
    }))

  it.effect("a folder name with a line break, and an empty, NONE or control-character id are refused, each named", () =>
    Effect.gen(function*() {
      const broken = yield* errorOf(dirWith(JSON.stringify({ PRO: { ...valid, folder: "Folders/New\nCat" } })))
      assert.include(broken, "holds a control character")
      assert.include(broken, `["PRO"]["folder"]`)
      for (const id of ["", "  ", "NONE", "none", "PRO\u001b[2J"]) {
        const refused = yield* errorOf(dirWith(JSON.stringify({ [id]: valid })))
        assert.notStrictEqual(refused, "loaded", id)
      }
      assert.include(yield* errorOf(dirWith(JSON.stringify({ None: valid }))), "what the LLM answers when no category fits")
    }))

  it.effect("an unknown key (a typo) is named in a warning, escaped, and the rest loads; the shipped file has none", () =>
    Effect.gen(function*() {
      const warnings = captureWarnings()
      const result = yield* load(dirWith(JSON.stringify({ BANQUE: { ...valid, confidence_treshold: 0.5, "\u001b[2Jx": 1 } }))).pipe(
        Effect.provide(warnings.layer)
      )
      assert.isTrue(Result.isSuccess(result))
      assert.strictEqual(warnings.lines.length, 1)
      assert.include(warnings.lines[0], `category BANQUE: unknown keys "confidence_treshold", "\\x1b[2Jx" ignored`)
      const shipped = captureWarnings()
      yield* load("config").pipe(Effect.provide(shipped.layer))
      assert.deepStrictEqual(shipped.lines, [])
    }))

  it.effect("a typo that leaves a required key missing is named in the error beside the missing key", () =>
    Effect.gen(function*() {
      const { confidence_threshold: _, ...misspelt } = { ...valid, confidence_treshold: 0.8 }
      const message = yield* errorOf(dirWith(JSON.stringify({ BANQUE: misspelt })))
      assert.include(message, `["BANQUE"]["confidence_threshold"]`)
      assert.include(message, `category BANQUE: unknown key "confidence_treshold" ignored`)
    }))

  it.effect("INBOX, All Mail and Scheduled are refused as targets", () =>
    Effect.gen(function*() {
      for (const folder of ["INBOX", "All Mail", "Scheduled"]) {
        const message = yield* errorOf(dirWith(JSON.stringify({ X: { ...valid, folder } })))
        assert.include(message, "cannot be a target folder")
      }
    }))

  it.effect("a folder with an empty, \".\" or \"..\" level is refused when the file is read (a reload too), the category named", () =>
    Effect.gen(function*() {
      for (const [folder, problem] of [["Folders/../News", `"." or ".." level`], ["Folders//News", "empty level"], ["Folders/News/", "empty level"]]) {
        const message = yield* errorOf(dirWith(JSON.stringify({ NEWS: { ...valid, folder } })))
        assert.include(message, problem ?? "")
        assert.include(message, `["NEWS"]["folder"]`)
      }
      assert.strictEqual(yield* errorOf(dirWith(JSON.stringify({ NEWS: { ...valid, folder: "Folders/News..." } }))), "loaded")
    }))

  it.effect("broken JSON, an empty file and a missing file are clear errors", () =>
    Effect.gen(function*() {
      assert.include(yield* errorOf(dirWith("{ not json")), "not valid JSON")
      assert.include(yield* errorOf(dirWith("{}")), "defines no category")
      assert.include(yield* errorOf(mkdtempSync(join(tmpdir(), "empty-"))), "not found (set PROTON_LUMO_CONFIG")
    }))
})
