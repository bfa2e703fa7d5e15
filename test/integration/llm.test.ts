/** The LLM path end to end: real Dovecot on 127.0.0.1, a fake OpenAI-compatible server on 127.0.0.1. */
import { mkdtempSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { inject } from "vitest"
import { runCli } from "../support/cli.ts"
import { corpus, truthFolder, truthOf } from "../support/corpus.ts"
import { allFaults, fakeLlmServer, oracle, type Script, withFault } from "../support/fakeLlmServer.ts"
import { appendMessages, freshUser, mailboxState } from "../support/imap.ts"
import { llmClassifierLayer, llmSettings } from "../support/layers.ts"
import { sortOnceLive } from "../support/live.ts"

const bridge = inject("dovecot").bridge

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

/** Folder of each Message-ID on the server. */
const placement = (state: Record<string, ReadonlyArray<{ readonly messageId: string | undefined }>>) =>
  new Map(Object.entries(state).flatMap(([folder, messages]) => messages.map((m): [string, string] => [m.messageId ?? "?", folder])))

describe("classifying with an LLM against Dovecot", () => {
  it.live("with ~20% of calls failing in every way, nothing is misfiled or lost, and most mail is sorted", () =>
    Effect.gen(function*() {
      const user = freshUser()
      const emails = corpus(150, 23)
      yield* promise(() => appendMessages(bridge, user, "INBOX", emails.map((email) => ({ source: email.source }))))
      const honest = oracle(truthOf(emails))
      const faulty: Script = (request) =>
        request.index % 5 === 2 ? withFault(allFaults[Math.floor(request.index / 5) % allFaults.length] ?? "latency", honest, request) : honest(request)
      const server = yield* fakeLlmServer(faulty)
      const settings = llmSettings(server.baseUrl, { timeout: Duration.millis(1500), maxRetries: 2 })
      const [report] = yield* sortOnceLive(bridge, user, {
        classifier: llmClassifierLayer(settings),
        settings: { maxEmailsPerFolder: 1000 }
      })
      const placed = placement(yield* promise(() => mailboxState(bridge, user)))
      assert.strictEqual(placed.size, emails.length)
      const misfiled = emails.filter((email) => {
        const folder = placed.get(email.messageId)
        return folder !== "INBOX" && folder !== truthFolder(email.truth)
      })
      assert.deepStrictEqual(misfiled.map((email) => email.subject), [])
      const sortable = emails.filter((email) => email.truth !== "NONE")
      const sorted = sortable.filter((email) => placed.get(email.messageId) === truthFolder(email.truth))
      assert.isAbove(sorted.length / sortable.length, 0.85)
      assert.isAbove(report?.llm.llmRetries ?? 0, 0)
      assert.isAbove(server.requests.length, Math.ceil(emails.length / 10))
    }))

  it.live("the CLI: a dry run pays for the classification once, the real run after it is served from the cache", () =>
    Effect.gen(function*() {
      const user = freshUser()
      const emails = corpus(14, 31)
      yield* promise(() => appendMessages(bridge, user, "INBOX", emails.map((email) => ({ source: email.source }))))
      const server = yield* fakeLlmServer(oracle(truthOf(emails)))
      const dataDir = mkdtempSync(join(tmpdir(), "plai-cli-llm-"))
      const env = {
        PROTON_BRIDGE_PORT: String(bridge.port),
        PROTON_USERNAME: user,
        PROTON_PASSWORD: bridge.password,
        PROTON_LUMO_IMAP_CA_FILE: bridge.caFile,
        PROTON_LUMO_DATA: dataDir,
        PROTON_LUMO_LLM_BASE_URL: server.baseUrl,
        PROTON_LUMO_LLM_MODEL: "test-model",
        PROTON_LUMO_LLM_API_KEY: "sk-very-secret-key",
        PROTON_LUMO_LLM_COST_PER_1K_TOKENS: "0.01"
      }
      const dry = yield* runCli(["--once", "--dry-run"], env)
      assert.strictEqual(dry.code, 0, dry.stderr)
      assert.strictEqual(server.requests.length, 2)
      assert.match(dry.stdout, /LLM calls: +2 \(7\.0 emails per call; 2 requests, 0 retries\) with learned\+llm:test-model/)
      assert.match(dry.stdout, /LLM tokens: +[\d,]+ prompt \+ [\d,]+ completion, about 0\.\d+ in cost/)
      const real = yield* runCli(["--once"], env)
      assert.strictEqual(real.code, 0, real.stderr)
      assert.strictEqual(server.requests.length, 2)
      assert.match(real.stdout, /LLM spared: +0 by confident keywords, 14 from the cache/)
      const placed = placement(yield* promise(() => mailboxState(bridge, user)))
      for (const email of emails) assert.strictEqual(placed.get(email.messageId), truthFolder(email.truth))
      const databaseFile = join(dataDir, "protonlumo.db")
      assert.strictEqual(statSync(databaseFile).mode & 0o777, 0o600)
      assert.isFalse(readFileSync(databaseFile).includes("ref 31-"))
      assert.notInclude(dry.stdout + dry.stderr + real.stdout + real.stderr, "sk-very-secret-key")
    }))
})
