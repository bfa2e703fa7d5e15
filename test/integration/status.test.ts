/** `status --json` as a user runs it, after a real pass on Dovecot and beside a running service. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { inject } from "vitest"
import { fileStorage } from "../../src/layers.ts"
import { StatusDocument } from "../../src/pipeline/status.ts"
import { Journal } from "../../src/services/Journal.ts"
import { cliEnv, runCli, startCli } from "../support/cli.ts"
import { bankEmail, personalEmail, workEmail } from "../support/emails.ts"
import { appendMessages, freshUser } from "../support/imap.ts"

const bridge = inject("dovecot").bridge

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

/** `status --json`, run as a process, decoded with the document's own schema. */
const status = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const run = yield* runCli(["status", "--json"], env)
    assert.strictEqual(run.code, 0, run.stderr)
    return Schema.decodeUnknownSync(StatusDocument)(JSON.parse(run.stdout))
  })

/** Today's completed moves per category, as the journal has them. */
const journalMovesToday = (dataDir: string) =>
  Effect.gen(function*() {
    const midnight = Date.now() - (Date.now() % 86_400_000)
    const entries = yield* (yield* Journal).list({ since: midnight, states: ["done"] })
    const byCategory: Record<string, number> = {}
    for (const entry of entries.filter((e) => e.action === "move")) byCategory[entry.category] = (byCategory[entry.category] ?? 0) + 1
    return byCategory
  }).pipe(Effect.provide(fileStorage(dataDir)))

describe("status against Dovecot", () => {
  it.live("after --once it reports INBOX's pass and today's moves as the journal has them, and answers beside a service", () =>
    Effect.gen(function*() {
      const user = freshUser()
      const env = cliEnv(bridge, user)
      const sources = [bankEmail(1), workEmail(2), bankEmail(3), personalEmail(4)]
      yield* promise(() => appendMessages(bridge, user, "INBOX", sources.map((source) => ({ source }))))
      const before = Date.now()
      const once = yield* runCli(["--once"], env)
      assert.strictEqual(once.code, 0, once.stderr)

      const first = yield* status(env)
      const [inbox] = first.folders
      assert.deepInclude(inbox, { folder: "INBOX", moved: 3, left: 1, failed: 0, remaining: 0, error: null })
      assert.isAtLeast(Date.parse(inbox?.endedAt ?? ""), before)
      assert.deepStrictEqual(first.movedToday.byCategory, { BANQUE: 2, PRO: 1 })
      assert.deepStrictEqual(first.movedToday.byCategory, yield* journalMovesToday(env.PROTON_LUMO_DATA))
      assert.strictEqual(first.movedToday.total, 3)
      assert.isNull(first.lastError)

      // The service holds the data folder (a second sorter is refused); status still answers.
      const service = startCli([], env)
      yield* promise(() => service.waitFor(/IDLE/))
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: workEmail(5) }]))
      yield* promise(() => service.waitFor(/moved INBOX#5 → Folders\/Travail/))
      const refused = yield* runCli(["--once"], env)
      assert.strictEqual(refused.code, 1, refused.stdout)
      let beside = yield* status(env)
      for (let tries = 0; beside.movedToday.total < 4 && tries < 20; tries++) beside = yield* status(env)
      assert.deepStrictEqual(beside.movedToday.byCategory, { BANQUE: 2, PRO: 2 })
      assert.deepStrictEqual(beside.movedToday.byCategory, yield* journalMovesToday(env.PROTON_LUMO_DATA))
      assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0, service.output())
    }), 90_000)
})
