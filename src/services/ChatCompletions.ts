/**
 * An OpenAI-compatible chat-completions client that survives real APIs: a timeout per call,
 * bounded retries with exponential backoff and jitter on 429, 5xx and network errors (honouring
 * Retry-After; a 429 holds back every worker), a requests-per-minute limit shared by all workers
 * that still lets them call at once, no more calls once the key is refused, JSON mode dropped
 * only when the provider is shown to refuse it, a cap on the size of an answer, and token
 * accounting from `usage`.
 */
import { Context, Duration, Effect, Layer, Option, Random, Ref, Schedule, Schema, Semaphore, Stream } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import * as RequestRate from "./RequestRate.ts"
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
  reason: Schema.String,
  /**
   * Tokens the provider may bill although no answer was had (the request was sent, then timed out,
   * or its answer was too big or unreadable): the request's estimate, counted as spent.
   */
  unansweredTokens: Schema.Number
}) {
  override get message(): string {
    return this.reason
  }
}

/** The provider refused the API key (401/403): no request is sent until `retryKey`. */
export class ChatKeyRefused extends Schema.TaggedError<ChatKeyRefused>()("ChatKeyRefused", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

export interface ChatCompletionsApi {
  readonly complete: (request: ChatRequest) => Effect.Effect<ChatAnswer, ChatError | ChatKeyRefused>
  readonly stats: Effect.Effect<ChatStats>
  /** Whether a 401/403 stopped the calls (until `retryKey`). */
  readonly keyRefused: Effect.Effect<boolean>
  /** Forgets a refused key: the next call tries it again (a new pass). */
  readonly retryKey: Effect.Effect<void>
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

/**
 * Why an attempt failed, which decides what happens next: `transient` (5xx, network) and
 * `rate-limited` (429) are retried, `rate-limited` holding back every worker; `bad-request`
 * (400) may be the provider refusing `response_format`; `refused-key` (401/403) stops all calls
 * until `retryKey`; `final` is given up at once.
 */
type FailureKind = "transient" | "rate-limited" | "bad-request" | "refused-key" | "final"

/**
 * A failed attempt: retried when its kind allows, after `retryAfter` if the server named one.
 * `unansweredTokens`: what it may be billed for though its answer was lost (see ChatError).
 */
interface Attempt {
  readonly reason: string
  readonly kind: FailureKind
  readonly retryAfter: Option.Option<Duration.Duration>
  readonly unansweredTokens: number
}

const attemptFailed = (reason: string, kind: FailureKind, retryAfter = Option.none<Duration.Duration>()): Attempt => ({
  reason,
  kind,
  retryAfter,
  unansweredTokens: 0
})

/** The attempt failed after the provider had the request and began to answer: it may be billed for it. */
const billedFor = (request: ChatRequest) => (failed: Attempt): Attempt => ({
  ...failed,
  unansweredTokens: estimateRequestTokens(request)
})

const isRetryable = (failed: Attempt): boolean => failed.kind === "transient" || failed.kind === "rate-limited"

/** Retry-After as seconds or as an HTTP date. */
export const parseRetryAfter = (value: string | undefined, now: number): Option.Option<Duration.Duration> => {
  if (value === undefined || value.trim() === "") return Option.none()
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Option.some(Duration.seconds(Math.max(0, seconds)))
  const date = Date.parse(value)
  return Number.isNaN(date) ? Option.none() : Option.some(Duration.millis(Math.max(0, date - now)))
}

/** 1 s, 2 s, 4 s … capped at MAX_WAIT: the backoff before jitter (see `jittered`). */
const backoff = Schedule.min([Schedule.exponential(BASE_BACKOFF), Schedule.spaced(MAX_WAIT)])

/**
 * Between half and all of `delay`, so that workers failing together do not retry together.
 * Not `Schedule.jittered` (80–120 %): the backoff must never exceed MAX_WAIT.
 */
const jittered = (delay: Duration.Duration) => Effect.map(Random.next, (random) => Duration.times(delay, 0.5 + random / 2))

/** Estimated tokens when a server reports no `usage` (about four characters per token). */
const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

/**
 * What a request is expected to cost at most, reserved from the budget before it is sent: its
 * text at about four characters a token, plus the cap on its answer.
 */
export const estimateRequestTokens = (request: ChatRequest): number =>
  estimateTokens(request.system + request.user) + (request.maxTokens ?? 0)

/** The body as text, refusing more than MAX_ANSWER_BYTES. */
const cappedText = (response: HttpClientResponse.HttpClientResponse) => {
  const declared = Number(response.headers["content-length"] ?? "0")
  if (declared > MAX_ANSWER_BYTES) {
    return Effect.fail(attemptFailed(`the answer is ${declared} bytes, over the ${MAX_ANSWER_BYTES}-byte limit`, "final"))
  }
  return response.stream.pipe(
    Stream.mapError((error) => attemptFailed(error.message, "transient")),
    Stream.runFoldEffect(
      () => ({ size: 0, chunks: new Array<Uint8Array>() }),
      (acc, chunk) => {
        const size = acc.size + chunk.length
        if (size > MAX_ANSWER_BYTES) {
          return Effect.fail(attemptFailed(`the answer is over the ${MAX_ANSWER_BYTES}-byte limit`, "final"))
        }
        acc.chunks.push(chunk)
        return Effect.succeed({ size, chunks: acc.chunks })
      }
    ),
    Effect.map((acc) => Buffer.concat(acc.chunks).toString("utf8"))
  )
}

const statusFailure = (response: HttpClientResponse.HttpClientResponse, now: number): Attempt => {
  const status = response.status
  const retryAfter = parseRetryAfter(response.headers["retry-after"], now)
  if (status === 429) return attemptFailed("rate limited by the provider (HTTP 429)", "rate-limited", retryAfter)
  if (status >= 500) return attemptFailed(`the provider failed (HTTP ${status})`, "transient", retryAfter)
  if (status === 401 || status === 403) {
    return attemptFailed(
      `the provider refused the API key (HTTP ${status}): check PROTON_LUMO_LLM_API_KEY / PERPLEXITY_API_KEY`,
      "refused-key"
    )
  }
  if (status === 400) return attemptFailed("the provider answered HTTP 400", "bad-request")
  return attemptFailed(`the provider answered HTTP ${status}`, "final")
}

const requestFailure = (error: HttpClientError.HttpClientError): Attempt =>
  attemptFailed(`cannot reach the provider (${error.reason._tag})`, "transient")

/** The answer and its tokens (estimated when the server reports no `usage`). */
const decode = (request: ChatRequest, text: string) =>
  Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: () => attemptFailed("the provider's answer is not JSON", "final")
  }).pipe(
    Effect.flatMap((json) =>
      Schema.decodeUnknownEffect(ChatCompletion)(json).pipe(
        Effect.mapError(() => attemptFailed("the provider's answer has no choices[0].message.content", "final"))
      )
    ),
    Effect.map((completion): ChatAnswer => {
      const content = completion.choices[0].message.content
      return {
        content,
        promptTokens: completion.usage?.prompt_tokens ?? estimateTokens(request.system + request.user),
        completionTokens: completion.usage?.completion_tokens ?? estimateTokens(content)
      }
    })
  )

