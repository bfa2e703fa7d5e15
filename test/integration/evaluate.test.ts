/** `evaluate` against Dovecot: figures that match a small case worked out by hand, and nothing changed. */
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { cliEnv, runCli } from "../support/cli.ts"
import { appendMessages, freshUser, mailboxState, recordCommands, type SeedMessage, sentCommands } from "../support/imap.ts"

const bridge = inject("dovecot").bridge

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

const BANK = "Folders/Administratif/Banque"
const WORK = "Folders/Travail"
const DAY = 86_400_000
const base = Date.parse("2026-01-05T09:00:00Z")

const kinds = [
  { from: "Ma Banque <alertes@mabanque.example>", subject: "Relevé de compte", words: ["virement", "solde", "carte", "prélèvement"] },
  { from: "Chef <chef@bureau.example>", subject: "Réunion d'équipe", words: ["projet", "planning", "client", "livrable"] },
  { from: "Paul <paul@amis.example>", subject: "Ce week-end", words: ["dîner", "cinéma", "balade", "anniversaire"] }
] as const

/** Message `n` of kind `k`: dated `base + 3n + k` days, so the kinds interleave by date. */
const message = (k: 0 | 1 | 2, n: number): string => {
  const kind = kinds[k]
  return [
    `From: ${kind.from}`,
    "To: Camille <camille@example.org>",
    `Subject: ${kind.subject} ${n}`,
    `Date: ${new Date(base + (3 * n + k) * DAY).toUTCString()}`,
    `Message-ID: <eval-${k}-${n}-${Math.random().toString(36).slice(2)}@example.org>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    `${kind.words.join(" ")} ${kind.words[n % kind.words.length] ?? ""} ${n}`,
    ""
  ].join("\r\n")
}

const PER_KIND = 50
const each = Array.from({ length: PER_KIND }, (_, n) => n)
const monthAgo = new Date(Date.now() - 30 * DAY)

/**
 * 50 messages each in Banque (BANQUE, threshold 0.8), Travail (PRO, 0.7) and read in INBOX for a
 * month (they stay), dated so that, oldest first, the kinds take turns (message n of kind k is
 * the 3n + k-th): one cut through all 150 learns the oldest 105, 35 of each kind (n = 0..34;
 * enough for the model to hold the newest 21 back and calibrate on), and tests the newest 45, 15
 * of each (n = 35..49).
 *
 * The kinds share no sender and no word, so every top guess is right: precision and recall 100%
 * for each, accuracy 45 of 45, no confusion. Calibrated on 21 held-back guesses that were all
 * right, the model's confidence is Platt's smoothed (21 + 1) / (21 + 2) ≈ 0.96, above both
 * thresholds: all 30 filed messages move, coverage 30 / 45 = 66.7%, precision 100%; and as no
 * guess is wrong, the lowest threshold tried (0.5) moves all of each category's mail, but 15 moves
 * without a misfile cannot show a rate under 1% (it could be up to 20.4%). Also in INBOX, never
 * read: one unread message, and one read today (too young to say it stays).
 */
const seed = (user: string) =>
  promise(async () => {
    await appendMessages(bridge, user, BANK, each.map((n) => ({ source: message(0, n) })))
    await appendMessages(bridge, user, WORK, each.map((n) => ({ source: message(1, n) })))
    const inbox: Array<SeedMessage> = [
      ...each.map((n) => ({ source: message(2, n), flags: ["\\Seen"], internalDate: monthAgo })),
      { source: message(2, 100), internalDate: monthAgo },
      { source: message(2, 101), flags: ["\\Seen"] }
    ]
    await appendMessages(bridge, user, "INBOX", inbox)
  })

describe("evaluate against Dovecot", () => {
  it.live("changes nothing on the server and its figures match a hand-computed small case", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* seed(user)
      const before = yield* promise(() => mailboxState(bridge, user))
      yield* promise(() => recordCommands(bridge, user))
      const env = cliEnv(bridge, user)
      const page = join(mkdtempSync(join(tmpdir(), "plai-eval-")), "evaluation.html")
      const run = yield* runCli(["evaluate", "--html", page], env)
      assert.strictEqual(run.code, 0, run.stderr)
      const out = run.stdout

      assert.include(out, "learned from the oldest 70% of your mail by date (105 messages), tested on the newest 30% (45)")
      // No database in the data folder: said, as what the sorter moved would be taken for the user's filing.
      // Log lines go to stderr: stdout is the report alone.
      assert.include(run.stderr, "no database in")
      assert.notMatch(out, / (INFO|WARN) /)
      assert.include(out, "Only the learned model is measured")
      // Dovecot creates Spam (SPAM's folder) for every user: read, empty, so not in the table.
      assert.include(out, `Read: Spam (SPAM) 0, ${BANK} (BANQUE) 50, ${WORK} (PRO) 50, INBOX (stays) 50.`)
      assert.notMatch(out, /^SPAM /m)
      assert.notInclude(out, "Too little mail to calibrate on")
      assert.include(out, "Accuracy with everything moved: 100.0% (45 of 45 top guesses right)")
      assert.include(out, "At your thresholds: 30 of 45 moved (coverage 66.7%), 30 right (precision 100.0%)")
      // With an LLM, what the model is sure stays would be left without asking it: here, the 15 read messages tested.
      assert.include(
        out,
        "With an LLM, left without asking it (PROTON_LUMO_LLM_SKIP_KEPT): 15 of 45, the model being sure they stay; 0 of them filed in a category"
      )
      // Configured to ask the LLM about all of it: not said (the LLM is not called by evaluate).
      const asksAll = yield* runCli(["evaluate"], {
        ...env,
        PROTON_LUMO_LLM_BASE_URL: "http://127.0.0.1:9/v1",
        PROTON_LUMO_LLM_MODEL: "m",
        PROTON_LUMO_LLM_SKIP_KEPT: "false"
      })
      assert.strictEqual(asksAll.code, 0, asksAll.stderr)
      assert.include(asksAll.stdout, "At your thresholds: 30 of 45 moved")
      assert.notInclude(asksAll.stdout, "With an LLM")
      assert.match(
        out,
        /^BANQUE\s+Folders\/Administratif\/Banque\s+15\s+100\.0%\s+100\.0%\s+0\.80\s+15\s+100\.0%\s+100\.0%\s+too few to tell \(15 moves from 0\.500 up; the rate could be up to 20\.4%\)$/m
      )
      assert.match(
        out,
        /^PRO\s+Folders\/Travail\s+15\s+100\.0%\s+100\.0%\s+0\.70\s+15\s+100\.0%\s+100\.0%\s+too few to tell \(15 moves from 0\.500 up; the rate could be up to 20\.4%\)$/m
      )
      assert.match(out, /^\(stays\)\s+\(read mail left in the source folders\)\s+15\s+100\.0%\s+100\.0%$/m)
      assert.include(out, "none: every top guess was right")

      // Byte for byte the same mailbox: every folder, UID and flag (\Seen included); no data folder written.
      assert.deepStrictEqual(yield* promise(() => mailboxState(bridge, user)), before)
      assert.deepStrictEqual(readdirSync(env.PROTON_LUMO_DATA), [])
      // And it never asked for a change: folders EXAMINEd, never SELECTed; no STORE, COPY, MOVE, EXPUNGE, APPEND, CREATE.
      const commands = yield* promise(() => sentCommands(bridge, user))
      assert.isTrue(commands.some((command) => /^EXAMINE /i.test(command)), commands.join("\n"))
      assert.deepStrictEqual(
        commands.filter((command) => /^(UID )?(SELECT|STORE|COPY|MOVE|EXPUNGE|APPEND|CREATE|DELETE|RENAME)\b/i.test(command)),
        []
      )

      const html = readFileSync(page, "utf8")
      assert.include(html, `<svg class="matrix"`)
      assert.include(html, "Confusion matrix")
      assert.include(html, "BANQUE → BANQUE: 15 (100.0% of the row)")
      assert.notMatch(html, /https?:|<script|<link|@import|url\(/i)
      assert.strictEqual(statSync(page).mode & 0o777, 0o600)
      // Written whole beside itself, then renamed: nothing else is left in its folder.
      assert.deepStrictEqual(readdirSync(dirname(page)), ["evaluation.html"])

      // --html -: the page alone, on stdout (no file named "-" anywhere), the log lines on stderr.
      const workDir = mkdtempSync(join(tmpdir(), "plai-eval-cwd-"))
      const config = new URL("../../config", import.meta.url).pathname
      const piped = yield* runCli(["evaluate", "--html", "-"], { ...env, PROTON_LUMO_CONFIG: config }, workDir)
      assert.strictEqual(piped.code, 0, piped.stderr)
      assert.match(piped.stdout, /^<!doctype html>/)
      assert.include(piped.stdout, "BANQUE → BANQUE: 15 (100.0% of the row)")
      // The page alone: no text report, no "Wrote …" after it.
      assert.match(piped.stdout, /^<!doctype html>[^]*<\/html>\n$/)
      assert.strictEqual(piped.stdout.split("<!doctype html>").length, 2)
      assert.notInclude(piped.stdout, "Wrote ")
      assert.include(piped.stderr, "evaluating on")
      assert.deepStrictEqual(readdirSync(workDir).filter((name) => name !== ".env"), [])
    }))

  it.live("--html into a folder that does not exist, or naming a folder: refused before anything is read", () =>
    Effect.gen(function*() {
      const user = freshUser()
      const missing = join(mkdtempSync(join(tmpdir(), "plai-eval-")), "missing", "evaluation.html")
      const run = yield* runCli(["evaluate", "--html", missing], cliEnv(bridge, user))
      assert.strictEqual(run.code, 1, run.stdout)
      assert.include(run.stderr, `--html ${missing}: cannot be written`)
      assert.notInclude(run.stderr, "evaluating on")
      const folder = mkdtempSync(join(tmpdir(), "plai-eval-"))
      const intoFolder = yield* runCli(["evaluate", "--html", folder], cliEnv(bridge, user))
      assert.strictEqual(intoFolder.code, 1, intoFolder.stdout)
      assert.include(intoFolder.stderr, `--html ${folder}: cannot be written (it is a folder: name a file)`)
      assert.notInclude(intoFolder.stderr + intoFolder.stdout, "evaluating on")
    }))

  it.live("with no mail in any category folder: a clear error, exit 1", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", [{ source: message(2, 1), flags: ["\\Seen"], internalDate: monthAgo }])
      )
      const run = yield* runCli(["evaluate"], cliEnv(bridge, user))
      assert.strictEqual(run.code, 1, run.stdout)
      assert.include(run.stderr, "nothing to evaluate: file some mail into your category folders first")
      assert.notMatch(run.stderr, /^\s+at /m)
    }))
})
