/** One sorter per data folder: the second is refused, naming the first; the lock goes with its holder. */
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { DataLock } from "../../src/services/DataLock.ts"

describe("the data folder lock", () => {
  it.effect("a second holder is refused with who holds it; once released it can be taken again", () =>
    Effect.gen(function*() {
      const dataDir = join(mkdtempSync(join(tmpdir(), "lock-")), "data")
      const second = yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(DataLock.layer(dataDir, "service"))
        return yield* Effect.exit(Effect.scoped(Layer.build(DataLock.layer(dataDir, "--once"))))
      }))
      assert.isTrue(Exit.isFailure(second))
      const message = Exit.isFailure(second) ? String(second.cause) : ""
      assert.include(message, `pid ${process.pid}`)
      assert.include(message, "\"service\"")
      assert.include(message, dataDir)
      // Released with its scope: the next one gets it.
      const third = yield* Effect.exit(Effect.scoped(Layer.build(DataLock.layer(dataDir, "undo"))))
      assert.isTrue(Exit.isSuccess(third))
      assert.strictEqual(statSync(join(dataDir, "protonlumo.lock")).mode & 0o777, 0o600)
    }))
})
