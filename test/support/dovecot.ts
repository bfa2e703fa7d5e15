/**
 * Private Dovecot instances on 127.0.0.1 (the project's scripts in test/support/dovecot/): start,
 * stop, and restart on the same port with the same certificate, as a server restart looks to a
 * client.
 */
import { execFile, spawn } from "node:child_process"
import { chmod, mkdtemp, rm } from "node:fs/promises"
import { connect, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Effect } from "effect"
import type { DovecotInstance, Layout, ServerCaps } from "./imap.ts"

const run = promisify(execFile)
const scriptDir = fileURLToPath(new URL("./dovecot/", import.meta.url))
const startScript = join(scriptDir, "start-dovecot.sh")
const stopScript = join(scriptDir, "stop-dovecot.sh")
const PASSWORD = "test-password"

/** A port that was free on 127.0.0.1 a moment ago (the kernel picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("could not get a free port"))
      )
    })
  })

/** Stops the instance in `dir` and removes the directory. */
export const stopDovecot = (dir: string): Promise<unknown> =>
  run("bash", [stopScript, dir, "--wipe"]).catch(() => rm(dir, { recursive: true, force: true }))

/**
 * Starts one instance in `<base>/<caps>` (bridge layout) or `<base>/<layout>-<caps>`; retries on
 * another port if the chosen one was taken meanwhile.
 */
export const startDovecot = async (
  base: string,
  caps: ServerCaps,
  layout: Layout = "bridge"
): Promise<DovecotInstance> => {
  const dir = join(base, layout === "bridge" ? caps : `${layout}-${caps}`)
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      await run("bash", [startScript, dir, String(port)], {
        env: {
          ...process.env,
          CAPS: caps,
          LAYOUT: layout,
          IMAP_PASS: PASSWORD,
          FSYNC: process.env["FSYNC"] ?? "never",
          MAIL_FORMAT: process.env["MAIL_FORMAT"] ?? "sdbox"
        }
      })
      const caFile = join(dir, "tls", "cert.pem")
      return { server: "dovecot", host: "127.0.0.1", port, caFile, password: PASSWORD, caps, layout, dir }
    } catch (error) {
      lastError = error
      await stopDovecot(dir)
    }
  }
  const stderr =
    typeof lastError === "object" && lastError !== null && "stderr" in lastError ? String(lastError.stderr) : ""
  throw new Error(`could not start Dovecot (${caps}, ${layout}): ${stderr || String(lastError)}`)
}

/** Resolves once the server on `port` answers with an IMAP greeting. */
const greeting = (port: number, timeoutMillis: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMillis
    const attempt = () => {
      const socket = connect(port, "127.0.0.1")
      socket.once("data", (data) => {
        socket.destroy()
        if (data.toString().startsWith("* OK")) resolve()
        else retry()
      })
      socket.once("error", () => retry())
    }
    const retry = () => (Date.now() > deadline ? reject(new Error(`no IMAP greeting on ${port}`)) : setTimeout(attempt, 100))
    attempt()
  })

/** Stops the server (connections drop), then starts it again on the same port with the same certificate. */
export const restartDovecot = async (instance: DovecotInstance, downMillis: number): Promise<void> => {
  await run("bash", [stopScript, instance.dir])
  await new Promise((resolve) => setTimeout(resolve, downMillis))
  for (let attempt = 0; ; attempt++) {
    // The daemon keeps inherited pipes open: no stdio, or waiting for it would never end.
    const started = await new Promise<number | null>((resolve) =>
      spawn("/usr/sbin/dovecot", ["-c", join(instance.dir, "etc", "dovecot.conf")], { stdio: "ignore" })
        .on("exit", (code) => resolve(code))
    )
    if (started === 0) return greeting(instance.port, 10_000)
    // The old master may still hold the port for a moment.
    if (attempt >= 20) throw new Error(`dovecot did not restart (exit ${started})`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/**
 * Gives the instance a new key and self-signed certificate (same names as before) and restarts it,
 * as Bridge does when it regenerates its certificate: a client pinning the old one is refused.
 */
export const renewCertificate = async (instance: DovecotInstance): Promise<void> => {
  const tls = join(instance.dir, "tls")
  await run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
    "-keyout", join(tls, "key.pem"), "-out", join(tls, "cert.pem"),
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"
  ])
  await restartDovecot(instance, 0)
}

/**
 * A Dovecot of the test's own, laid out like Bridge (to stop, restart or re-key without touching
 * the shared ones), in a fresh directory `base`; stopped when the test's scope closes.
 */
export const ownDovecot = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const base = await mkdtemp(join(tmpdir(), prefix))
      // As root the mail is accessed as nobody, who must be able to enter the instance's directory.
      await chmod(base, 0o755)
      return { base, instance: await startDovecot(base, "bridge") }
    }),
    ({ instance }) => Effect.promise(() => stopDovecot(instance.dir))
  )
