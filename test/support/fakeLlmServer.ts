/**
 * A fake OpenAI-compatible chat-completions server on 127.0.0.1 (real HTTP), whose answers a
 * test scripts per request: content, status, headers, delay, a raw body. It records every
 * request it receives, with the time it arrived, and how many it answered at once.
 */
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Predicate } from "effect"

export interface ChatEmail {
  readonly id: string
  readonly from: string
  readonly subject: string
  readonly body?: string
}

export interface ReceivedRequest {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: unknown
  /** The emails of the batch, decoded from the user message. */
  readonly emails: ReadonlyArray<ChatEmail>
  /** Whether the request asked for JSON output (`response_format`). */
  readonly jsonMode: boolean
  readonly receivedAt: number
  /** 0 for the first request the server received. */
  readonly index: number
}

export interface ScriptedReply {
  readonly status?: number
  readonly headers?: Record<string, string>
  readonly delayMillis?: number
  /** The assistant's message content, wrapped in a chat-completions body with `usage`. */
  readonly content?: string
  /** A body sent as is instead. */
  readonly rawBody?: string
}

export type Script = (request: ReceivedRequest) => ScriptedReply

const isChatEmail = (value: unknown): value is ChatEmail =>
  Predicate.isObject(value) && Predicate.isString(Reflect.get(value, "id")) &&
  Predicate.isString(Reflect.get(value, "subject"))

/** The text of the request's message with this role ("" when there is none). */
export const messageOf = (body: unknown, role: "system" | "user"): string => {
  const messages = Predicate.isObject(body) ? Reflect.get(body, "messages") : undefined
  if (!Array.isArray(messages)) return ""
  const found: unknown = messages.find((message: unknown) => Predicate.isObject(message) && Reflect.get(message, "role") === role)
  const content = Predicate.isObject(found) ? Reflect.get(found, "content") : undefined
  return Predicate.isString(content) ? content : ""
}

/** The JSON array the classifier put in the user message, after the examples (if any). */
const emailsOf = (body: unknown): ReadonlyArray<ChatEmail> => {
  const content = messageOf(body, "user")
  const start = content.indexOf("[", content.indexOf("Emails to classify:"))
  if (start === -1) return []
  const parsed: unknown = JSON.parse(content.slice(start))
  return Array.isArray(parsed) ? parsed.filter(isChatEmail) : []
}

const parseBody = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export interface FakeLlmServer {
  /** Ends in /v1, like Ollama's. */
  readonly baseUrl: string
  readonly requests: Array<ReceivedRequest>
  /** The most requests it was answering at the same time. */
  readonly maxInFlight: () => number
}

/** Starts the server for the scope of the test. */
export const fakeLlmServer = (script: Script) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const requests: Array<ReceivedRequest> = []
      let inFlight = 0
      let maxInFlight = 0
      const server = createServer((incoming, response) => {
        inFlight += 1
        maxInFlight = Math.max(maxInFlight, inFlight)
        response.once("close", () => (inFlight -= 1))
        const chunks: Array<Buffer> = []
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk))
        incoming.on("end", () => {
          const body = parseBody(Buffer.concat(chunks).toString("utf8"))
          const request: ReceivedRequest = {
            path: incoming.url ?? "",
            headers: incoming.headers,
            body,
            emails: emailsOf(body),
            jsonMode: Predicate.isObject(body) && Reflect.get(body, "response_format") !== undefined,
            receivedAt: Date.now(),
            index: requests.length
          }
          requests.push(request)
          const reply = script(request)
          const send = () => {
            if (response.destroyed) return
            response.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
            const content = reply.content ?? "[]"
            response.end(
              reply.rawBody ?? JSON.stringify({
                choices: [{ index: 0, message: { role: "assistant", content } }],
                usage: { prompt_tokens: Math.ceil(JSON.stringify(body).length / 4), completion_tokens: Math.ceil(content.length / 4) }
              })
            )
          }
          if (reply.delayMillis === undefined) send()
          else setTimeout(send, reply.delayMillis).unref()
        })
      })
      return new Promise<FakeLlmServer & { readonly close: () => void }>((resolve) => {
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as AddressInfo // node:http boundary: listen() on a TCP port gives AddressInfo
          resolve({
            baseUrl: `http://127.0.0.1:${port}/v1`,
            requests,
            maxInFlight: () => maxInFlight,
            close: () => {
              server.closeAllConnections()
              server.close()
            }
          })
        })
      })
    }),
    (server) => Effect.sync(server.close)
  )

/** An answer naming `category` for every email of the request. */
export const answerAll = (category: string, confidence = 0.9): Script => (request) => ({
  content: JSON.stringify(request.emails.map((email) => ({ id: email.id, category, confidence, reason: "fake" })))
})

/** A model that knows the truth: each email's category, by subject. */
export const oracle = (truth: (subject: string) => string): Script => (request) => ({
  content: JSON.stringify({
    classifications: request.emails.map((email) => ({
      id: email.id,
      category: truth(email.subject),
      confidence: 0.95,
      reason: "oracle"
    }))
  })
})

export type Fault =
  | "latency"
  | "rate-limited"
  | "server-error"
  | "hang"
  | "not-json"
  | "fenced"
  | "wrong-ids"
  | "half-missing"
  | "invented-categories"
  | "huge"

export const allFaults: ReadonlyArray<Fault> = [
  "latency",
  "rate-limited",
  "server-error",
  "hang",
  "not-json",
  "fenced",
  "wrong-ids",
  "half-missing",
  "invented-categories",
  "huge"
]

/** `honest`'s reply spoiled by `fault`. */
export const withFault = (fault: Fault, honest: Script, request: ReceivedRequest): ScriptedReply => {
  const reply = honest(request)
  const items = (): Array<Record<string, unknown>> => {
    const parsed: unknown = JSON.parse(reply.content ?? "[]")
    const list: unknown = Array.isArray(parsed) ? parsed : Predicate.isObject(parsed) ? Reflect.get(parsed, "classifications") : []
    return Array.isArray(list) ? list.filter(Predicate.isObject).map((item) => ({ ...item })) : []
  }
  switch (fault) {
    case "latency":
      return { ...reply, delayMillis: 300 }
    case "rate-limited":
      return { status: 429, headers: { "retry-after": "1" }, rawBody: "{\"error\":\"rate limited\"}" }
    case "server-error":
      return { status: 503, rawBody: "<html>upstream error</html>" }
    case "hang":
      return { ...reply, delayMillis: 60_000 }
    case "not-json":
      return { content: "Sorry, I cannot classify these emails today." }
    case "fenced":
      return { content: "Here is my answer:\n```json\n" + (reply.content ?? "[]") + "\n```\nAnything else?" }
    case "wrong-ids":
      return { content: JSON.stringify(items().map((item, index) => ({ ...item, id: String(100 + index) }))) }
    case "half-missing":
      return { content: JSON.stringify(items().filter((_, index) => index % 2 === 0)) }
    case "invented-categories":
      return { content: JSON.stringify(items().map((item) => ({ ...item, category: "IMPORTANT_STUFF", confidence: 0.99 }))) }
    case "huge":
      return { content: JSON.stringify(items()) + " ".repeat(2 * 1024 * 1024) }
  }
}
