/** Progress on a long pass, as a run without a terminal (a pipe, journald) shows it: log lines. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { cliEnv, runCli } from "../support/cli.ts"
import { bankEmail } from "../support/emails.ts"
import { appendMessages, freshUser } from "../support/imap.ts"

const bridge = inject("dovecot").bridge

const MESSAGES = 2000

/** The rate and the time left are there from the second measure on (a line may come before it). */
const progressLine = /^\S+ INFO {2}INBOX: ([\d,]+) of 2,000 sorted(, [\d.,]+\/s, about \d+ (?:s|min) left)?$/

describe("progress on Dovecot", () => {
  it.live("--once over 2,000 messages, output to a pipe: progress log lines with growing counts, between whole lines", () =>
    Effect.gen(function*() {
      const user = freshUser()
      // Small messages the keywords sort, in one APPEND session.
      const seeds = Array.from({ length: MESSAGES }, (_, n) => ({ source: bankEmail(n) }))
      yield* Effect.promise(() => appendMessages(bridge, user, "INBOX", seeds))
      const run = yield* runCli(
        ["--once"],
        cliEnv(bridge, user, {
          PROTON_LUMO_MAX_EMAILS_PER_FOLDER: String(MESSAGES),
          PROTON_LUMO_LEARN: "false",
          // Often enough to see several lines in a pass of a few seconds.
          PROTON_LUMO_PROGRESS_INTERVAL: "0.1"
        })
      )
      assert.strictEqual(run.code, 0, run.stderr)
      const lines = run.stdout.split("\n")
      const progress = lines.flatMap((line) => {
        const match = progressLine.exec(line)
        return match === null ? [] : [{ count: Number((match[1] ?? "").replaceAll(",", "")), pace: match[2] !== undefined }]
      })
      const counts = progress.map(({ count }) => count)
      assert.isTrue(progress.some(({ pace }) => pace), run.stdout.slice(-2000))
      assert.isAtLeast(counts.length, 2, run.stdout.slice(-2000))
      for (const [i, count] of counts.entries()) {
        assert.isAbove(count, counts[i - 1] ?? 0)
        assert.isAtMost(count, MESSAGES)
      }
      // No bar without a terminal: no carriage return or erase sequence, and progress only in whole lines of its own.
      assert.notInclude(run.stdout, "\r")
      assert.notInclude(run.stdout, "\u001b")
      assert.strictEqual(lines.filter((line) => line.includes("of 2,000 sorted")).length, counts.length)
      assert.strictEqual(lines.filter((line) => / moved INBOX#\d+ → /.test(line)).length, MESSAGES)
    }), 120_000)
})