const now = Effect.clockWith((clock) => clock.currentTimeMillis)

/**
 * What every caller of one provider shares, however many accounts call it: the per-minute
 * limit, the pause after a 429, whether JSON mode works, and a refused key.
 */
export interface ChatGate {
  readonly rate: RequestRate.RequestRate
  /** Until when a 429 or a Retry-After holds every worker back (epoch millis). */
  readonly pausedUntil: Ref.Ref<number>
  readonly jsonMode: Ref.Ref<boolean>
  /** Why the key was refused, until `retryKey`: no request is sent meanwhile. */
  readonly keyRefusal: Ref.Ref<Option.Option<string>>
  /** Requests in flight at once, all callers together (none: each caller's own workers bound them). */
  readonly inFlight: Option.Option<Semaphore.Semaphore>
}

/** `maxInFlight`: at most that many requests at once across everyone behind the gate. */
export const makeChatGate = Effect.fnUntraced(function*(settings: LlmSettings, maxInFlight?: number) {
  const gate: ChatGate = {
    rate: yield* RequestRate.perMinute(settings.maxRequestsPerMinute),
    pausedUntil: yield* Ref.make(0),
    jsonMode: yield* Ref.make(settings.jsonMode),
    keyRefusal: yield* Ref.make(Option.none<string>()),
    inFlight: maxInFlight === undefined ? Option.none() : Option.some(yield* Semaphore.make(maxInFlight))
  }
  return gate
})

