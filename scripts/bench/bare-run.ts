/**
 * The baseline: a bare imapflow script doing the least a sorter can do. One range FETCH of every
 * message (flags and the first 256 KiB, like the pipeline), the same keywords matched as plain
 * substrings of subject or body, one UID MOVE per destination folder. Configured by BENCH_CONFIG;
 * prints `BENCH_RESULT {…}`.
 */
import { readFileSync } from "node:fs"
import { ImapFlow } from "imapflow"
import { defaultCategories } from "../../test/support/layers.ts"
export interface BareRunConfig {
  readonly host: string
  readonly port: number
  readonly caFile: string
  readonly user: string
  readonly password: string
}

const config: BareRunConfig = JSON.parse(process.env["BENCH_CONFIG"] ?? "{}")
const rules = Object.values(defaultCategories)
  .sort((a, b) => b.priority - a.priority)
  .map((category) => ({ folder: category.folder, keywords: category.keywords.map((k) => k.toLowerCase()) }))

const client = new ImapFlow({
  host: config.host,
  port: config.port,
  secure: false,
  doSTARTTLS: true,
  tls: { ca: [readFileSync(config.caFile, "utf8")] },
  auth: { user: config.user, pass: config.password },
  logger: false
})

// Timed from after login, like the pipeline's "Total time": the same work, a folder pass.
await client.connect()
const started = performance.now()
const lock = await client.getMailboxLock("INBOX")
const byFolder = new Map<string, Array<number>>()
for (const message of await client.fetchAll("1:*", { uid: true, flags: true, source: { start: 0, maxLength: 262_144 } }, { uid: true })) {
  const text = (message.source?.toString("utf8") ?? "").toLowerCase()
  const rule = rules.find((candidate) => candidate.keywords.some((keyword) => text.includes(keyword)))
  if (rule !== undefined) byFolder.set(rule.folder, [...(byFolder.get(rule.folder) ?? []), message.uid])
}
const existing = new Set((await client.list()).map((box) => box.path))
for (const [folder, uids] of byFolder) {
  if (!existing.has(folder)) await client.mailboxCreate(folder)
  await client.messageMove(uids.join(","), folder, { uid: true })
}
lock.release()
const wallMs = performance.now() - started
await client.logout()
const moved = [...byFolder.values()].reduce((sum, uids) => sum + uids.length, 0)
console.log(`BENCH_RESULT ${JSON.stringify({ wallMs, moved })}`)
