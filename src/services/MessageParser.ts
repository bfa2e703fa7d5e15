/**
 * Reads fetched messages (MIME → sender, subject, text): the pipeline's most CPU-hungry step.
 * The live layer runs it on worker threads, so that on a machine with a core to spare parsing
 * overlaps with IMAP, classification and moves on the main thread instead of queueing behind
 * them; `layerInline` parses on the event loop (tests, one-core machines).
 */
import { availableParallelism } from "node:os"
import { extname } from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import { Context, Effect, Layer, Schema } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { FetchedMessage } from "../domain/Email.ts"
import { PARSER_THREAD, type ReadJob } from "../mime/parserThread.ts"
import { type ReadResult, readMessage } from "../mime/readMessage.ts"
import { Settings } from "./Settings.ts"

export interface MessageParserApi {
  /** One result per message, in order. Never fails: an unreadable message is a result too. */
  readonly read: (messages: NonEmptyReadonlyArray<FetchedMessage>) => Effect.Effect<ReadonlyArray<ReadResult>>
}

/** What a parser thread says (that it is ready; a chunk's results), checked before it is trusted. */
const ThreadReady = Schema.Struct({ ready: Schema.Literal(true) })
const ThreadAnswer = Schema.Struct({
  id: Schema.Number,
  results: Schema.Array(Schema.Union([
    Schema.Struct({
      _tag: Schema.Literal("Read"),
      email: Schema.Struct({
        uid: Schema.Number,
        messageId: Schema.UndefinedOr(Schema.String),
        fingerprint: Schema.String,
        from: Schema.String,
        fromAddress: Schema.String,
        fromName: Schema.String,
        to: Schema.Array(Schema.String),
        cc: Schema.Array(Schema.String),
        listId: Schema.String,
        listUnsubscribe: Schema.Boolean,
        date: Schema.UndefinedOr(Schema.Number),
        subject: Schema.String,
        body: Schema.String
      }),
      attachments: Schema.Number
    }),
    Schema.Struct({ _tag: Schema.Literal("Unreadable"), uid: Schema.Number, reason: Schema.String, retry: Schema.Boolean })
  ]))
})
const decodeReply = Schema.decodeUnknownOption(Schema.Union([ThreadReady, ThreadAnswer]))

