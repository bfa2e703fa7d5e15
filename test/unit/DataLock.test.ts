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

  it.effect("missing folders above the data folder are made owner-only; one that cannot be made is an error, not a hang", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "lock-"))
      const dataDir = join(root, "a", "b", "data")
      yield* Effect.scoped(Layer.build(DataLock.layer(dataDir, "--once")))
      assert.strictEqual(statSync(join(root, "a")).mode & 0o777, 0o700)
      assert.strictEqual(statSync(dataDir).mode & 0o777, 0o700)
      // /proc refuses new entries with ENOENT: Node's recursive mkdir spun there for ever.
      const refused = yield* Effect.exit(Effect.scoped(Layer.build(DataLock.layer("/proc/protonlumo/data", "--once"))))
      assert.isTrue(Exit.isFailure(refused))
      assert.include(Exit.isFailure(refused) ? String(refused.cause) : "", "ENOENT")
    }))
})
