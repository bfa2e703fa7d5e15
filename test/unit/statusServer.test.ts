/** The status endpoints on this machine answer only requests that name it so (DNS rebinding). */
import { request } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Health } from "../../src/services/Health.ts"
import * as StatusServer from "../../src/services/StatusServer.ts"
import { freePort } from "../support/dovecot.ts"

/** GET /healthz on 127.0.0.1 with this Host header; the status code. */
const statusWithHost = (port: number, host: string) =>
  Effect.promise(() =>
    new Promise<number>((resolve, reject) => {
      const sent = request({ host: "127.0.0.1", port, path: "/healthz", headers: { host } }, (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      })
      sent.on("error", reject)
      sent.end()
    })
  )

describe("status endpoints", () => {
  it.live("served on 127.0.0.1, they answer 127.0.0.1, localhost and ::1 by name, and refuse any other Host (421)", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const answers = yield* Effect.forEach(
        [
          `127.0.0.1:${port}`,
          `localhost:${port}`,
          `[::1]:${port}`,
          `evil.example:${port}`,
          "evil.example",
          "localhost:evil",
          `localhost:${port}@evil.example`
        ],
        (host) => statusWithHost(port, host)
      ).pipe(Effect.provide(StatusServer.layer({ host: "127.0.0.1", port }).pipe(Layer.provide(Health.layer))))
      assert.deepStrictEqual(answers, [200, 200, 200, 421, 421, 421, 421])
    }))
})
