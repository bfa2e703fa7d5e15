/** The package's version, from package.json (no Effect here: main.ts answers `--version` with it before loading anything). */
import { readFileSync } from "node:fs"

export const packageVersion = (): string => {
  const manifest: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))
  return typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : "unknown"
}

/** What `--version` prints. */
export const versionLine = (version: string): string => `ProtonLumoAI ${version}`
