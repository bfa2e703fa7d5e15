/**
 * Starts three private Dovecot IMAP servers on 127.0.0.1 (one per capability mode: bridge,
 * nomove, nomove-nouidplus) for the integration project, provides them as `inject("dovecot")`,
 * and stops and wipes them afterwards.  Requires Dovecot (`apt-get install dovecot-imapd`).
 */
import { access, chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { constants } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import type { TestProject } from "vitest/node"
import { startDovecot, stopDovecot } from "../support/dovecot.ts"
import { capsModes } from "../support/imap.ts"
import type { CapsMode, DovecotContext, DovecotInstance } from "../support/imap.ts"

declare module "vitest" {
  export interface ProvidedContext {
    dovecot: DovecotContext
  }
}

const PREFIX = "plai-dovecot-"

const findDovecot = async (): Promise<string | undefined> => {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"]
  for (const dir of dirs.filter((d) => d !== "")) {
    const candidate = join(dir, "dovecot")
    const found = await access(candidate, constants.X_OK).then(
      () => true,
      () => false
    )
    if (found) return candidate
  }
  return undefined
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return typeof error === "object" && error !== null && "code" in error && error.code === "EPERM"
  }
}

/** Stops instances left behind by a run that was killed before its teardown (owner pid gone). */
const reapOrphans = async (): Promise<void> => {
  const entries = (await readdir(tmpdir())).filter((name) => name.startsWith(PREFIX))
  await Promise.all(
    entries.map(async (name) => {
      const base = join(tmpdir(), name)
      const owner = Number(await readFile(join(base, "owner.pid"), "utf8").catch(() => "NaN"))
      const orphaned = Number.isInteger(owner)
        ? !isAlive(owner)
        : Date.now() - (await stat(base)).mtimeMs > 60_000 // no owner file: only if not being created now
      if (!orphaned) return
      const dirs = await readdir(base, { withFileTypes: true })
      await Promise.all(dirs.filter((d) => d.isDirectory()).map((d) => stopDovecot(join(base, d.name))))
      await rm(base, { recursive: true, force: true })
    })
  )
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if ((await findDovecot()) === undefined) {
    throw new Error(
      "Dovecot is required by the integration tests but is not installed: run `apt-get install dovecot-imapd` (Debian/Ubuntu)."
    )
  }
  const started = Date.now()
  await reapOrphans().catch(() => undefined)
  const base = await mkdtemp(join(tmpdir(), PREFIX))
  await writeFile(join(base, "owner.pid"), String(process.pid))
  // As root, mail is accessed as `nobody`, which must be able to enter the instance dirs.
  await chmod(base, 0o755)

  const results = await Promise.allSettled(capsModes.map((caps) => startDovecot(base, caps)))
  const instances = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))
  const teardown = async (): Promise<void> => {
    await Promise.all(instances.map((instance) => stopDovecot(instance.dir)))
    await rm(base, { recursive: true, force: true })
  }
  const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []))
  if (failed.length > 0) {
    await teardown()
    throw failed[0]
  }

  const byMode = (caps: CapsMode): DovecotInstance => {
    const instance = instances.find((i) => i.caps === caps)
    if (instance === undefined) throw new Error(`no Dovecot instance for ${caps}`)
    return instance
  }
  project.provide("dovecot", {
    bridge: byMode("bridge"),
    nomove: byMode("nomove"),
    "nomove-nouidplus": byMode("nomove-nouidplus")
  })
  if (process.env["DOVECOT_VERBOSE"] !== undefined) {
    console.log(`Dovecot ×${instances.length} ready in ${Date.now() - started} ms under ${base}`)
  }
  return teardown
}
