/**
 * Starts private IMAP servers on 127.0.0.1 for the integration project, provides them, and stops
 * and wipes them afterwards:
 * - `inject("dovecot")`: four Dovecots, one per capability mode in Bridge's layout (bridge, nomove,
 *   nomove-nouidplus), and `dotted`: full capabilities, separator ".", prefix "INBOX.".
 *   Requires Dovecot (`apt-get install dovecot-imapd`).
 * - `inject("cyrus")`: Debian's Cyrus in its stock dotted layout, or null.  CYRUS=auto (default)
 *   starts it where it is installed (`apt-get install cyrus-imapd libsasl2-modules-sql`),
 *   CYRUS=1 requires it, CYRUS=0 never starts it.
 */
import { access, chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { constants } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import type { TestProject } from "vitest/node"
import { cyrusInstalled, startCyrus, stopCyrus } from "../support/cyrus.ts"
import { startDovecot, stopDovecot } from "../support/dovecot.ts"
import type { CyrusInstance, DovecotContext, DovecotInstance, ImapInstance, InstanceName, Layout, ServerCaps } from "../support/imap.ts"

declare module "vitest" {
  export interface ProvidedContext {
    dovecot: DovecotContext
    cyrus: CyrusInstance | null
  }
}

/** The Dovecot instances, by the name tests inject them by. */
const dovecotSpecs: Readonly<Record<InstanceName, { readonly caps: ServerCaps; readonly layout: Layout }>> = {
  bridge: { caps: "bridge", layout: "bridge" },
  nomove: { caps: "nomove", layout: "bridge" },
  "nomove-nouidplus": { caps: "nomove-nouidplus", layout: "bridge" },
  dotted: { caps: "full", layout: "dotted" }
}
const instanceNames: ReadonlyArray<InstanceName> = ["bridge", "nomove", "nomove-nouidplus", "dotted"]

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

/** Stops the Dovecot or Cyrus instance in `dir` (Cyrus' has etc/imapd.conf) and removes it. */
const stopAny = async (dir: string): Promise<unknown> =>
  (await access(join(dir, "etc", "imapd.conf")).then(
      () => true,
      () => false
    ))
    ? stopCyrus(dir)
    : stopDovecot(dir)

const wantCyrus = async (): Promise<boolean> => {
  const mode = process.env["CYRUS"] ?? "auto"
  if (mode === "0") return false
  const installed = await cyrusInstalled()
  if (mode === "1" && !installed) {
    throw new Error("CYRUS=1 but Cyrus is not installed: run `apt-get install cyrus-imapd libsasl2-modules-sql`.")
  }
  return installed
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
      await Promise.all(dirs.filter((d) => d.isDirectory()).map((d) => stopAny(join(base, d.name))))
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
  const withCyrus = await wantCyrus()
  const started = Date.now()
  await reapOrphans().catch(() => undefined)
  const base = await mkdtemp(join(tmpdir(), PREFIX))
  await writeFile(join(base, "owner.pid"), String(process.pid))
  // As root, mail is accessed as `nobody`, which must be able to enter the instance dirs.
  await chmod(base, 0o755)

  const startedIn = new Map<string, number>()
  const timed = async <A extends ImapInstance>(label: string, start: () => Promise<A>): Promise<A> => {
    const t0 = Date.now()
    const instance = await start()
    startedIn.set(label, Date.now() - t0)
    return instance
  }
  const [dovecotResults, cyrusResult] = await Promise.all([
    Promise.allSettled(
      instanceNames.map((name) =>
        timed(name, () => startDovecot(base, dovecotSpecs[name].caps, dovecotSpecs[name].layout))
      )
    ),
    withCyrus
      ? Promise.allSettled([timed("cyrus", () => startCyrus(base))])
      : Promise.resolve([])
  ])
  const results = [...dovecotResults, ...cyrusResult]
  const instances = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))
  const teardown = async (): Promise<void> => {
    await Promise.all(instances.map((instance) => (instance.server === "cyrus" ? stopCyrus : stopDovecot)(instance.dir)))
    await rm(base, { recursive: true, force: true })
  }
  const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []))
  if (failed.length > 0) {
    await teardown()
    throw failed[0]
  }

  const dovecot = (name: InstanceName): DovecotInstance => {
    const spec = dovecotSpecs[name]
    const instance = instances.find(
      (i): i is DovecotInstance => i.server === "dovecot" && i.caps === spec.caps && i.layout === spec.layout
    )
    if (instance === undefined) throw new Error(`no Dovecot instance for ${name}`)
    return instance
  }
  project.provide("dovecot", {
    bridge: dovecot("bridge"),
    nomove: dovecot("nomove"),
    "nomove-nouidplus": dovecot("nomove-nouidplus"),
    dotted: dovecot("dotted")
  })
  project.provide("cyrus", instances.find((i): i is CyrusInstance => i.server === "cyrus") ?? null)
  if (process.env["DOVECOT_VERBOSE"] !== undefined) {
    const each = [...startedIn].map(([name, millis]) => `${name} ${millis} ms`).join(", ")
    console.log(`IMAP servers ×${instances.length} ready in ${Date.now() - started} ms (${each}) under ${base}`)
  }
  return teardown
}
