/** The bundled sample mailbox (samples/mailbox) and where each message belongs. */
import { readdirSync, readFileSync } from "node:fs"
import { defaultCategories } from "./layers.ts"

const dir = new URL("../../samples/mailbox/", import.meta.url)

export interface Sample {
  readonly file: string
  readonly source: Buffer
  readonly messageId: string
  /** The folder the keyword classifier must put it in (INBOX: it stays). */
  readonly expectedFolder: string
}

const header = (source: Buffer, name: string): string => {
  const match = new RegExp(`^${name}:\\s*(.+?)\\r?$`, "im").exec(source.toString("latin1"))
  if (match?.[1] === undefined) throw new Error(`no ${name} header`)
  return match[1].trim()
}

export const samples: ReadonlyArray<Sample> = readdirSync(dir)
  .filter((file) => file.endsWith(".eml"))
  .sort()
  .map((file) => {
    const source = readFileSync(new URL(file, dir))
    const expected = header(source, "X-ProtonLumo-Expected")
    return {
      file,
      source,
      messageId: header(source, "Message-ID"),
      expectedFolder: expected === "NONE" ? "INBOX" : (defaultCategories[expected]?.folder ?? `unknown category ${expected}`)
    }
  })
