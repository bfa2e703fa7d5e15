/**
 * A fake OpenAI-compatible chat-completions server on 127.0.0.1 (real HTTP), whose answers a
 * test scripts per request: content, status, delay. It records every request it receives.
 */
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Predicate } from "effect"

export interface ChatEmail {
  readonly id: string
  readonly from: string
  readonly subject: string
  readonly body: string
}

export interface ReceivedRequest {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: unknown
  /** The emails of the batch, decoded from the user message. */
  readonly emails: ReadonlyArray<ChatEmail>
}

export interface ScriptedReply {
  readonly status?: number
  readonly delayMillis?: number
  /** The assistant's message content (wrapped in a chat-completions body), or a raw body. */
  readonly content?: string
  readonly rawBody?: string
}

export type Script = (request: ReceivedRequest) => ScriptedReply

const isChatEmail = (value: unknown): value is ChatEmail =>
  Predicate.isObject(value) && Predicate.isString(Reflect.get(value, "id")) &&
  Predicate.isString(Reflect.get(value, "subject")) && Predicate.isString(Reflect.get(value, "body"))

/** The JSON array the classifier put in the user message. */
const emailsOf = (body: unknown): ReadonlyArray<ChatEmail> => {
  if (!Predicate.isObject(body)) return []
  const messages = Reflect.get(body, "messages")
  if (!Array.isArray(messages)) return []
  const user: unknown = messages.find((message: unknown) => Predicate.isObject(message) && Reflect.get(message, "role") === "user")
  const content = Predicate.isObject(user) ? Reflect.get(user, "content") : undefined
  if (!Predicate.isString(content)) return []
  const parsed: unknown = JSON.parse(content.slice(content.indexOf("[")))
  return Array.isArray(parsed) ? parsed.filter(isChatEmail) : []
}

/** Starts the server for the scope of the test; `baseUrl` ends in /v1 like Ollama's. */
export const fakeLlmServer = (script: Script) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const requests: Array<ReceivedRequest> = []
      const server = createServer((incoming, response) => {
        const chunks: Array<Buffer> = []
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk))
        incoming.on("end", () => {
          const body: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8") || "null")
          const request: ReceivedRequest = { path: incoming.url ?? "", headers: incoming.headers, body, emails: emailsOf(body) }
          requests.push(request)
          const reply = script(request)
          const send = () => {
            response.writeHead(reply.status ?? 200, { "content-type": "application/json" })
            response.end(
              reply.rawBody ?? JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: reply.content ?? "[]" } }] })
            )
          }
          if (reply.delayMillis === undefined) send()
          else setTimeout(send, reply.delayMillis).unref()
        })
      })
      return new Promise<{ baseUrl: string; requests: Array<ReceivedRequest>; close: () => void }>((resolve) => {
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as AddressInfo // node:http boundary: listen() on a TCP port gives AddressInfo
          resolve({
            baseUrl: `http://127.0.0.1:${port}/v1`,
            requests,
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

/** An answer naming `category` with `confidence` for every email of the request. */
export const answerAll = (category: string, confidence = 0.9): Script => (request) => ({
  content: JSON.stringify(request.emails.map((email) => ({ id: email.id, category, confidence, reason: "fake" })))
})
