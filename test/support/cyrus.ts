/**
 * A private Cyrus IMAP server on 127.0.0.1 (test/support/cyrus/start-cyrus.sh): Debian's
 * cyrus-imapd in its stock layout, separator "." and personal folders under "INBOX.".  Optional:
 * started only where Cyrus is installed (`apt-get install cyrus-imapd libsasl2-modules-sql`).
 */
import { execFile } from "node:child_process"
import { access, readdir, rm } from "node:fs/promises"
import { constants } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { freePort } from "./dovecot.ts"
import type { CyrusInstance } from "./imap.ts"

const run = promisify(execFile)
const scriptDir = fileURLToPath(new URL("./cyrus/", import.meta.url))
const startScript = join(scriptDir, "start-cyrus.sh")
const stopScript = join(scriptDir, "stop-cyrus.sh")
const PASSWORD = "test-password"

const exists = (path: string, mode: number): Promise<boolean> =>
  access(path, mode).then(
    () => true,
    () => false
  )

/**
 * Cyrus' imapd: installed (cyrus-imapd), or extracted from its .deb into `.test-cyrus/` (what
 * .ci/run does, since Debian will not install cyrus-imapd beside dovecot-imapd).
 */
const imapdCandidates = [
  "/usr/lib/cyrus/bin/imapd",
  fileURLToPath(new URL("../../.test-cyrus/usr/lib/cyrus/bin/imapd", import.meta.url))
]

const findImapd = async (): Promise<string | undefined> => {
  for (const candidate of imapdCandidates) if (await exists(candidate, constants.X_OK)) return candidate
  return undefined
}

/** Whether what start-cyrus.sh needs is here: Cyrus' master and tools, an imapd, the SASL sql plugin. */
export const cyrusInstalled = async (): Promise<boolean> => {
  const binaries = await Promise.all(
    ["master", "ctl_cyrusdb"].map((name) => exists(join("/usr/lib/cyrus/bin", name), constants.X_OK))
  )
  if (!binaries.every(Boolean) || (await findImapd()) === undefined) return false
  const libDirs = (await readdir("/usr/lib").catch(() => [])).map((name) => join("/usr/lib", name, "sasl2"))
  const plugins = await Promise.all(libDirs.map((dir) => exists(join(dir, "libsql.so.2"), constants.R_OK)))
  return plugins.some(Boolean)
}

/** Stops the instance in `dir` and removes the directory. */
export const stopCyrus = (dir: string): Promise<unknown> =>
  run("bash", [stopScript, dir, "--wipe"]).catch(() => rm(dir, { recursive: true, force: true }))

/** Starts Cyrus in `<base>/cyrus`; retries on another port if the chosen one was taken meanwhile. */
export const startCyrus = async (base: string): Promise<CyrusInstance> => {
  const dir = join(base, "cyrus")
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      const imapd = (await findImapd()) ?? "/usr/lib/cyrus/bin/imapd"
      await run("bash", [startScript, dir, String(port)], { env: { ...process.env, IMAP_PASS: PASSWORD, CYRUS_IMAPD: imapd } })
      const caFile = join(dir, "tls", "cert.pem")
      return { server: "cyrus", host: "127.0.0.1", port, caFile, password: PASSWORD, caps: "full", layout: "dotted", dir }
    } catch (error) {
      lastError = error
      await stopCyrus(dir)
    }
  }
  const stderr =
    typeof lastError === "object" && lastError !== null && "stderr" in lastError ? String(lastError.stderr) : ""
  throw new Error(`could not start Cyrus: ${stderr || String(lastError)}`)
}