/** The thread entry beside this file: `.ts` when run from source, `.js` once compiled. */
const threadEntry = new URL(`../mime/parserThread${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

const readAll = (messages: ReadonlyArray<Pick<FetchedMessage, "uid" | "source">>): Promise<Array<ReadResult>> =>
  Promise.all(messages.map(readMessage))

const readInline = (messages: ReadonlyArray<Pick<FetchedMessage, "uid" | "source">>) => Effect.promise(() => readAll(messages))

interface Chunk {
  readonly messages: ReadJob["messages"]
  readonly resume: (results: ReadonlyArray<ReadResult>) => void
}

/** Whether a result says the thread stopped while reading (not that the message is unreadable). */
const stoppedThread = (result: ReadResult): boolean => result._tag === "Unreadable" && result.retry

const stopped = (uid: number, code: number): ReadResult => ({
  _tag: "Unreadable",
  uid,
  reason: `the parser thread stopped (exit code ${code})`,
  retry: true
})

/**
 * One parser thread. If it stops, the chunks it held are answered as retryable failures and a
 * new thread takes its place. One that stops before it said it was ready (it could not load) is
 * not restarted: its chunks, and all later ones, are parsed inline.
 */
const startThread = (entry: URL) => {
  const pending = new Map<number, Chunk>()
  let closing = false
  let broken = false
  const spawn = (): Worker => {
    let ready = false
    const worker = new Worker(entry, { workerData: PARSER_THREAD })
    worker.on("message", (reply: unknown) => {
      const decoded = decodeReply(reply)
      if (decoded._tag === "None") return
      if ("ready" in decoded.value) {
        ready = true
        return
      }
      pending.get(decoded.value.id)?.resume(decoded.value.results)
      pending.delete(decoded.value.id)
    })
    // An uncaught error is followed by "exit", which answers what was in flight.
    worker.on("error", () => undefined)
    worker.on("exit", (code) => {
      // The replacement first: a resumed caller may submit its next chunk at once.
      const orphans = [...pending.values()]
      pending.clear()
      if (!ready) broken = true
      else if (!closing) current = spawn()
      for (const chunk of orphans) {
        if (!ready) void readAll(chunk.messages).then(chunk.resume)
        else chunk.resume(chunk.messages.map((message) => stopped(message.uid, code)))
      }
    })
    return worker
  }
  let current = spawn()
  return {
    broken: () => broken,
    load: () => pending.size,
    submit: (id: number, chunk: Chunk) => {
      pending.set(id, chunk)
      // Copies of just these bytes (a Buffer may be a view into a larger one), handed over rather
      // than cloned a second time.
      const messages = chunk.messages.map((message) => ({ uid: message.uid, source: new Uint8Array(message.source) }))
      current.postMessage({ id, messages } satisfies ReadJob, messages.map((message) => message.source.buffer))
    },
    cancel: (id: number) => pending.delete(id),
    close: () => {
      closing = true
      return current.terminate()
    }
  }
}

/** `threads` parser threads running `entry`, stopped when the scope closes. */
export const makeThreadPool = (threads: number, entry: URL = threadEntry) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => Array.from({ length: Math.max(1, threads) }, () => startThread(entry))),
      (pool) => Effect.promise(() => Promise.all(pool.map((thread) => thread.close())))
    ),
    (pool): MessageParserApi => {
      let nextId = 0
      let warned = false
      const inline = (messages: NonEmptyReadonlyArray<FetchedMessage>) =>
        warned ? readInline(messages) : Effect.andThen(
          Effect.logWarning("the parser threads could not start: parsing on the main thread"),
          Effect.suspend(() => {
            warned = true
            return readInline(messages)
          })
        )
      const submit = (messages: NonEmptyReadonlyArray<FetchedMessage>): Effect.Effect<ReadonlyArray<ReadResult>> => {
        const idle = pool.filter((thread) => !thread.broken()).sort((a, b) => a.load() - b.load())[0]
        if (idle === undefined) return inline(messages)
        const id = nextId++
        return Effect.callback<ReadonlyArray<ReadResult>>((resume) => {
          idle.submit(id, { messages, resume: (results) => resume(Effect.succeed(results)) })
          return Effect.sync(() => idle.cancel(id))
        })
      }
      /**
       * A chunk whose thread died is read again in halves, down to the message that kills a
       * thread: only that one is left unread, not its whole chunk on every pass.
       */
      const read: MessageParserApi["read"] = Effect.fn("MessageParser.read")((messages: NonEmptyReadonlyArray<FetchedMessage>) =>
        Effect.flatMap(submit(messages), (results) => {
          const [first, ...rest] = messages
          if (rest.length === 0 || !results.some(stoppedThread)) return Effect.succeed(results)
          const half = Math.ceil(messages.length / 2)
          const [second, ...more] = rest.slice(half - 1)
          if (second === undefined) return Effect.succeed(results)
          return Effect.map(
            Effect.all([read([first, ...rest.slice(0, half - 1)]), read([second, ...more])]),
            ([left, right]) => [...left, ...right]
          )
        })
      )
      return { read }
    }
  )

export class MessageParser extends Context.Service<MessageParser, MessageParserApi>()("proton-lumo-ai/MessageParser") {
  /** Parses on the event loop. */
  static readonly layerInline: Layer.Layer<MessageParser> = Layer.succeed(MessageParser, {
    read: Effect.fn("MessageParser.read")(readInline)
  })

  /** Parses on `threads` worker threads, started with the layer (while IMAP connects) and stopped with it. */
  static readonly layerThreads = (threads: number, entry?: URL): Layer.Layer<MessageParser> =>
    Layer.effect(MessageParser, makeThreadPool(threads, entry))

  /** A thread per spare core, at most one per worker (MAX_WORKERS); inline on a single core. */
  static readonly layer: Layer.Layer<MessageParser, never, Settings> = Layer.unwrap(
    Effect.map(Effect.service(Settings), (settings) => {
      const spare = Math.min(availableParallelism() - 1, settings.workers)
      return spare < 1 ? MessageParser.layerInline : MessageParser.layerThreads(spare)
    })
  )
}
