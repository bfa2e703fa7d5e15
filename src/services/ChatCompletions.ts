/**
 * An OpenAI-compatible chat-completions client that survives real APIs: a timeout per call,
 * bounded retries with exponential backoff and jitter on 429, 5xx and network errors (honouring
 * Retry-After, which also holds back every other worker), one request-per-minute limit shared by
 * all workers, a cap on the size of an answer, and token accounting from `usage`.
 */
import { Context, Duration, Effect, Layer, Option, Random, Ref, Schema, Stream } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import { RateLimiter } from "effect/persistence"
import type { LlmSettings } from "./Settings.ts"

export interface ChatRequest {
  readonly system: string
  readonly user: string
  /** A JSON schema for the answer, sent as `response_format` while the provider accepts it. */
  readonly schema?: { readonly name: string; readonly schema: object }
  /** Upper bound on the answer's length, in tokens. */
  readonly maxTokens?: number
}

export interface ChatAnswer {
  readonly content: string
  readonly promptTokens: number
  readonly completionTokens: number
}

export interface ChatStats {
  /** HTTP requests sent, retries included. */
  readonly requests: number
  readonly retries: number
  readonly promptTokens: number
  readonly completionTokens: number
}

export class ChatError extends Schema.TaggedError<ChatError>()("ChatError", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

export interface ChatCompletionsApi {
  readonly complete: (request: ChatRequest) => Effect.Effect<ChatAnswer, ChatError>
  readonly stats: Effect.Effect<ChatStats>
}

/** Answers larger than this are refused unread: no classification needs them. */
export const MAX_ANSWER_BYTES = 1024 * 1024
/** Longest Retry-After (or backoff) worth waiting for; beyond it the batch falls back to keywords. */
const MAX_WAIT = Duration.minutes(2)
const BASE_BACKOFF = Duration.seconds(1)

const ChatCompletion = Schema.Struct({
  choices: Schema.NonEmptyArray(Schema.Struct({ message: Schema.Struct({ content: Schema.String }) })),
  usage: Schema.optional(Schema.Struct({
    prompt_tokens: Schema.optional(Schema.Number),
    completion_tokens: Schema.optional(Schema.Number)
  }))
})

/** A failed attempt: retried when `retryable`, after `retryAfter` if the server named one. */
interface Attempt {
  readonly reason: string
  readonly retryable: boolean
  readonly retryAfter: Option.Option<Duration.Duration>
  /** The provider refused `response_format`: try again without it. */
  readonly refusedJsonMode: boolean
}

const attemptFailed = (reason: string, retryable: boolean, retryAfter = Option.none<Duration.Duration>()): Attempt => ({
  reason,
  retryable,
  retryAfter,
  refusedJsonMode: false
})

/** Retry-After as seconds or as an HTTP date. */
export const parseRetryAfter = (value: string | undefined, now: number): Option.Option<Duration.Duration> => {
  if (value === undefined || value.trim() === "") return Option.none()
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Option.some(Duration.seconds(Math.max(0, seconds)))
  const date = Date.parse(value)
  return Number.isNaN(date) ? Option.none() : Option.some(Duration.millis(Math.max(0, date - now)))
}

/** Exponential backoff with jitter: between half and all of 1 s, 2 s, 4 s … (capped). */
const backoff = (retry: number) =>
  Effect.map(Random.next, (random) =>
    Duration.millis(Math.min(Duration.toMillis(MAX_WAIT), Duration.toMillis(BASE_BACKOFF) * 2 ** retry) * (0.5 + random / 2)))

/** Estimated tokens when a server reports no `usage` (about four characters per token). */
const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

/** The body as text, refusing more than MAX_ANSWER_BYTES. */
const cappedText = (response: HttpClientResponse.HttpClientResponse) => {
  const declared = Number(response.headers["content-length"] ?? "0")
  if (declared > MAX_ANSWER_BYTES) {
    return Effect.fail(attemptFailed(`the answer is ${declared} bytes, over the ${MAX_ANSWER_BYTES}-byte limit`, false))
  }
  return response.stream.pipe(
    Stream.mapError((error) => attemptFailed(error.message, true)),
    Stream.runFoldEffect(
      () => ({ size: 0, chunks: new Array<Uint8Array>() }),
      (acc, chunk) => {
        const size = acc.size + chunk.length
        if (size > MAX_ANSWER_BYTES) {
          return Effect.fail(attemptFailed(`the answer is over the ${MAX_ANSWER_BYTES}-byte limit`, false))
        }
        acc.chunks.push(chunk)
        return Effect.succeed({ size, chunks: acc.chunks })
      }
    ),
    Effect.map((acc) => Buffer.concat(acc.chunks).toString("utf8"))
  )
}

const statusFailure = (response: HttpClientResponse.HttpClientResponse, now: number, sentSchema: boolean): Attempt => {
  const status = response.status
  const retryAfter = parseRetryAfter(response.headers["retry-after"], now)
  if (status === 429) return attemptFailed("rate limited by the provider (HTTP 429)", true, retryAfter)
  if (status >= 500) return attemptFailed(`the provider failed (HTTP ${status})`, true, retryAfter)
  if (status === 401 || status === 403) {
    return attemptFailed(`the provider refused the API key (HTTP ${status}): check PROTON_LUMO_LLM_API_KEY`, false)
  }
  if (status === 400 && sentSchema) return { ...attemptFailed(`HTTP 400`, false), refusedJsonMode: true }
  return attemptFailed(`the provider answered HTTP ${status}`, false)
}

const requestFailure = (error: HttpClientError.HttpClientError): Attempt =>
  attemptFailed(`cannot reach the provider (${error.reason._tag})`, true)

export const makeChatCompletions = Effect.fnUntraced(function*(settings: LlmSettings) {
  const http = yield* HttpClient.HttpClient
  const limiter = yield* RateLimiter.RateLimiter
  const stats = yield* Ref.make<ChatStats>({ requests: 0, retries: 0, promptTokens: 0, completionTokens: 0 })
  /** Until when a Retry-After holds every worker back (epoch millis). */
  const pausedUntil = yield* Ref.make(0)
  const jsonMode = yield* Ref.make(settings.jsonMode)
  const spacing = Duration.millis(60_000 / settings.maxRequestsPerMinute)

  /** Waits for this request's turn: the shared pause, then the shared per-minute spacing. */
  const turn = Effect.gen(function*() {
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const pause = (yield* Ref.get(pausedUntil)) - now
    if (pause > Duration.toMillis(MAX_WAIT)) {
      return yield* Effect.fail(attemptFailed(`rate limited by the provider for ${Math.ceil(pause / 1000)} s more`, false))
    }
    if (pause > 0) yield* Effect.sleep(Duration.millis(pause))
    const slot = yield* limiter.consume({
      key: "chat-completions",
      limit: 1,
      window: spacing,
      algorithm: "token-bucket",
      onExceeded: "delay"
    }).pipe(Effect.orDie)
    yield* Effect.sleep(slot.delay)
  })

  const authorize = (request: HttpClientRequest.HttpClientRequest) =>
    Option.match(settings.apiKey, {
      onNone: () => request,
      onSome: (key) => HttpClientRequest.bearerToken(request, key)
    })

  /** One HTTP request, start to decoded answer; the timeout starts once it is this request's turn. */
  const send = (request: ChatRequest, withSchema: boolean) =>
    Effect.andThen(turn, Effect.gen(function*() {
      yield* Ref.update(stats, (s) => ({ ...s, requests: s.requests + 1 }))
      const body = {
        model: settings.model,
        temperature: 0,
        ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
        messages: [
          { role: "system", content: request.system },
          { role: "user", content: request.user }
        ],
        ...(withSchema && request.schema !== undefined
          ? { response_format: { type: "json_schema", json_schema: { ...request.schema, strict: true } } }
          : {})
      }
      const response = yield* HttpClientRequest.post(`${settings.baseUrl}/chat/completions`).pipe(
        HttpClientRequest.acceptJson,
        authorize,
        HttpClientRequest.bodyJsonUnsafe(body),
        http.execute,
        Effect.mapError(requestFailure)
      )
      if (response.status < 200 || response.status >= 300) {
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        return yield* Effect.fail(statusFailure(response, now, withSchema && request.schema !== undefined))
      }
      const text = yield* cappedText(response)
      const completion = yield* Effect.try({
        try: (): unknown => JSON.parse(text),
        catch: () => attemptFailed("the provider's answer is not JSON", false)
      }).pipe(
        Effect.flatMap((json) =>
          Schema.decodeUnknownEffect(ChatCompletion)(json).pipe(
            Effect.mapError(() => attemptFailed("the provider's answer has no choices[0].message.content", false))
          )
        )
      )
      const content = completion.choices[0].message.content
      const answer: ChatAnswer = {
        content,
        promptTokens: completion.usage?.prompt_tokens ?? estimateTokens(request.system + request.user),
        completionTokens: completion.usage?.completion_tokens ?? estimateTokens(content)
      }
      return answer
    }).pipe(
      Effect.timeoutOrElse({
        duration: settings.timeout,
        orElse: () => Effect.fail(attemptFailed(`no answer within ${Duration.format(settings.timeout)}`, false))
      })
    ))

  const attempt = (request: ChatRequest, retry: number): Effect.Effect<ChatAnswer, ChatError> =>
    Effect.flatMap(Ref.get(jsonMode), (withSchema) =>
      send(request, withSchema).pipe(
        Effect.catch((failed): Effect.Effect<ChatAnswer, ChatError> => {
          if (failed.refusedJsonMode) {
            return Ref.set(jsonMode, false).pipe(
              Effect.andThen(Effect.logWarning("the LLM provider refused response_format; continuing without JSON mode")),
              Effect.andThen(attempt(request, retry))
            )
          }
          if (!failed.retryable || retry >= settings.maxRetries) {
            const tries = retry === 0 ? "" : ` (after ${retry} ${retry === 1 ? "retry" : "retries"})`
            return Effect.fail(new ChatError({ reason: `${failed.reason}${tries}` }))
          }
          return Effect.gen(function*() {
            const wait = Option.isSome(failed.retryAfter) ? failed.retryAfter.value : yield* backoff(retry)
            if (Duration.isGreaterThan(wait, MAX_WAIT)) {
              return yield* new ChatError({ reason: `${failed.reason}; Retry-After ${Duration.format(wait)} is too long to wait` })
            }
            if (Option.isSome(failed.retryAfter)) {
              const until = (yield* Effect.clockWith((clock) => clock.currentTimeMillis)) + Duration.toMillis(wait)
              yield* Ref.update(pausedUntil, (current) => Math.max(current, until))
            } else {
              yield* Effect.sleep(wait)
            }
            yield* Ref.update(stats, (s) => ({ ...s, retries: s.retries + 1 }))
            return yield* attempt(request, retry + 1)
          })
        })
      ))

  const complete = Effect.fn("ChatCompletions.complete")(function*(request: ChatRequest) {
    const answer = yield* attempt(request, 0)
    yield* Ref.update(stats, (s) => ({
      ...s,
      promptTokens: s.promptTokens + answer.promptTokens,
      completionTokens: s.completionTokens + answer.completionTokens
    }))
    return answer
  })

  const api: ChatCompletionsApi = { complete, stats: Ref.get(stats) }
  return api
})

export class ChatCompletions extends Context.Service<ChatCompletions, ChatCompletionsApi>()("proton-lumo-ai/ChatCompletions") {
  static readonly layer = (settings: LlmSettings): Layer.Layer<ChatCompletions, never, HttpClient.HttpClient> =>
    Layer.effect(ChatCompletions, makeChatCompletions(settings)).pipe(
      Layer.provide(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory)))
    )
}
