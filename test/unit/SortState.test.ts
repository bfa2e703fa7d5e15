import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SortState } from "../../src/services/SortState.ts"

const inbox = { path: "INBOX", uidValidity: 42n }

const withState = (dataDir: string) => Effect.provide(SortState.layerFile(dataDir).pipe(Layer.provide(NodeServices.layer)))

describe("state file", () => {
  it.effect("persists handled UIDs per folder and UIDVALIDITY, in a 0600 file holding only UIDs", () =>
    Effect.gen(function*() {
      const dataDir = join(mkdtempSync(join(tmpdir(), "state-")), "nested", "data")
      yield* SortState.use((state) => state.save(inbox, new Set([1, 2, 3, 7]))).pipe(withState(dataDir))
      const file = join(dataDir, "state.json")
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
      assert.deepStrictEqual(JSON.parse(readFileSync(file, "utf8")), {
        version: 1,
        folders: { INBOX: { uidValidity: "42", handled: "1:3,7" } }
      })
      const reloaded = yield* SortState.use((state) => state.handled(inbox)).pipe(withState(dataDir))
      assert.deepStrictEqual([...reloaded].sort((a, b) => a - b), [1, 2, 3, 7])
      assert.deepStrictEqual(readdirSync(dataDir), ["state.json"])
    }))

  it.effect("a folder whose UIDVALIDITY changed has no handled UIDs", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "state-"))
      yield* SortState.use((state) => state.save(inbox, new Set([5]))).pipe(withState(dataDir))
      const handled = yield* SortState.use((state) => state.handled({ path: "INBOX", uidValidity: 43n })).pipe(withState(dataDir))
      assert.strictEqual(handled.size, 0)
    }))

  it.effect("a damaged state file is moved aside and the sorter starts afresh", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "state-"))
      writeFileSync(join(dataDir, "state.json"), "{ truncated")
      const handled = yield* SortState.use((state) => state.handled(inbox)).pipe(withState(dataDir))
      assert.strictEqual(handled.size, 0)
      assert.isTrue(readdirSync(dataDir).some((name) => name.startsWith("state.json.damaged-")))
    }))
})
