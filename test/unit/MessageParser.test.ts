import { assert, describe, it } from "@effect/vitest"
import { Array as Arr, Effect, Layer, Logger, References } from "effect"
import type { FetchedMessage } from "../../src/domain/Email.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { MessageParser } from "../../src/services/MessageParser.ts"
import { sortFolder } from "../../src/pipeline/sortFolder.ts"
import { bankEmail, personalEmail, workEmail } from "../support/emails.ts"
import { testLayer } from "../support/layers.ts"
import { samples } from "../support/samples.ts"

const fetched = (sources: ReadonlyArray<string | Buffer>): Arr.NonEmptyReadonlyArray<FetchedMessage> => {
  const messages = sources.map((source, index) => {
    const bytes = typeof source === "string" ? Buffer.from(source) : source
    return { uid: index + 1, flags: [], size: bytes.length, source: bytes }
  })
  if (!Arr.isReadonlyArrayNonEmpty(messages)) throw new Error("no messages")
  return messages
}

const readWith = (layer: Layer.Layer<MessageParser>, messages: Arr.NonEmptyReadonlyArray<FetchedMessage>) =>
  Effect.flatMap(MessageParser, (parser) => parser.read(messages)).pipe(Effect.provide(layer))

const mixed = fetched([...samples.map((sample) => sample.source), "", "\r\n\r\n", bankEmail(1), "Subject: =?bad?Q?x?=\r\n\r\nbody"])

describe("MessageParser", () => {
  it.live("parser threads read exactly what inline parsing reads, in order, the unreadable included", () =>
    Effect.gen(function*() {
      const inline = yield* readWith(MessageParser.layerInline, mixed)
      const threaded = yield* readWith(MessageParser.layerThreads(2), mixed)
      assert.strictEqual(threaded.length, mixed.length)
      assert.deepStrictEqual(threaded, inline)
      assert.deepStrictEqual(threaded.filter((result) => result._tag === "Unreadable").map((result) => result.uid), [
        samples.length + 1,
        samples.length + 2
      ])
    }))

  it.live("chunks read concurrently on several threads come back to the right caller", () =>
    Effect.gen(function*() {
      const chunks = Arr.chunksOf(mixed, 5)
      const results = yield* Effect.forEach(chunks, (chunk) => Effect.flatMap(MessageParser, (parser) => parser.read(chunk)), {
        concurrency: "unbounded"
      }).pipe(Effect.provide(MessageParser.layerThreads(3)))
      assert.deepStrictEqual(results.map((chunk) => chunk.map((result) => result._tag === "Read" ? result.email.uid : result.uid)), chunks.map((chunk) => chunk.map((m) => m.uid)))
    }))

  it.live("a message that kills its thread is the only one left unread: its chunk is read again in halves", () =>
    Effect.gen(function*() {
      const parser = yield* MessageParser
      const chunk = [workEmail(1), personalEmail(2), bankEmail(3), "Subject: CRASH NOW\r\n\r\nx", workEmail(5)]
      const deadly = yield* parser.read(fetched(chunk))
      assert.deepStrictEqual(deadly.map((result) => result._tag === "Unreadable" && result.retry), [false, false, false, true, false])
      assert.deepStrictEqual(deadly.map((result) => (result._tag === "Read" ? result.email.uid : result.uid)), [1, 2, 3, 4, 5])
      assert.include(deadly[3]?._tag === "Unreadable" ? deadly[3].reason : "", "parser thread stopped (exit code 3)")
      const after = yield* parser.read(fetched([personalEmail(2)]))
      assert.strictEqual(after[0]?._tag, "Read", JSON.stringify(after))
    }).pipe(Effect.provide(MessageParser.layerThreads(1, new URL("../support/crashingParserThread.ts", import.meta.url)))))

  it.live("threads that cannot start: messages are parsed inline, with one warning", () =>
    Effect.gen(function*() {
      const warnings: Array<unknown> = []
      const capture = Logger.make<unknown, void>(({ message }) => void warnings.push(message))
      const layer = MessageParser.layerThreads(1, new URL("../support/no-such-thread.ts", import.meta.url))
      const [first, second] = yield* Effect.gen(function*() {
        const parser = yield* MessageParser
        // The first chunk may be posted before the thread fails to load: it is re-read inline.
        return [yield* parser.read(mixed), yield* parser.read(mixed)]
      }).pipe(Effect.provide(Layer.merge(layer, Logger.layer([capture]))))
      const inline = yield* readWith(MessageParser.layerInline, mixed)
      assert.deepStrictEqual(first, inline)
      assert.deepStrictEqual(second, inline)
      assert.deepStrictEqual(warnings.flat(), ["the parser threads could not start: parsing on the main thread"])
    }))

  it.live("the pipeline sorts through parser threads, a broken message among fifty reported and skipped", () =>
    Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      for (let n = 0; n < 49; n++) yield* mailbox.append("INBOX", n % 2 === 0 ? bankEmail(n) : personalEmail(n))
      yield* mailbox.append("INBOX", "")
      const report = yield* sortFolder("INBOX")
      assert.deepStrictEqual([report.moved, report.left, report.failed], [25, 24, 1])
      assert.strictEqual((yield* mailbox.messages("Folders/Administratif/Banque")).length, 25)
    }).pipe(
      Effect.provide(testLayer({ parser: MessageParser.layer, settings: { workers: 3 } })),
      Effect.provideService(References.MinimumLogLevel, "Error")
    ))
})