/** The client; its counts (`stats`) are its own, its `gate` may be shared with other clients. */
export const makeChatCompletions = Effect.fnUntraced(function*(settings: LlmSettings, gate?: ChatGate) {
  const http = yield* HttpClient.HttpClient
  const { rate, pausedUntil, jsonMode, keyRefusal, inFlight } = gate ?? (yield* makeChatGate(settings))
  const withinInFlightLimit = <A, E>(request: Effect.Effect<A, E>) =>
    Option.isSome(inFlight) ? inFlight.value.withPermits(1)(request) : request
  const stats = yield* Ref.make<ChatStats>({ requests: 0, retries: 0, promptTokens: 0, completionTokens: 0 })

  /** Waits for this request's turn: a start within the per-minute limit, then the shared pause. */
  const turn = Effect.gen(function*() {
    yield* rate.take
    const pause = (yield* Ref.get(pausedUntil)) - (yield* now)
    if (pause > Duration.toMillis(MAX_WAIT)) {
      return yield* Effect.fail(attemptFailed(`rate limited by the provider for ${Math.ceil(pause / 1000)} s more`, "final"))
    }
    if (pause > 0) yield* Effect.sleep(Duration.millis(pause))
  })

  /** Checked before and after waiting for a turn, so a request that waited does not go out after a refusal. */
  const keyNotRefused = Effect.flatMap(Ref.get(keyRefusal), (refusal) =>
    Option.match(refusal, {
      onNone: () => Effect.void,
      onSome: (reason) => Effect.fail(attemptFailed(reason, "refused-key"))
    }))

  const authorize = (request: HttpClientRequest.HttpClientRequest) =>
    Option.match(settings.apiKey, {
      onNone: () => request,
      onSome: (key) => HttpClientRequest.bearerToken(request, key)
    })

  const body = (request: ChatRequest, withSchema: boolean) => ({
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
  })

  /**
   * One HTTP request, start to decoded answer; the timeout starts once it is this request's turn
   * (and, behind a shared gate, once one of the requests in flight has ended).
   */
  const send = (request: ChatRequest, withSchema: boolean) =>
    withinInFlightLimit(Effect.andThen(
      Effect.andThen(keyNotRefused, turn),
      Effect.gen(function*() {
        yield* keyNotRefused
        yield* Ref.update(stats, (s) => ({ ...s, requests: s.requests + 1 }))
        const response = yield* HttpClientRequest.post(`${settings.baseUrl}/chat/completions`).pipe(
          HttpClientRequest.acceptJson,
          authorize,
          HttpClientRequest.bodyJsonUnsafe(body(request, withSchema)),
          http.execute,
          Effect.mapError(requestFailure)
        )
        if (response.status < 200 || response.status >= 300) return yield* Effect.fail(statusFailure(response, yield* now))
        return yield* cappedText(response).pipe(
          Effect.flatMap((text) => decode(request, text)),
          Effect.mapError(billedFor(request))
        )
      }).pipe(
        Effect.timeoutOrElse({
          duration: settings.timeout,
          orElse: () =>
            Effect.fail(billedFor(request)(attemptFailed(`no answer within ${Duration.format(settings.timeout)}`, "final")))
        })
      )
    ))

  /** The error a failure ends with, `retries` retries after the first try. */
  const giveUp = (failed: Attempt, retries: number): Effect.Effect<never, ChatError | ChatKeyRefused> => {
    if (failed.kind === "refused-key") {
      return Effect.andThen(Ref.set(keyRefusal, Option.some(failed.reason)), Effect.fail(new ChatKeyRefused({ reason: failed.reason })))
    }
    const tries = retries === 0 ? "" : ` (after ${retries} ${retries === 1 ? "retry" : "retries"})`
    // Counted with the prompt's: the provider's bill does not say how it would split them.
    return Effect.andThen(
      Ref.update(stats, (s) => ({ ...s, promptTokens: s.promptTokens + failed.unansweredTokens })),
      Effect.fail(new ChatError({ reason: `${failed.reason}${tries}`, unansweredTokens: failed.unansweredTokens }))
    )
  }

  /**
   * The delay before a retry: the server's Retry-After, else the jittered `backoffDelay`. A 429 or a
   * Retry-After holds back every worker, so it moves `pausedUntil` (the next `turn` sleeps it) and
   * the schedule itself does not wait; other failures wait here, for this request alone.
   */
  const waitToRetry = (failed: Attempt, backoffDelay: Duration.Duration) =>
    Effect.gen(function*() {
      const wait = Option.isSome(failed.retryAfter) ? failed.retryAfter.value : yield* jittered(backoffDelay)
      if (Duration.isGreaterThan(wait, MAX_WAIT)) {
        return yield* new ChatError({
          reason: `${failed.reason}; Retry-After ${Duration.format(wait)} is too long to wait`,
          unansweredTokens: 0
        })
      }
      if (failed.kind !== "rate-limited" && Option.isNone(failed.retryAfter)) return wait
      const until = (yield* now) + Duration.toMillis(wait)
      yield* Ref.update(pausedUntil, (current) => Math.max(current, until))
      return Duration.zero
    })

  /**
   * Which failed attempts are tried again, and when: `transient` and `rate-limited` ones, at most
   * `maxRetries` times, after `waitToRetry`. Its output is the number of retries before the
   * failure it was given (its `attempt` counts failures), which the give-up message tells; that
   * is why `complete` uses `Effect.retryOrElse`. `while` is here, not in `Effect.retry`'s
   * options: those apply it only after the schedule's effects have run.
   */
  const retrySchedule = backoff.pipe(
    Schedule.setInputType<Attempt>(),
    // The filters come first: the steps after them have effects that a failure given up must not have.
    Schedule.upTo({ times: settings.maxRetries }),
    Schedule.while(({ input }) => isRetryable(input)),
    Schedule.modifyDelay(({ input, duration }) => waitToRetry(input, duration)),
    Schedule.tap(() => Ref.update(stats, (s) => ({ ...s, retries: s.retries + 1 }))),
    Schedule.map(({ attempt }) => attempt - 1)
  )

  /**
   * One try, JSON schema included while `withSchema` holds. A 400 to a request that carried
   * `response_format` is asked again at once without it (neither counted nor delayed as a retry),
   * and so are the retries that follow: see `complete` for what that says about JSON mode.
   */
  const attempt = (request: ChatRequest, withSchema: Ref.Ref<boolean>) =>
    Effect.flatMap(Ref.get(withSchema), (schema) =>
      send(request, schema).pipe(
        Effect.catchIf((failed) => schema && failed.kind === "bad-request", () => withoutJsonMode(request, withSchema))
      ))

  const withoutJsonMode = (request: ChatRequest, withSchema: Ref.Ref<boolean>) =>
    Effect.andThen(Ref.set(withSchema, false), send(request, false))

  /**
   * Only if a request without `response_format` succeeds was JSON mode the trouble, and it is
   * dropped for good; otherwise the 400 was about something else, and JSON mode stays.
   */
  const dropJsonMode = Effect.flatMap(Ref.getAndSet(jsonMode, false), (wasOn) =>
    wasOn ? Effect.logWarning("the LLM provider refused response_format; continuing without JSON mode") : Effect.void)

  const complete = Effect.fn("ChatCompletions.complete")(function*(request: ChatRequest) {
    const schemaAsked = (yield* Ref.get(jsonMode)) && request.schema !== undefined
    const withSchema = yield* Ref.make(schemaAsked)
    const answer = yield* attempt(request, withSchema).pipe(Effect.retryOrElse(retrySchedule, giveUp))
    if (schemaAsked && !(yield* Ref.get(withSchema))) yield* dropJsonMode
    yield* Ref.update(stats, (s) => ({
      ...s,
      promptTokens: s.promptTokens + answer.promptTokens,
      completionTokens: s.completionTokens + answer.completionTokens
    }))
    return answer
  })

  const api: ChatCompletionsApi = {
    complete,
    stats: Ref.get(stats),
    keyRefused: Effect.map(Ref.get(keyRefusal), Option.isSome),
    retryKey: Ref.set(keyRefusal, Option.none())
  }
  return api
})

export class ChatCompletions extends Context.Service<ChatCompletions, ChatCompletionsApi>()("proton-lumo-ai/ChatCompletions") {
  static readonly layer = (settings: LlmSettings): Layer.Layer<ChatCompletions, never, HttpClient.HttpClient> =>
    Layer.effect(ChatCompletions, makeChatCompletions(settings))

  /** A client of its own counts behind a `gate` shared with others (several accounts, one provider). */
  static readonly layerShared = (
    settings: LlmSettings,
    gate: ChatGate
  ): Layer.Layer<ChatCompletions, never, HttpClient.HttpClient> => Layer.effect(ChatCompletions, makeChatCompletions(settings, gate))
}
