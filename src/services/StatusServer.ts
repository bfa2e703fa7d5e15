/**
 * The HTTP endpoints a long-lived service is watched through (PROTON_LUMO_METRICS_PORT):
 *   GET /metrics  Prometheus text, from Effect's metrics (effect/observability)
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when logged in and every folder's last pass succeeded within 2 × the poll
 *                 interval; else 503, with what is wrong as text
 * On 127.0.0.1 by default: the figures name folders and categories, not for the whole network.
 */
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { Health } from "./Health.ts"

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
const isLoopback = (host: string): boolean =>
  /^127(\.\d{1,3}){3}$/.test(host) || host === "::1" || host.toLowerCase() === "localhost"

/**
 * The host of a Host header, without its port (`[::1]:9464` → `::1`); "" unless the header is a
 * host and at most a numeric port (`localhost:evil` or `localhost:1@evil.example` name no host).
 */
const hostName = (header: string): string => {
  const parts = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::\d{1,5})?$/.exec(header)
  return parts?.[1] ?? parts?.[2] ?? ""
}

/**
 * Served on this machine only, the endpoints answer only requests that name it so: a web page
 * whose own name is made to point at 127.0.0.1 (DNS rebinding) would otherwise read the folder
 * and category names from the browser. 421: not the host this server is for.
 */
const loopbackHostsOnly = HttpRouter.middleware((httpEffect) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (isLoopback(hostName(request.headers["host"] ?? ""))) return yield* httpEffect
    return HttpServerResponse.text("this server answers for 127.0.0.1, ::1 and localhost only\n", { status: 421 })
  }), { global: true })

const probes = HttpRouter.use(Effect.fn("StatusServer.routes")(function*(router) {
  const health = yield* Health
  yield* router.add("GET", "/healthz", Effect.succeed(HttpServerResponse.text("ok\n")))
  yield* router.add(
    "GET",
    "/readyz",
    Effect.map(health.readiness, ({ ready, reason }) => HttpServerResponse.text(`${reason}\n`, { status: ready ? 200 : 503 }))
  )
}))

/** Serves the endpoints on `host`:`port` for as long as the layer is in use. */
export const layer = (options: { readonly host: string; readonly port: number }) =>
  // The line saying where it serves comes once it does (after the port was had).
  Layer.effectDiscard(
    Effect.gen(function*() {
      yield* Effect.logInfo(`metrics on http://${options.host}:${options.port}/metrics, health checks on /healthz and /readyz`)
      if (!isLoopback(options.host)) {
        yield* Effect.logWarning(
          `PROTON_LUMO_METRICS_HOST=${options.host}: the metrics (folder and category names, counts) are served beyond ` +
            "this machine, without authentication"
        )
      }
    })
  ).pipe(Layer.provideMerge(
    HttpRouter.serve(
      Layer.mergeAll(probes, PrometheusMetrics.layerHttp({ path: "/metrics" }), isLoopback(options.host) ? loopbackHostsOnly : Layer.empty),
      {
        disableLogger: true,
        disableListenLog: true
      }
    ).pipe(Layer.provide(NodeHttpServer.layer(createServer, { host: options.host, port: options.port })))
  ))
