/** `node src/main.ts` against a real IMAP server, as a user runs it. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { cliEnv, runCli, startCli } from "../support/cli.ts"
import { bankEmail, personalEmail, workEmail } from "../support/emails.ts"
import { appendMessages, folderState, freshUser } from "../support/imap.ts"

const bridge = inject("dovecot").bridge

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

describe("the CLI against Dovecot", () => {
  it.live("--once sorts the mailbox over STARTTLS with the pinned certificate, then prints the metrics", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }, { source: personalEmail(2) }]))
      const run = yield* runCli(["--once"], cliEnv(bridge, user))
      assert.strictEqual(run.code, 0, run.stderr)
      assert.match(run.stdout, /moved INBOX#1 → Folders\/Administratif\/Banque {2}BANQUE/)
      assert.match(run.stdout, /left INBOX#2 in place: keyword: no keyword matched/)
      assert.include(run.stdout, "📊 Performance Metrics: INBOX")
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Folders/Administratif/Banque"))).length, 1)
    }))

  it.live("PROTON_LUMO_LOG_FORMAT=json: every line --once prints is a JSON object; moves carry folder, uid and category", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() =>
        appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }, { source: workEmail(2) }, { source: personalEmail(3) }])
      )
      const run = yield* runCli(["--once"], cliEnv(bridge, user, { PROTON_LUMO_LOG_FORMAT: "json" }))
      assert.strictEqual(run.code, 0, run.stderr)
      const entries = (run.stdout + run.stderr).split("\n").filter((line) => line !== "").map((line) => {
        const entry: unknown = JSON.parse(line)
        assert.isTrue(typeof entry === "object" && entry !== null, line)
        return Object.fromEntries(Object.entries(entry ?? {}))
      })
      for (const entry of entries) {
        assert.match(String(entry["time"]), /^\d{4}-\d\d-\d\dT[\d:.]+Z$/)
        assert.include(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"], entry["level"])
        assert.isString(entry["message"])
      }
      const about = (uid: number) => entries.find((entry) => entry["uid"] === uid)
      assert.deepInclude(about(1), { folder: "INBOX", uid: 1, category: "BANQUE" })
      assert.match(String(about(1)?.["message"]), /^moved INBOX#1 → Folders\/Administratif\/Banque {2}BANQUE /)
      assert.deepInclude(about(2), { folder: "INBOX", uid: 2, category: "PRO" })
      assert.match(String(about(2)?.["message"]), /^moved INBOX#2 → Folders\/Travail {2}PRO /)
      assert.deepInclude(about(3), { folder: "INBOX", uid: 3 })
      assert.notProperty(about(3), "category")
      assert.match(String(about(3)?.["message"]), /^left INBOX#3 in place: /)
      assert.isTrue(entries.some((entry) => String(entry["message"]).startsWith("📊 Performance Metrics: INBOX\n")))
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Folders/Travail"))).length, 1)
    }))

  it.live("a wrong password is one clear line, exit 1, no stack trace, no password", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["--once"], cliEnv(bridge, freshUser(), { PROTON_PASSWORD: "not-the-password-42" }))
      assert.strictEqual(run.code, 1)
      assert.match(run.stderr, /IMAP login as "t-[0-9a-f]+@example\.com" on 127\.0\.0\.1:\d+ was refused/)
      assert.include(run.stderr, "Check PROTON_USERNAME and PROTON_PASSWORD")
      assert.notMatch(run.stderr, /^\s+at /m)
      assert.notInclude(run.stdout + run.stderr, "not-the-password-42")
    }))

  it.live("status then says the login was refused, and since when; the password is nowhere", () =>
    Effect.gen(function*() {
      const env = cliEnv(bridge, freshUser(), { PROTON_PASSWORD: "not-the-password-42" })
      assert.strictEqual((yield* runCli(["--once"], env)).code, 1)
      const status = yield* runCli(["status"], env)
      assert.strictEqual(status.code, 0, status.stderr)
      assert.match(status.stdout, /Last error: \S+ INBOX: IMAP login as "t-[0-9a-f]+@example\.com" on 127\.0\.0\.1:\d+ was refused/)
      assert.notInclude(status.stdout, "not-the-password-42")
      // A dry run records nothing.
      const dry = cliEnv(bridge, freshUser(), { PROTON_PASSWORD: "not-the-password-42" })
      assert.strictEqual((yield* runCli(["--once", "--dry-run"], dry)).code, 1)
      assert.notInclude((yield* runCli(["status"], dry)).stdout, "was refused")
    }))

  it.live("an untrusted certificate stops the run and says how to pin it; TLS_VERIFY=false proceeds with a warning", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: workEmail(1) }]))
      const { PROTON_LUMO_IMAP_CA_FILE: _pinned, ...unpinned } = cliEnv(bridge, user)
      const refused = yield* runCli(["--once"], unpinned)
      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, "set PROTON_LUMO_IMAP_CA_FILE")
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "INBOX"))).length, 1)
      const unchecked = yield* runCli(["--once"], { ...unpinned, PROTON_LUMO_IMAP_TLS_VERIFY: "false" })
      assert.strictEqual(unchecked.code, 0, unchecked.stderr)
      assert.include(unchecked.stderr, "PROTON_LUMO_IMAP_TLS_VERIFY=false")
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "Folders/Travail"))).length, 1)
    }))

  it.live("--dry-run moves nothing", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      const run = yield* runCli(["--once", "--dry-run"], cliEnv(bridge, user))
      assert.strictEqual(run.code, 0, run.stderr)
      assert.include(run.stdout, "[dry run] would move INBOX#1 → Folders/Administratif/Banque")
      assert.strictEqual((yield* promise(() => folderState(bridge, user, "INBOX"))).length, 1)
    }))

  it.live("--once over a folder with nothing new says so, rather than its opening line alone", () =>
    Effect.gen(function*() {
      const user = freshUser()
      yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
      const first = yield* runCli(["--once"], cliEnv(bridge, user))
      assert.strictEqual(first.code, 0, first.stderr)
      assert.notInclude(first.stdout, "nothing new to sort")
      const again = yield* runCli(["--once"], cliEnv(bridge, user))
      assert.strictEqual(again.code, 0, again.stderr)
      assert.include(again.stdout, "INFO  INBOX: nothing new to sort")
    }))

  const signals: ReadonlyArray<NodeJS.Signals> = ["SIGTERM", "SIGINT"]
  for (const signal of signals) {
    it.live(`as a service it sorts new mail on the next poll, and ${signal} stops it with exit 0`, () =>
      Effect.gen(function*() {
        const user = freshUser()
        yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: bankEmail(1) }]))
        const service = startCli([], cliEnv(bridge, user, { PROTON_LUMO_POLL_INTERVAL: "1" }))
        yield* promise(() => service.waitFor(/moved INBOX#1 /))
        yield* promise(() => appendMessages(bridge, user, "INBOX", [{ source: workEmail(2) }]))
        yield* promise(() => service.waitFor(/moved INBOX#2 → Folders\/Travail/))
        const started = Date.now()
        const code = yield* promise(() => service.stop(signal))
        assert.strictEqual(code, 0, service.output())
        assert.isBelow(Date.now() - started, 10_000)
        assert.match(service.output(), /INFO {2}stopped \(Ctrl-C or SIGTERM\)\n$/)
        assert.strictEqual((yield* promise(() => folderState(bridge, user, "INBOX"))).length, 0)
      }))
  }
})
