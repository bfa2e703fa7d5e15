/** The chat-completions client's retries, against a fake OpenAI-compatible server (real HTTP). */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, References } from "effect"
import { FetchHttpClient } from "effect/http"
import { ChatCompletions, type ChatCompletionsApi, type ChatRequest } from "../../src/services/ChatCompletions.ts"
import type { LlmSettings } from "../../src/services/Settings.ts"
import { answerAll, fakeLlmServer, type Script, type ScriptedReply } from "../support/fakeLlmServer.ts"
import { llmSettings } from "../support/layers.ts"

const request: ChatRequest = {
  system: "Classify.",
  user: "Emails to classify: []",
  schema: { name: "verdicts", schema: { type: "object" } }
}

/** A 503 whose Retry-After of 0 s lets the retry go at once (the retry logic without the wait). */
const failedNow: ScriptedReply = { status: 503, headers: { "retry-after": "0" } }

/** The fake server running `script`, the client on it, and what `use` returned. */
const withClient = <A, E>(
  script: Script,
  settings: Partial<LlmSettings>,
  use: (client: ChatCompletionsApi) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const server = yield* fakeLlmServer(script)
    const layer = ChatCompletions.layer(llmSettings(server.baseUrl, settings)).pipe(Layer.provide(FetchHttpClient.layer))
    const result = yield* Effect.gen(function*() {
      const client = yield* ChatCompletions
      const value = yield* use(client)
      return { value, stats: yield* client.stats }
    }).pipe(Effect.provide(layer), Effect.provideService(References.MinimumLogLevel, "None"))
    return { ...result, requests: server.requests }
  })

/** The error `complete` fails with, as its tag and message. */
const failureOf = (client: ChatCompletionsApi) =>
  Effect.map(Effect.flip(client.complete(request)), (error) => `${error._tag}: ${error.message}`)

describe("ChatCompletions retries", () => {
  it.live("retries a transient failure exactly maxRetries times, then gives up saying how many", () =>
    Effect.gen(function*() {
      const twice = yield* withClient(() => failedNow, { maxRetries: 2 }, failureOf)
      assert.strictEqual(twice.value, "ChatError: the provider failed (HTTP 503) (after 2 retries)")
      assert.strictEqual(twice.requests.length, 3)
      assert.deepStrictEqual([twice.stats.requests, twice.stats.retries], [3, 2])
      const once = yield* withClient(() => failedNow, { maxRetries: 1 }, failureOf)
      assert.strictEqual(once.value, "ChatError: the provider failed (HTTP 503) (after 1 retry)")
      const never = yield* withClient(() => failedNow, { maxRetries: 0 }, failureOf)
      assert.strictEqual(never.value, "ChatError: the provider failed (HTTP 503)")
      assert.strictEqual(never.requests.length, 1)
    }))

  it.live("a failure that is not transient is not retried, whatever retries are left", () =>
    Effect.gen(function*() {
      const script: Script = (received) => (received.index === 0 ? failedNow : { status: 404 })
      const { value, requests, stats } = yield* withClient(script, { maxRetries: 3 }, failureOf)
      assert.strictEqual(value, "ChatError: the provider answered HTTP 404 (after 1 retry)")
      assert.deepStrictEqual([requests.length, stats.retries], [2, 1])
    }))

  it.live("a Retry-After over two minutes is not waited for", () =>
    Effect.gen(function*() {
      const script: Script = () => ({ status: 429, headers: { "retry-after": "300" } })
      const { value, requests, stats } = yield* withClient(script, {}, failureOf)
      assert.strictEqual(value, "ChatError: rate limited by the provider (HTTP 429); Retry-After 5m is too long to wait")
      assert.deepStrictEqual([requests.length, stats.retries], [1, 0])
    }))

  it.live("a 400 to JSON mode is asked again without it at once, neither counted nor delayed as a retry", () =>
    Effect.gen(function*() {
      // 503, then the 400 to JSON mode, then 503s without it: two retries in all, as allowed.
      const script: Script = (received) => (received.index === 1 ? { status: 400 } : failedNow)
      const { value, requests, stats } = yield* withClient(script, { maxRetries: 2 }, failureOf)
      assert.strictEqual(value, "ChatError: the provider failed (HTTP 503) (after 2 retries)")
      assert.deepStrictEqual(requests.map((received) => received.jsonMode), [true, true, false, false])
      assert.strictEqual(stats.retries, 2)
    }))

  it.live("a 400 without JSON mode ends the call", () =>
    Effect.gen(function*() {
      const { value, requests } = yield* withClient(() => ({ status: 400 }), {}, failureOf)
      assert.strictEqual(value, "ChatError: the provider answered HTTP 400")
      assert.deepStrictEqual(requests.map((received) => received.jsonMode), [true, false])
    }))

  it.live("a refused key is not retried, and refuses the next call without sending it", () =>
    Effect.gen(function*() {
      const { value, requests } = yield* withClient(() => ({ status: 401 }), {}, (client) =>
        Effect.all([failureOf(client), client.keyRefused, failureOf(client)]))
      assert.match(value[0], /^ChatKeyRefused: the provider refused the API key \(HTTP 401\)/)
      assert.isTrue(value[1])
      assert.strictEqual(value[2], value[0])
      assert.strictEqual(requests.length, 1)
    }))
})

describe("ChatCompletions waits", () => {
  /** Two calls, the second started 150 ms after the first; the gap between the first two requests sent. */
  const secondCallGap = (first: ScriptedReply) =>
    Effect.gen(function*() {
      const script: Script = (received) => (received.index === 0 ? first : answerAll("PRO")(received))
      const { requests, stats } = yield* withClient(script, { maxRetries: 1 }, (client) =>
        Effect.all([
          client.complete(request),
          Effect.andThen(Effect.sleep("150 millis"), client.complete(request))
        ], { concurrency: 2 }))
      assert.strictEqual(requests.length, 3)
      assert.strictEqual(stats.retries, 1)
      return (requests[1]?.receivedAt ?? 0) - (requests[0]?.receivedAt ?? 0)
    })

  it.live("a 5xx's Retry-After holds back every worker, not only the one that received it", () =>
    Effect.gen(function*() {
      const gap = yield* secondCallGap({ status: 503, headers: { "retry-after": "1" } })
      assert.isAtLeast(gap, 950)
    }))

  it.live("a 5xx without Retry-After backs off that request only", () =>
    Effect.gen(function*() {
      const gap = yield* secondCallGap({ status: 503 })
      assert.isBelow(gap, 450)
    }))
})
