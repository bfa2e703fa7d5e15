/** The command line as a user meets it: a real `node src/main.ts` process. */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type Socket } from "node:net"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { SETTING_NAMES } from "../../src/services/Settings.ts"
import { runCli, startCli } from "../support/cli.ts"

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

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")

describe("command line", () => {
  it.live("--help and the README document the commands, the flags and every setting the program reads", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["--help"])
      assert.strictEqual(run.code, 0)
      for (const word of ["--once", "--dry-run", "demo", ...SETTING_NAMES]) assert.include(run.stdout, word)
      for (const name of SETTING_NAMES) assert.include(readme, `\`${name}\``)
      // A bare `history --help` is answered before Effect loads; with other flags effect/cli answers: alike.
      const quick = yield* runCli(["history", "--help"])
      const parsed = yield* runCli(["history", "--limit", "5", "--help"])
      assert.deepStrictEqual([quick.code, parsed.code], [0, 0])
      assert.include(quick.stdout, "--limit N")
      assert.strictEqual(quick.stdout, parsed.stdout)
    }))

  it.live("--version says the package's version, whatever else the command line holds, and reads no setting", () =>
    Effect.gen(function*() {
      const manifest = Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Struct({ version: Schema.String })))(
        readFileSync(new URL("../../package.json", import.meta.url), "utf8")
      )
      for (const args of [["--version"], ["history", "-V"]]) {
        const run = yield* runCli(args, { PROTON_LUMO_DRYRUN: "a typo, not read" })
        assert.deepStrictEqual(run, { code: 0, stdout: `ProtonLumoAI ${manifest.version}\n`, stderr: "" })
      }
    }))

  it.live("a misspelled PROTON_LUMO_* variable is a warning naming the closest known one", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["history"], { PROTON_LUMO_DATA: mkdtempSync(join(tmpdir(), "plai-typo-")), PROTON_LUMO_DRYRUN: "true" })
      assert.strictEqual(run.code, 0, run.stderr)
      assert.include(run.stderr, "PROTON_LUMO_DRYRUN is not a setting ProtonLumoAI knows, and is ignored: did you mean PROTON_LUMO_DRY_RUN?")
    }))

  it.live("output piped into a reader that stops early (| head) ends quietly, exit 0", () =>
    Effect.gen(function*() {
      const piped = yield* Effect.callback<{ readonly status: string; readonly stderr: string }>((resume) => {
        execFile("bash", ["-c", `"${process.execPath}" src/main.ts demo | head -n 1 >/dev/null; echo "\${PIPESTATUS[0]}"`], {
          cwd: new URL("../..", import.meta.url).pathname,
          env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "" }
        }, (_, stdout, stderr) => resume(Effect.succeed({ status: stdout.trim(), stderr })))
      })
      assert.strictEqual(piped.status, "0", piped.stderr)
      assert.notMatch(piped.stderr, /EPIPE|^\s+at /m)
    }))

  it.live("SIGHUP stops a command that is not the service as SIGTERM does: at once, exit 0", () =>
    Effect.gen(function*() {
      // A server that accepts and never greets: --once waits for it.
      let connected: () => void = () => undefined
      const reached = new Promise<void>((resolve) => (connected = resolve))
      const silent = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<{ port: number; close: () => void }>((resolve) => {
            const sockets: Array<Socket> = []
            const server = createServer((socket) => {
              sockets.push(socket)
              connected()
            })
            server.listen(0, "127.0.0.1", () =>
              resolve({
                port: (server.address() as AddressInfo).port, // node:net boundary: a TCP listener has an AddressInfo
                close: () => {
                  for (const socket of sockets) socket.destroy()
                  server.close()
                }
              }))
          })
        ),
        (listener) => Effect.sync(listener.close)
      )
      const once = startCli(["--once"], { PROTON_BRIDGE_PORT: String(silent.port), PROTON_USERNAME: "u", PROTON_PASSWORD: "p" })
      yield* Effect.promise(() => reached)
      const started = Date.now()
      const code = yield* Effect.promise(() => once.stop("SIGHUP"))
      assert.strictEqual(code, 0, once.output())
      assert.isBelow(Date.now() - started, 5000)
    }), 30_000)

  it.live("an unknown argument is a usage error (exit 2), said on one line", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["--fast"])
      assert.strictEqual(run.code, 2)
      assert.strictEqual(run.stderr, "ERROR Unrecognized flag: --fast in command proton-lumo-ai (see --help)\n")
      const typo = yield* runCli(["--onse"])
      assert.strictEqual(typo.code, 2)
      assert.strictEqual(typo.stderr, "ERROR Unrecognized flag: --onse in command proton-lumo-ai Did you mean this? --once (see --help)\n")
    }))

  it.live("status: a wrong flag is a usage error (exit 2); without a database it says so, creates nothing, exit 0", () =>
    Effect.gen(function*() {
      const wrong = yield* runCli(["status", "--dry-run"])
      assert.strictEqual(wrong.code, 2)
      assert.strictEqual(wrong.stderr, "ERROR Unrecognized flag: --dry-run in command proton-lumo-ai status (see status --help)\n")
      const dataDir = join(mkdtempSync(join(tmpdir(), "plai-status-")), "data")
      const text = yield* runCli(["status"], { PROTON_LUMO_DATA: dataDir })
      assert.strictEqual(text.code, 0, text.stderr)
      assert.include(text.stdout, "No database yet in")
      const json = yield* runCli(["status", "--json"], { PROTON_LUMO_DATA: dataDir })
      assert.strictEqual(json.code, 0, json.stderr)
      assert.deepInclude(JSON.parse(json.stdout), { folders: [], retrying: [], lastError: null, correctionsLast7Days: 0 })
      assert.isFalse(existsSync(dataDir))
    }), 30_000)

  it.live("history and undo without a database say so and create nothing (a mistyped PROTON_LUMO_DATA)", () =>
    Effect.gen(function*() {
      const dataDir = join(mkdtempSync(join(tmpdir(), "plai-history-")), "data")
      const env = { PROTON_LUMO_DATA: dataDir, PROTON_USERNAME: "me@example.com", PROTON_PASSWORD: "secret" }
      for (const args of [["history"], ["undo", "--last-run"]]) {
        const run = yield* runCli(args, env)
        assert.strictEqual(run.code, 0, run.stderr)
        assert.include(run.stdout, "No database yet in")
      }
      assert.isFalse(existsSync(dataDir))
    }), 30_000)

  it.live("a data folder that is a file: status says which file and why (exit 1)", () =>
    Effect.gen(function*() {
      const file = join(mkdtempSync(join(tmpdir(), "plai-datafile-")), "data")
      writeFileSync(file, "")
      const run = yield* runCli(["status"], { PROTON_LUMO_DATA: file })
      assert.strictEqual(run.code, 1)
      assert.include(run.stderr, `state file ${join(file, "protonlumo.db")}: ENOTDIR: not a directory`)
      assert.notInclude(run.stderr, "BadResource")
    }), 30_000)

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
      // Read before the others, so its error is a text line: there is no JSON logger yet.
      const badFormat = yield* runCli(["--once"], { ...base, PROTON_USERNAME: "u", PROTON_PASSWORD: "p", PROTON_LUMO_LOG_FORMAT: "logfmt" })
      assert.strictEqual(badFormat.code, 1)
      assert.match(badFormat.stderr, /^\S+ ERROR PROTON_LUMO_LOG_FORMAT: Expected "text" \| "json"/m)
      assert.notMatch(badFormat.stderr, /^\s+at /m)
      assert.strictEqual(listener.connections(), 0)
    }), 20_000)

  it.live("with PROTON_LUMO_LOG_FORMAT=json the warnings about the settings themselves are JSON lines too", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["history"], {
        PROTON_LUMO_DATA: mkdtempSync(join(tmpdir(), "plai-json-")),
        PROTON_LUMO_DRYRUN: "true",
        PROTON_LUMO_LOG_FORMAT: "json"
      })
      assert.strictEqual(run.code, 0, run.stderr)
      const [warning, ...others] = run.stderr.split("\n").filter((line) => line !== "")
      assert.deepStrictEqual(others, [])
      assert.deepInclude(JSON.parse(warning ?? ""), {
        level: "WARN",
        message: "PROTON_LUMO_DRYRUN is not a setting ProtonLumoAI knows, and is ignored: did you mean PROTON_LUMO_DRY_RUN?"
      })
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
      // Set to nothing, it is set: the default, not .env's value.
      const emptyWins = yield* runCli(["--once"], { PROTON_PASSWORD: "p", PROTON_LUMO_BATCH_SIZE: "", PROTON_LUMO_CONFIG: "/nonexistent" }, dir)
      assert.notMatch(emptyWins.stderr, /ERROR.*PROTON_LUMO_BATCH_SIZE/)
      assert.include(emptyWins.stderr, "PROTON_LUMO_BATCH_SIZE is set to nothing in the environment, which wins over its value in .env")
      assert.include(emptyWins.stderr, "categories.json")
    }))

  it.live("a .env line that is not NAME=value, or a quote never closed, is warned about by line, without its value", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(`${tmpdir()}/dotenv-`)
      writeFileSync(`${dir}/.env`, "# mine\nPROTON_USERNAME=me\nPROTON_PASSWORD s3cret-one\nPROTON_LUMO_LLM_API_KEY=\"s3cret-two\n", { mode: 0o600 })
      const run = yield* runCli(["status"], { PROTON_LUMO_DATA: join(dir, "data") }, dir)
      assert.include(run.stderr, ".env, line 3 is not NAME=value, and is ignored")
      assert.include(run.stderr, ".env, line 4 (PROTON_LUMO_LLM_API_KEY): the value's opening quote is never closed")
      assert.notInclude(run.stderr + run.stdout, "s3cret")
    }))

  it.live(".env lines read otherwise than they look are warned about: a # cutting a value, a name in lower case, one the environment sets to nothing", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(`${tmpdir()}/dotenv-`)
      writeFileSync(
        `${dir}/.env`,
        [
          "PROTON_USERNAME=me",
          "PROTON_PASSWORD=s3cret#one",
          "PROTON_LUMO_LOG_LEVEL=info # a comment, as meant",
          "proton_lumo_dry_run=true",
          "PROTON_LUMO_BATCH_SIZE: 3",
          "PROTON_LUMO_LLM_API_KEY='pa#ss'"
        ].join("\n"),
        { mode: 0o600 }
      )
      const run = yield* runCli(["status"], { PROTON_LUMO_DATA: join(dir, "data"), PROTON_USERNAME: "" }, dir)
      assert.include(run.stderr, "PROTON_USERNAME is set to nothing in the environment, which wins over its value in .env: unset it to use that one")
      assert.notInclude(run.stderr, "PROTON_PASSWORD is set to nothing")
      assert.include(run.stderr, ".env, line 2 (PROTON_PASSWORD): the value is cut at its \"#\"")
      assert.include(run.stderr, "proton_lumo_dry_run is not a setting ProtonLumoAI knows, and is ignored: did you mean PROTON_LUMO_DRY_RUN?")
      // Read as meant: no warning for the comment, `NAME: value`, or a # inside quotes.
      assert.notInclude(run.stderr, "line 3")
      assert.notInclude(run.stderr, "line 5")
      assert.notInclude(run.stderr, "line 6")
      assert.notInclude(run.stderr + run.stdout, "s3cret")
    }))

  it.live("a setting given under both its names is warned about: which one is used, never the values", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(`${tmpdir()}/dotenv-`)
      writeFileSync(`${dir}/.env`, "PROTON_LUMO_IMAP_PORT=1199\nPROTON_LUMO_IMAP_PASSWORD=\nPROTON_LUMO_IMAP_USER=other-login\n", { mode: 0o600 })
      const run = yield* runCli(["status"], {
        PROTON_LUMO_DATA: join(dir, "data"),
        PROTON_BRIDGE_PORT: "1143",
        PROTON_PASSWORD: "p",
        PROTON_USERNAME: "me"
      }, dir)
      assert.include(run.stderr, "PROTON_BRIDGE_PORT and PROTON_LUMO_IMAP_PORT are both set: PROTON_BRIDGE_PORT is used, PROTON_LUMO_IMAP_PORT is ignored")
      assert.include(run.stderr, "PROTON_USERNAME and PROTON_LUMO_IMAP_USER are both set")
      // An empty value sets nothing.
      assert.notInclude(run.stderr, "PROTON_LUMO_IMAP_PASSWORD")
      assert.notInclude(run.stderr + run.stdout, "other-login")
      assert.notInclude(run.stderr + run.stdout, "1199")
    }))

  it.live("PROTON_LUMO_ENV_FILE names the env file read instead of .env (a systemd unit's); one that is not there is an error", () =>
    Effect.gen(function*() {
      const file = join(mkdtempSync(join(tmpdir(), "envfile-")), "env")
      writeFileSync(file, "PROTON_USERNAME=from-file\nPROTON_LUMO_BATCH_SIZE=zero\n", { mode: 0o600 })
      const fromFile = yield* runCli(["--once"], { PROTON_PASSWORD: "p", PROTON_LUMO_ENV_FILE: file })
      assert.strictEqual(fromFile.code, 1)
      assert.include(fromFile.stderr, "PROTON_LUMO_BATCH_SIZE")
      const missing = yield* runCli(["status"], { PROTON_LUMO_ENV_FILE: `${file}.gone` })
      assert.strictEqual(missing.code, 1)
      assert.include(missing.stderr, `PROTON_LUMO_ENV_FILE: names ${file}.gone, which does not exist`)
      // One that cannot be read (a folder here; another user's file alike) is said in a sentence, on one line.
      const unreadable = yield* runCli(["status"], { PROTON_LUMO_ENV_FILE: dirname(file) })
      assert.strictEqual(unreadable.code, 1)
      assert.include(unreadable.stderr, `PROTON_LUMO_ENV_FILE: ${dirname(file)} cannot be read: `)
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
