/**
 * The service watched from outside, as Prometheus and a health checker see it: /metrics counts what
 * it did, /readyz says whether it is doing its job, on a real Dovecot it loses and finds again.
 */
import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { cliEnv, runCli, startCli } from "../support/cli.ts"
import { freePort, ownDovecot, restartDovecot } from "../support/dovecot.ts"
import { bankEmail, travelEmail, workEmail } from "../support/emails.ts"
import { appendMessages, freshUser } from "../support/imap.ts"

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

const get = (port: number, path: string) =>
  promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: response.status, body: await response.text() }
  })

/** Asks `path` every 200 ms until `done` says so, for at most `timeoutMillis`. */
const until = (port: number, path: string, done: (answer: { status: number; body: string }) => boolean, timeoutMillis: number) =>
  promise(async () => {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      const answer = await fetch(`http://127.0.0.1:${port}${path}`).then(
        async (response) => ({ status: response.status, body: await response.text() }),
        (error: unknown) => ({ status: 0, body: String(error) })
      )
      if (done(answer)) return answer
      if (Date.now() > deadline) throw new Error(`${path} never became what was awaited; last: ${answer.status} ${answer.body}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  })

/** The value of each sample of `name` whose labels include all of `labels`, summed. */
const sampleSum = (metrics: string, name: string, labels: Record<string, string>): number =>
  metrics.split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0)

/** The metric names the shipped Grafana dashboard queries (histograms by their _bucket series). */
const dashboardMetrics = (): ReadonlySet<string> =>
  new Set(readFileSync(new URL("../../grafana/protonlumoai-dashboard.json", import.meta.url), "utf8").match(/protonlumo_[a-z_]+/g))

describe("metrics and health endpoints", () => {
  it.live("20 messages sorted are 20 moved on /metrics; /readyz is 503 while the server is down and 200 once it is back", () =>
    Effect.gen(function*() {
      const { instance } = yield* ownDovecot("plai-status-")
      const user = freshUser("status")
      const makers = [bankEmail, workEmail, travelEmail]
      yield* promise(() =>
        appendMessages(instance, user, "INBOX", Array.from({ length: 20 }, (_, n) => ({ source: (makers[n % 3] ?? bankEmail)(n) })))
      )
      const port = yield* promise(freePort)
      const service = startCli([], cliEnv(instance, user, { PROTON_LUMO_POLL_INTERVAL: "1", PROTON_LUMO_METRICS_PORT: String(port) }))
      yield* Effect.addFinalizer(() => promise(() => service.stop("SIGTERM")))
      yield* promise(() => service.waitFor((output) => (output.match(/moved INBOX#\d+ /g) ?? []).length >= 20, 30_000))

      assert.deepStrictEqual(yield* get(port, "/healthz"), { status: 200, body: "ok\n" })
      const ready = yield* until(port, "/readyz", (answer) => answer.status === 200, 10_000)
      assert.strictEqual(ready.body, "ready\n")
      const metrics = (yield* get(port, "/metrics")).body
      assert.strictEqual(sampleSum(metrics, "protonlumo_messages_total", { folder: "INBOX", outcome: "moved" }), 20, metrics)
      assert.strictEqual(sampleSum(metrics, "protonlumo_messages_total", { folder: "INBOX", category: "BANQUE", outcome: "moved" }), 7)
      assert.strictEqual(sampleSum(metrics, "protonlumo_classifications_total", { stage: "keyword" }), 20, metrics)
      assert.strictEqual(sampleSum(metrics, "protonlumo_llm_requests_total", {}), 0)
      assert.match(metrics, /^protonlumo_llm_kept_total 0$/m)
      assert.isAbove(sampleSum(metrics, "protonlumo_last_pass_timestamp_seconds", { folder: "INBOX" }), Date.now() / 1000 - 60)
      // Learning is on by default: its scan completed, and none failed.
      assert.isAbove(sampleSum(metrics, "protonlumo_last_learning_timestamp_seconds", {}), Date.now() / 1000 - 60)
      assert.match(metrics, /^protonlumo_learning_failures_total 0$/m)
      assert.match(metrics, /^# TYPE protonlumo_pass_duration_seconds histogram$/m)

      // The server goes away for a while: not ready, and why; back: ready again.
      const restarted = restartDovecot(instance, 6000)
      const down = yield* until(port, "/readyz", (answer) => answer.status === 503, 5000)
      assert.match(down.body, /not logged in to the IMAP server|INBOX: the last pass failed/)
      yield* promise(() => restarted)
      yield* until(port, "/readyz", (answer) => answer.status === 200, 30_000)
      const after = (yield* get(port, "/metrics")).body
      assert.strictEqual(sampleSum(after, "protonlumo_imap_reconnects_total", {}), 1)
      // The shipped Grafana dashboard asks only for series the service exports.
      const charted = dashboardMetrics()
      assert.isAtLeast(charted.size, 10)
      for (const name of charted) assert.match(after, new RegExp(`^${name}[{ ]`, "m"), name)
    }), 90_000)

  it.live("with OTEL_EXPORTER_OTLP_ENDPOINT, --once sends its spans and metrics to the collector as OTLP JSON", () =>
    Effect.gen(function*() {
      const { instance } = yield* ownDovecot("plai-otlp-")
      const user = freshUser("otlp")
      yield* promise(() => appendMessages(instance, user, "INBOX", [{ source: bankEmail(1) }, { source: workEmail(2) }]))
      const received: Array<{ readonly path: string; readonly body: string }> = []
      const collector = yield* Effect.acquireRelease(
        promise(() =>
          new Promise<Server>((resolve) => {
            const server = createServer((request, response) => {
              let body = ""
              request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
              request.on("end", () => {
                received.push({ path: request.url ?? "", body })
                response.writeHead(200, { "content-type": "application/json" }).end("{}")
              })
            })
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
        ),
        (server) => promise(() => new Promise((resolve) => server.close(resolve)))
      )
      const address = collector.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const run = yield* runCli(["--once"], cliEnv(instance, user, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }))
      assert.strictEqual(run.code, 0, run.stderr)
      const sent = (path: string) => received.filter((r) => r.path === path).map((r) => r.body).join("\n")
      assert.include(sent("/v1/traces"), `"name":"sortMailbox"`)
      assert.include(sent("/v1/traces"), `"name":"learnFromFolders"`)
      assert.include(sent("/v1/metrics"), `"name":"protonlumo_messages_total"`)
      // Log lines (which quote subjects) are not sent.
      assert.strictEqual(sent("/v1/logs"), "")
    }), 30_000)

  it.live("a port already taken is a clear setting error (exit 1), said before it claims to serve; a dry run serves nothing", () =>
    Effect.gen(function*() {
      const { instance } = yield* ownDovecot("plai-status-")
      const env = cliEnv(instance, freshUser("taken"), { PROTON_LUMO_METRICS_PORT: String(instance.port) })
      const result = yield* runCli(["--once"], env)
      assert.strictEqual(result.code, 1)
      assert.match(result.stderr, new RegExp(`PROTON_LUMO_METRICS_PORT: cannot serve on 127\\.0\\.0\\.1:${instance.port}`))
      assert.notInclude(result.stdout, "metrics on http://")
      // The service beside it may hold the port: a dry run is a look, and serves no endpoints.
      const dry = yield* runCli(["--once", "--dry-run"], env)
      assert.strictEqual(dry.code, 0, dry.stderr)
      assert.notInclude(dry.stdout + dry.stderr, "PROTON_LUMO_METRICS_PORT")
      // So is one asked for by the setting (in .env, say), not the flag.
      const bySetting = yield* runCli(["--once"], { ...env, PROTON_LUMO_DRY_RUN: "true" })
      assert.strictEqual(bySetting.code, 0, bySetting.stderr)
      assert.notInclude(bySetting.stdout + bySetting.stderr, "PROTON_LUMO_METRICS_PORT")
      assert.include(bySetting.stdout + bySetting.stderr, "DRY RUN")
    }), 30_000)
})
