/** The command line as a user meets it: a real `node src/main.ts` process. */
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../support/cli.ts"

/** A TCP listener on 127.0.0.1 that only counts who connects to it. */
const countingListener = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ port: number; connections: () => number; close: () => void }>((resolve) => {
      let connections = 0
      const server = createServer((socket) => {
        connections += 1
        socket.destroy()
      })
      server.listen(0, "127.0.0.1", () =>
        resolve({
          port: (server.address() as AddressInfo).port, // node:net boundary: a TCP listener has an AddressInfo
          connections: () => connections,
          close: () => server.close()
        }))
    })
  ),
  (listener) => Effect.sync(listener.close)
)

const variables = [
  "PROTON_BRIDGE_HOST", "PROTON_BRIDGE_PORT", "PROTON_USERNAME", "PROTON_PASSWORD", "PROTON_LUMO_IMAP_TLS",
  "PROTON_LUMO_IMAP_CA_FILE", "PROTON_LUMO_IMAP_TLS_VERIFY", "PROTON_LUMO_FOLDERS", "PROTON_LUMO_CONFIG",
  "PROTON_LUMO_DATA", "PROTON_LUMO_DRY_RUN", "PROTON_LUMO_UNSEEN_ONLY", "PROTON_LUMO_MAX_EMAILS_PER_FOLDER",
  "PROTON_LUMO_POLL_INTERVAL", "PROTON_LUMO_ENABLE_PARALLEL", "PROTON_LUMO_MAX_WORKERS", "PROTON_LUMO_ENABLE_BATCH",
  "PROTON_LUMO_BATCH_SIZE", "PROTON_LUMO_METRICS_ENABLED", "PROTON_LUMO_LOG_LEVEL", "PROTON_LUMO_LLM_BASE_URL",
  "PROTON_LUMO_LLM_MODEL", "PROTON_LUMO_LLM_API_KEY", "PERPLEXITY_API_KEY", "PROTON_LUMO_LLM_TIMEOUT",
  "PROTON_LUMO_LLM_JSON_MODE", "PROTON_LUMO_LLM_MAX_RETRIES", "PROTON_LUMO_LLM_MAX_RPM", "PROTON_LUMO_LLM_SKIP_CONFIDENT",
  "PROTON_LUMO_LLM_COST_PER_1K_TOKENS", "PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET", "PROTON_LUMO_LLM_BODY_CHARS"
]

describe("command line", () => {
  it.live("--help documents the commands, the flags and every setting", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["--help"])
      assert.strictEqual(run.code, 0)
      for (const word of ["--once", "--dry-run", "demo", ...variables]) assert.include(run.stdout, word)
    }))

  it.live("an unknown argument is a usage error (exit 2)", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["--fast"])
      assert.strictEqual(run.code, 2)
      assert.include(run.stderr, `unknown argument "--fast"`)
    }))

  it.live("a missing or invalid setting stops before any connection, naming the variable (exit 1)", () =>
    Effect.gen(function*() {
      const listener = yield* countingListener
      const base = { PROTON_BRIDGE_PORT: String(listener.port) }
      const missing = yield* runCli(["--once"], { ...base, PROTON_USERNAME: "me@example.com" })
      assert.strictEqual(missing.code, 1)
      assert.include(missing.stderr, "PROTON_PASSWORD: is required")
      const invalid = yield* runCli(["--once"], { ...base, PROTON_USERNAME: "u", PROTON_PASSWORD: "p", PROTON_LUMO_BATCH_SIZE: "0" })
      assert.strictEqual(invalid.code, 1)
      assert.include(invalid.stderr, "PROTON_LUMO_BATCH_SIZE")
      const badCategories = yield* runCli(["--once"], {
        ...base,
        PROTON_USERNAME: "u",
        PROTON_PASSWORD: "p",
        PROTON_LUMO_CONFIG: "/nonexistent"
      })
      assert.strictEqual(badCategories.code, 1)
      assert.include(badCategories.stderr, "categories.json: not found")
      assert.strictEqual(listener.connections(), 0)
    }))

  it.live("settings come from .env when the environment lacks them, and the environment wins", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(`${tmpdir()}/dotenv-`)
      writeFileSync(`${dir}/.env`, "PROTON_USERNAME=from-dotenv\nPROTON_LUMO_BATCH_SIZE=zero\n", { mode: 0o600 })
      const fromFile = yield* runCli(["--once"], { PROTON_PASSWORD: "p" }, dir)
      assert.include(fromFile.stderr, "PROTON_LUMO_BATCH_SIZE")
      const envWins = yield* runCli(["--once"], { PROTON_PASSWORD: "p", PROTON_LUMO_BATCH_SIZE: "3", PROTON_LUMO_CONFIG: "/nonexistent" }, dir)
      assert.notInclude(envWins.stderr, "PROTON_LUMO_BATCH_SIZE")
      assert.include(envWins.stderr, "categories.json")
    }))

  it.live("the password never appears in the output, even when the connection fails", () =>
    Effect.gen(function*() {
      const listener = yield* countingListener
      const run = yield* runCli(["--once"], {
        PROTON_BRIDGE_PORT: String(listener.port),
        PROTON_USERNAME: "me@example.com",
        PROTON_PASSWORD: "hunter2-very-secret",
        PROTON_LUMO_LOG_LEVEL: "DEBUG"
      })
      assert.strictEqual(run.code, 1)
      assert.include(run.stderr, `cannot connect to IMAP server 127.0.0.1:${listener.port}`)
      assert.notInclude(run.stdout + run.stderr, "hunter2-very-secret")
    }))
})

describe("the demo", () => {
  it.live("sorts the sample mailbox in memory, printing each move, the metrics and where the mail is", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["demo"])
      assert.strictEqual(run.code, 0)
      assert.match(run.stdout, /moved INBOX#\d+ → Folders\/Administratif\/Banque {2}BANQUE 0\.\d\d \(keyword\)/)
      assert.include(run.stdout, "📊 Performance Metrics: INBOX")
      assert.match(run.stdout, /Emails processed: +46/)
      assert.match(run.stdout, /Where the mail is now:[\s\S]*INBOX +8/)
    }))
})
