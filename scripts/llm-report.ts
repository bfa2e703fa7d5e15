/**
 * Measures the LLM path: calls and tokens per 1,000 emails on the happy path, and what share of
 * the mail is sorted, left and misfiled when one call in five fails (429, 5xx, hangs, garbage,
 * wrong or missing ids, invented categories, huge answers, in turn).
 *
 *   npm run measure:llm            (N=1000 by default; N=200 npm run measure:llm for a quick look)
 *
 * The real pipeline runs over an in-memory mailbox against a fake OpenAI-compatible server on
 * 127.0.0.1 that knows each email's true category; it counts tokens as a provider would bill
 * them, at about four characters a token of the request and of the answer.
 */
import { Duration, Effect, Layer, References } from "effect"
import { sortFolder } from "../src/pipeline/sortFolder.ts"
import { MemoryMailbox } from "../src/services/MemoryMailbox.ts"
import { corpus, truthFolder, truthOf } from "../test/support/corpus.ts"
import { allFaults, fakeLlmServer, oracle, type Script, withFault } from "../test/support/fakeLlmServer.ts"
import { llmClassifierLayer, llmSettings, testLayer } from "../test/support/layers.ts"
import { placement } from "../test/support/placement.ts"

const n = Number(process.env["N"] ?? 1000)
const emails = corpus(n, 2026)
const honest = oracle(truthOf(emails))

const run = (label: string, script: Script) =>
  Effect.gen(function*() {
    const server = yield* fakeLlmServer(script)
    const settings = llmSettings(server.baseUrl, { timeout: Duration.seconds(2) })
    const started = Date.now()
    const result = yield* Effect.gen(function*() {
      const mailbox = yield* MemoryMailbox
      for (const email of emails) yield* mailbox.append("INBOX", email.source)
      const report = yield* sortFolder("INBOX")
      // A second pass, as service mode would make a minute later: it retries what was left for now.
      const second = yield* sortFolder("INBOX")
      return { report, second, placed: yield* placement }
    }).pipe(Effect.provide(Layer.mergeAll(
      testLayer({ classifier: llmClassifierLayer(settings), settings: { maxEmailsPerFolder: n } })
    )), Effect.provideService(References.MinimumLogLevel, "Error"))
    const { report, second, placed } = result
    let sorted = 0
    let left = 0
    let misfiled = 0
    for (const email of emails) {
      const folder = placed.get(email.messageId)
      if (folder === "INBOX") left += email.truth === "NONE" ? 0 : 1
      else if (folder === truthFolder(email.truth)) sorted += 1
      else misfiled += 1
    }
    const sortable = emails.filter((email) => email.truth !== "NONE").length
    const per1000 = (value: number) => ((value * 1000) / n).toFixed(0)
    const llm = report.llm
    return {
      label,
      seconds: ((Date.now() - started) / 1000).toFixed(1),
      requests: server.requests.length,
      callsPer1000: per1000(llm.llmCalls),
      emailsPerCall: (llm.llmEmails / Math.max(1, llm.llmCalls)).toFixed(1),
      retries: llm.llmRetries,
      tokensPer1000: `${per1000(llm.promptTokens)} + ${per1000(llm.completionTokens)}`,
      fallbacks: llm.fallbacks,
      sorted: `${((100 * sorted) / sortable).toFixed(1)} %`,
      left: `${((100 * left) / sortable).toFixed(1)} %`,
      misfiled: `${((100 * misfiled) / n).toFixed(2)} %`,
      sortedPass1: `${((100 * report.moved) / sortable).toFixed(1)} %`,
      pass2Calls: second.llm.llmCalls
    }
  })

const faulty: Script = (request) =>
  request.index % 5 === 4 ? withFault(allFaults[Math.floor(request.index / 5) % allFaults.length] ?? "latency", honest, request) : honest(request)

const program = Effect.gen(function*() {
  const rows = [yield* run("happy path", honest), yield* run("1 call in 5 fails", faulty)]
  console.log(`LLM path over ${n} generated emails (${emails.filter((e) => e.truth === "NONE").length} belong nowhere), ` +
    "batches of 10, 5 workers, MAX_RETRIES 3, timeout 2 s\n")
  console.table(Object.fromEntries(rows.map(({ label, ...row }) => [label, row])))
  console.log("tokensPer1000 = prompt + completion (first pass); sortedPass1 after the first pass; sorted, left and" +
    " misfiled after a second pass (which asks again only for what was left for now; pass2Calls).\n" +
    "sorted and left are shares of the mail that has a category; misfiled is the share of all mail in a wrong folder.")
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
