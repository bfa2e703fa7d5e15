import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted, References } from "effect"
import { FetchHttpClient } from "effect/http"
import type { ParsedEmail, Verdict } from "../../src/domain/Email.ts"
import { Categories } from "../../src/services/Categories.ts"
import { Classifier } from "../../src/services/Classifier.ts"
import { LLM_BODY_CHARS } from "../../src/services/LlmClassifier.ts"
import type { LlmSettings } from "../../src/services/Settings.ts"
import { answerAll, fakeLlmServer, type Script } from "../support/fakeLlmServer.ts"
import { defaultCategories } from "../support/layers.ts"

const email = (uid: number, subject: string, body = ""): ParsedEmail => ({
  uid,
  messageId: undefined,
  from: "sender@example.com",
  subject,
  body
})

const batch: readonly [ParsedEmail, ...Array<ParsedEmail>] = [
  email(11, "Virement reçu", "Votre compte a été crédité"),
  email(12, "Réunion projet", "ordre du jour"),
  email(13, "Dîner", "samedi ?")
]

/** Classifies `emails` through the LLM classifier pointed at a fake server running `script`. */
const classifyWith = (script: Script, emails = batch, settings: Partial<LlmSettings> = {}) =>
  Effect.gen(function*() {
    const server = yield* fakeLlmServer(script)
    const layer = Classifier.layerLlm({
      baseUrl: server.baseUrl,
      model: "test-model",
      apiKey: Option.some(Redacted.make("sk-test-123")),
      timeout: Duration.seconds(5),
      ...settings
    }).pipe(Layer.provide([Categories.layerFrom(defaultCategories), FetchHttpClient.layer]))
    const verdicts = yield* Classifier.use((classifier) => classifier.classify(emails)).pipe(
      Effect.provide(layer),
      Effect.provideService(References.MinimumLogLevel, "Error"),
      Effect.orDie
    )
    return { verdicts, requests: server.requests }
  })

const summary = (verdict: Verdict | undefined) =>
  verdict === undefined ? "none" : verdict._tag === "Matched" ? `${verdict.categoryId}@${verdict.classifier}` : `NoMatch@${verdict.classifier}`

describe("LLM classifier (OpenAI-compatible)", () => {
  it.live("one call per batch: POST /chat/completions, bearer token, the batch as a JSON array", () =>
    Effect.gen(function*() {
      const long = email(14, "Long", "x".repeat(2000))
      const { verdicts, requests } = yield* classifyWith(answerAll("PRO"), [...batch, long])
      assert.strictEqual(requests.length, 1)
      const request = requests[0]
      assert.strictEqual(request?.path, "/v1/chat/completions")
      assert.strictEqual(request?.headers.authorization, "Bearer sk-test-123")
      assert.deepStrictEqual(request?.emails.map((e) => e.id), ["1", "2", "3", "4"])
      assert.deepStrictEqual(request?.emails.map((e) => e.subject), ["Virement reçu", "Réunion projet", "Dîner", "Long"])
      assert.strictEqual(request?.emails[3]?.body.length, LLM_BODY_CHARS)
      assert.deepStrictEqual(verdicts.map(summary), ["PRO@llm:test-model", "PRO@llm:test-model", "PRO@llm:test-model", "PRO@llm:test-model"])
    }))

  it.live("answers are matched back by id, in whatever order they come", () =>
    Effect.gen(function*() {
      const { verdicts } = yield* classifyWith(() => ({
        content: JSON.stringify([
          { id: "3", category: "NONE", confidence: 0.2, reason: "personal" },
          { id: "1", category: "BANQUE", confidence: 0.95, reason: "bank" },
          { id: 2, category: "PRO", confidence: "0.8", reason: "work" }
        ])
      }))
      assert.deepStrictEqual(verdicts.map(summary), ["BANQUE@llm:test-model", "PRO@llm:test-model", "NoMatch@llm:test-model"])
    }))

  it.live("an answer in ``` fences with prose around it is accepted", () =>
    Effect.gen(function*() {
      const { verdicts } = yield* classifyWith((request) => ({
        content: "Here you go:\n```json\n" + JSON.stringify(request.emails.map((e) => ({ id: e.id, category: "URGENT", confidence: 1 }))) +
          "\n```\nHope it helps."
      }))
      assert.deepStrictEqual(verdicts.map(summary), ["URGENT@llm:test-model", "URGENT@llm:test-model", "URGENT@llm:test-model"])
    }))

  it.live("ids that were not asked are ignored, the first answer for an id wins, missing ids fall back to keywords", () =>
    Effect.gen(function*() {
      const { verdicts } = yield* classifyWith(() => ({
        content: JSON.stringify([
          { id: "1", category: "VOYAGES", confidence: 0.9 },
          { id: "1", category: "SPAM", confidence: 0.99 },
          { id: "99", category: "SPAM", confidence: 0.99 },
          { id: "3", category: "SOCIAL", confidence: 0.9 }
        ])
      }))
      assert.deepStrictEqual(verdicts.map(summary), ["VOYAGES@llm:test-model", "PRO@keyword", "SOCIAL@llm:test-model"])
    }))

  it.live("a server error sends the whole batch to the keyword classifier", () =>
    Effect.gen(function*() {
      const { verdicts, requests } = yield* classifyWith(() => ({ status: 500, rawBody: "{\"error\":\"boom\"}" }))
      assert.strictEqual(requests.length, 1)
      assert.deepStrictEqual(verdicts.map(summary), ["BANQUE@keyword", "PRO@keyword", "NoMatch@keyword"])
    }))

  it.live("an answer that is not JSON falls back to keywords", () =>
    Effect.gen(function*() {
      const { verdicts } = yield* classifyWith(() => ({ content: "I cannot help with that." }))
      assert.deepStrictEqual(verdicts.map(summary), ["BANQUE@keyword", "PRO@keyword", "NoMatch@keyword"])
    }))

  it.live("a call slower than the timeout is abandoned for keywords", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { verdicts } = yield* classifyWith(
        (request) => ({ ...answerAll("SPAM")(request), delayMillis: 3000 }),
        batch,
        { timeout: Duration.millis(200) }
      )
      assert.isBelow(Date.now() - started, 2000)
      assert.deepStrictEqual(verdicts.map(summary), ["BANQUE@keyword", "PRO@keyword", "NoMatch@keyword"])
    }))

  it.live("a local server without a key gets no Authorization header", () =>
    Effect.gen(function*() {
      const { requests } = yield* classifyWith(answerAll("PRO"), batch, { apiKey: Option.none() })
      assert.isUndefined(requests[0]?.headers.authorization)
    }))
})
