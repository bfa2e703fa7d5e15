#!/usr/bin/env node
/**
 * The entry: `--help` and `--version` are answered at once, before anything else is loaded; any
 * other command line starts the runtime (cli/runtime.ts). Node's compile cache keeps the
 * compiled code of the modules for the next start.
 */
import { readFileSync } from "node:fs"
import { enableCompileCache } from "node:module"
import { HELP, wantsHelp, wantsVersion } from "./cli/help.ts"

enableCompileCache()

const args = process.argv.slice(2)
if (wantsHelp(args)) {
  console.log(HELP)
} else if (wantsVersion(args)) {
  const manifest: unknown = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))
  const version = typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : "unknown"
  console.log(`ProtonLumoAI ${version}`)
} else {
  await import("./cli/runtime.ts")
}
