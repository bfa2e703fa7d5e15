import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option, Redacted, Result } from "effect"
import {
  loadImapSettings,
  loadLlmSettings,
  loadLogFormat,
  loadLogLevel,
  loadProgressInterval,
  loadSortSettings,
  PERPLEXITY_BASE_URL,
  isLocalHost
} from "../../src/services/Settings.ts"

const withEnv = (env: Record<string, string>) => Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))

const failureOf = <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.result(effect), (result) => (Result.isFailure(result) ? result.failure.message : "succeeded"))

describe("settings", () => {
  it.effect("defaults are the original tool's", () =>
    Effect.gen(function*() {
      const settings = yield* loadSortSettings.pipe(withEnv({}))
      assert.deepStrictEqual(settings.folders, ["INBOX"])
      assert.strictEqual(settings.dryRun, false)
      assert.strictEqual(settings.unseenOnly, true)
      assert.strictEqual(settings.maxEmailsPerFolder, 100)
      assert.strictEqual(Duration.toSeconds(settings.pollInterval), 60)
      assert.strictEqual(settings.workers, 5)
      assert.strictEqual(settings.batchSize, 10)
      assert.strictEqual(settings.metricsEnabled, true)
      assert.strictEqual(yield* loadLogLevel.pipe(withEnv({})), "INFO")
    }))

  it.effect("ENABLE_PARALLEL=false means one worker, ENABLE_BATCH=false batches of one", () =>
    Effect.gen(function*() {
      const settings = yield* loadSortSettings.pipe(withEnv({
        PROTON_LUMO_ENABLE_PARALLEL: "false",
        PROTON_LUMO_MAX_WORKERS: "8",
        PROTON_LUMO_ENABLE_BATCH: "false",
        PROTON_LUMO_BATCH_SIZE: "20"
      }))
      assert.strictEqual(settings.workers, 1)
      assert.strictEqual(settings.batchSize, 1)
      const enabled = yield* loadSortSettings.pipe(withEnv({ PROTON_LUMO_MAX_WORKERS: "8", PROTON_LUMO_BATCH_SIZE: "20" }))
      assert.deepStrictEqual([enabled.workers, enabled.batchSize], [8, 20])
    }))

  it.effect("PROTON_LUMO_MAX_CONNECTIONS is 4 unless set; at least 1 (the sorting connection)", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* loadSortSettings.pipe(withEnv({}))).maxConnections, 4)
      assert.strictEqual((yield* loadSortSettings.pipe(withEnv({ PROTON_LUMO_MAX_CONNECTIONS: "1" }))).maxConnections, 1)
      assert.match(yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_MAX_CONNECTIONS: "0" }))), /^PROTON_LUMO_MAX_CONNECTIONS: /)
      assert.match(yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_MAX_CONNECTIONS: "2.5" }))), /^PROTON_LUMO_MAX_CONNECTIONS: /)
    }))

  it.effect("folders are a trimmed comma-separated list", () =>
    Effect.gen(function*() {
      const settings = yield* loadSortSettings.pipe(withEnv({ PROTON_LUMO_FOLDERS: " INBOX , Archive,," }))
      assert.deepStrictEqual(settings.folders, ["INBOX", "Archive"])
    }))

  it.effect("an invalid value names its variable", () =>
    Effect.gen(function*() {
      assert.match(yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_BATCH_SIZE: "0" }))), /^PROTON_LUMO_BATCH_SIZE: /)
      assert.match(yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_MAX_WORKERS: "two" }))), /^PROTON_LUMO_MAX_WORKERS: /)
      assert.match(yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_DRY_RUN: "perhaps" }))), /^PROTON_LUMO_DRY_RUN: /)
      assert.match(yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_POLL_INTERVAL: "-5" }))), /^PROTON_LUMO_POLL_INTERVAL: /)
      assert.match(yield* failureOf(loadLogLevel.pipe(withEnv({ PROTON_LUMO_LOG_LEVEL: "LOUD" }))), /^PROTON_LUMO_LOG_LEVEL: /)
    }))

  it.effect("PROTON_LUMO_LOG_FORMAT is text unless set to json; anything else names the variable", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* loadLogFormat.pipe(withEnv({})), "text")
      assert.strictEqual(yield* loadLogFormat.pipe(withEnv({ PROTON_LUMO_LOG_FORMAT: "json" })), "json")
      assert.strictEqual(yield* loadLogFormat.pipe(withEnv({ PROTON_LUMO_LOG_FORMAT: "text" })), "text")
      const message = yield* failureOf(loadLogFormat.pipe(withEnv({ PROTON_LUMO_LOG_FORMAT: "xml" })))
      assert.match(message, /^PROTON_LUMO_LOG_FORMAT: /)
      assert.include(message, "json")
    }))

  it.effect("PROTON_LUMO_PROGRESS_INTERVAL is 5 s unless set, in seconds (fractions too); zero names the variable", () =>
    Effect.gen(function*() {
      assert.strictEqual(Duration.toMillis(yield* loadProgressInterval.pipe(withEnv({}))), 5000)
      assert.strictEqual(Duration.toMillis(yield* loadProgressInterval.pipe(withEnv({ PROTON_LUMO_PROGRESS_INTERVAL: "0.5" }))), 500)
      assert.match(yield* failureOf(loadProgressInterval.pipe(withEnv({ PROTON_LUMO_PROGRESS_INTERVAL: "0" }))), /^PROTON_LUMO_PROGRESS_INTERVAL: /)
    }))

  it.effect("a source folder with an empty, \".\" or \"..\" level is refused before any server is asked", () =>
    Effect.gen(function*() {
      for (const folder of ["Archive/../INBOX", "Archive//2026", "./Archive"]) {
        const message = yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_FOLDERS: `INBOX,${folder}` })))
        assert.match(message, /^PROTON_LUMO_FOLDERS: /)
        assert.include(message, folder)
      }
    }))

  it.effect("All Mail, Spam, Trash and Labels/… are refused as sources", () =>
    Effect.gen(function*() {
      for (const folder of ["All Mail", "Spam", "Trash", "Labels/Work"]) {
        const message = yield* failureOf(loadSortSettings.pipe(withEnv({ PROTON_LUMO_FOLDERS: `INBOX,${folder}` })))
        assert.match(message, /^PROTON_LUMO_FOLDERS: /)
        assert.include(message, folder)
      }
    }))

  it.effect("the IMAP login is required, with its alias named; the password stays redacted", () =>
    Effect.gen(function*() {
      assert.match(yield* failureOf(loadImapSettings.pipe(withEnv({}))), /^PROTON_USERNAME: is required \(or PROTON_LUMO_IMAP_USER\)/)
      const imap = yield* loadImapSettings.pipe(withEnv({ PROTON_LUMO_IMAP_USER: "me", PROTON_LUMO_IMAP_PASSWORD: "s3cret-pw" }))
      assert.strictEqual(imap.user, "me")
      assert.strictEqual(Redacted.value(imap.password), "s3cret-pw")
      assert.notInclude(`${String(imap.password)} ${JSON.stringify(imap)}`, "s3cret-pw")
      assert.deepStrictEqual([imap.host, imap.port, imap.tls, imap.tlsVerify], ["127.0.0.1", 1143, "starttls", true])
    }))

  it.effect("the main name wins over its alias, and an invalid main value is an error, not a fallback", () =>
    Effect.gen(function*() {
      const base = { PROTON_USERNAME: "u", PROTON_PASSWORD: "p" }
      const imap = yield* loadImapSettings.pipe(withEnv({ ...base, PROTON_BRIDGE_PORT: "1144", PROTON_LUMO_IMAP_PORT: "1145" }))
      assert.strictEqual(imap.port, 1144)
      const message = yield* failureOf(loadImapSettings.pipe(withEnv({ ...base, PROTON_BRIDGE_PORT: "x", PROTON_LUMO_IMAP_PORT: "1145" })))
      assert.match(message, /^PROTON_BRIDGE_PORT: /)
      assert.match(yield* failureOf(loadImapSettings.pipe(withEnv({ ...base, PROTON_LUMO_IMAP_TLS: "none" }))), /^PROTON_LUMO_IMAP_TLS: /)
    }))

  it.effect("no key and no base URL: no LLM; PERPLEXITY_API_KEY alone: Perplexity with sonar-pro", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* loadLlmSettings.pipe(withEnv({}))))
      const perplexity = yield* loadLlmSettings.pipe(withEnv({ PERPLEXITY_API_KEY: "pplx-1" }))
      assert.isTrue(Option.isSome(perplexity))
      if (Option.isSome(perplexity)) {
        assert.strictEqual(perplexity.value.baseUrl, PERPLEXITY_BASE_URL)
        assert.strictEqual(perplexity.value.model, "sonar-pro")
        assert.strictEqual(Duration.toSeconds(perplexity.value.timeout), 30)
      }
    }))

  it.effect("a local server needs a base URL and a model, and no key", () =>
    Effect.gen(function*() {
      const local = yield* loadLlmSettings.pipe(withEnv({
        PROTON_LUMO_LLM_BASE_URL: "http://127.0.0.1:11434/v1/",
        PROTON_LUMO_LLM_MODEL: "llama3.2"
      }))
      assert.deepStrictEqual(Option.map(local, (llm) => [llm.baseUrl, llm.model, Option.isNone(llm.apiKey)]), Option.some([
        "http://127.0.0.1:11434/v1",
        "llama3.2",
        true
      ]))
      const noModel = yield* failureOf(loadLlmSettings.pipe(withEnv({ PROTON_LUMO_LLM_BASE_URL: "http://127.0.0.1:11434/v1" })))
      assert.match(noModel, /^PROTON_LUMO_LLM_MODEL: /)
    }))

  it.effect("an API key is never sent in clear text to a remote host, nor guessed to be Perplexity's", () =>
    Effect.gen(function*() {
      const clear = yield* failureOf(loadLlmSettings.pipe(withEnv({
        PROTON_LUMO_LLM_BASE_URL: "http://llm.example.com/v1",
        PROTON_LUMO_LLM_MODEL: "m",
        PROTON_LUMO_LLM_API_KEY: "sk-1"
      })))
      assert.match(clear, /^PROTON_LUMO_LLM_BASE_URL: .*unencrypted/)
      const orphanKey = yield* failureOf(loadLlmSettings.pipe(withEnv({ PROTON_LUMO_LLM_API_KEY: "sk-1" })))
      assert.match(orphanKey, /^PROTON_LUMO_LLM_BASE_URL: is required/)
      // Credentials in the URL: refused by name, and never repeated.
      const inUrl = yield* failureOf(loadLlmSettings.pipe(withEnv({
        PROTON_LUMO_LLM_BASE_URL: "http://me:s3cret@127.0.0.1:11434/v1",
        PROTON_LUMO_LLM_MODEL: "m"
      })))
      assert.match(inUrl, /^PROTON_LUMO_LLM_BASE_URL: holds a user name or password/)
      assert.notInclude(inUrl, "s3cret")
      // Perplexity's key goes to Perplexity only: with another base URL it is not sent at all.
      const keyOf = (baseUrl: string) =>
        Effect.map(
          loadLlmSettings.pipe(withEnv({ PROTON_LUMO_LLM_BASE_URL: baseUrl, PROTON_LUMO_LLM_MODEL: "m", PERPLEXITY_API_KEY: "pplx-1" })),
          Option.flatMap((llm) => Option.map(llm.apiKey, Redacted.value))
        )
      assert.deepStrictEqual(yield* keyOf("https://api.openai.com/v1"), Option.none())
      assert.deepStrictEqual(yield* keyOf("http://127.0.0.1:11434/v1"), Option.none())
      assert.deepStrictEqual(yield* keyOf("https://api.perplexity.ai"), Option.some("pplx-1"))
    }))

  it.effect("a base URL with a query or a fragment is refused: the call's path would land inside it", () =>
    Effect.gen(function*() {
      for (const baseUrl of ["https://llm.example.com/v1?key=abc", "https://llm.example.com/v1#x", "https://llm.example.com/v1?"]) {
        const refused = yield* failureOf(loadLlmSettings.pipe(withEnv({ PROTON_LUMO_LLM_BASE_URL: baseUrl, PROTON_LUMO_LLM_MODEL: "m" })))
        assert.match(refused, /^PROTON_LUMO_LLM_BASE_URL: must not hold a query/)
        assert.notInclude(refused, "abc")
      }
    }))

  it.effect("MAX_RPM not set: no limit for a local server, 50 for Perplexity, 60 for other remote endpoints", () =>
    Effect.gen(function*() {
      const rpmFor = (baseUrl: string, extra: Record<string, string> = {}) =>
        Effect.map(
          loadLlmSettings.pipe(withEnv({ PROTON_LUMO_LLM_BASE_URL: baseUrl, PROTON_LUMO_LLM_MODEL: "m", ...extra })),
          (llm) => Option.flatMap(llm, (settings) => settings.maxRequestsPerMinute)
        )
      for (const local of [
        "http://127.0.0.1:11434/v1",
        "http://127.8.9.10/v1",
        "http://localhost:8080/v1",
        "http://[::1]:11434/v1",
        "http://10.0.0.5:11434/v1",
        "http://172.16.1.2/v1",
        "http://172.31.255.1/v1",
        "http://192.168.1.20:11434/v1",
        "http://[fd12:3456::1]/v1",
        "http://ollama.local:11434/v1"
      ]) {
        assert.deepStrictEqual(yield* rpmFor(local), Option.none(), local)
      }
      for (const remote of ["https://api.openai.com/v1", "http://172.32.0.1/v1", "http://192.169.0.1/v1", "http://[2001:db8::1]/v1"]) {
        assert.deepStrictEqual(yield* rpmFor(remote), Option.some(60), remote)
      }
      assert.deepStrictEqual(yield* rpmFor("https://api.perplexity.ai"), Option.some(50))
      assert.deepStrictEqual(yield* rpmFor("https://api.openai.com/v1", { PROTON_LUMO_LLM_MAX_RPM: "0" }), Option.none())
      assert.deepStrictEqual(yield* rpmFor("http://127.0.0.1/v1", { PROTON_LUMO_LLM_MAX_RPM: "30" }), Option.some(30))
      assert.isFalse(isLocalHost("fc.example.com"))
      assert.isFalse(isLocalHost("localhost.example.com"))
    }))

  it.effect("LLM tuning has the documented defaults and validates each variable", () =>
    Effect.gen(function*() {
      const base = { PERPLEXITY_API_KEY: "pplx-1" }
      const llm = Option.getOrThrow(yield* loadLlmSettings.pipe(withEnv(base)))
      assert.deepStrictEqual(
        [llm.jsonMode, llm.maxRetries, llm.maxRequestsPerMinute, llm.skipConfident, llm.costPer1kTokens, llm.bodyChars],
        [true, 3, Option.some(50), true, 0, 500]
      )
      assert.isTrue(Option.isNone(llm.dailyTokenBudget))
      const tuned = Option.getOrThrow(yield* loadLlmSettings.pipe(withEnv({
        ...base,
        PROTON_LUMO_LLM_JSON_MODE: "false",
        PROTON_LUMO_LLM_MAX_RETRIES: "0",
        PROTON_LUMO_LLM_MAX_RPM: "20",
        PROTON_LUMO_LLM_SKIP_CONFIDENT: "false",
        PROTON_LUMO_LLM_COST_PER_1K_TOKENS: "0.003",
        PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET: "200000",
        PROTON_LUMO_LLM_BODY_CHARS: "0"
      })))
      assert.deepStrictEqual(
        [tuned.jsonMode, tuned.maxRetries, tuned.maxRequestsPerMinute, tuned.skipConfident, tuned.costPer1kTokens, tuned.bodyChars],
        [false, 0, Option.some(20), false, 0.003, 0]
      )
      assert.deepStrictEqual(tuned.dailyTokenBudget, Option.some(200000))
      const invalid: ReadonlyArray<readonly [string, string]> = [
        ["PROTON_LUMO_LLM_MAX_RPM", "-1"],
        ["PROTON_LUMO_LLM_MAX_RETRIES", "-1"],
        ["PROTON_LUMO_LLM_COST_PER_1K_TOKENS", "cheap"],
        ["PROTON_LUMO_LLM_BODY_CHARS", "1.5"],
        ["PROTON_LUMO_LLM_TIMEOUT", "0"]
      ]
      for (const [variable, value] of invalid) {
        assert.match(yield* failureOf(loadLlmSettings.pipe(withEnv({ ...base, [variable]: value }))), new RegExp(`^${variable}: `))
      }
    }))
})
