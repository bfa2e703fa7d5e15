#!/usr/bin/env node
/**
 * The entry. A bare `--help` (of the program or of one command) and `--version` are answered at
 * once from helpTexts.ts, before Effect and the rest are loaded; any other command line starts the
 * runtime (cli/runtime.ts), where effect/cli parses it. Node's compile cache keeps the compiled
 * code of the modules for the next start.
 */
import * as nodeModule from "node:module"
import { HELP_TEXTS } from "./cli/helpTexts.ts"
import { packageVersion, versionLine } from "./cli/version.ts"

// Looked up, not imported by name: on a Node without it (20), the import would fail before the
// runtime could say which Node is needed.
if ("enableCompileCache" in nodeModule) nodeModule.enableCompileCache()

const isHelp = (arg: string | undefined) => arg === "--help" || arg === "-h"
const args = process.argv.slice(2)
const [first, second] = args
const help = args.length === 1 && isHelp(first)
  ? HELP_TEXTS[""]
  : args.length === 2 && isHelp(second) && first !== undefined && Object.hasOwn(HELP_TEXTS, first)
  ? HELP_TEXTS[first]
  : undefined

if (help !== undefined) console.log(help)
else if (args.length === 1 && (first === "--version" || first === "-V")) console.log(versionLine(packageVersion()))
else await import("./cli/runtime.ts")
