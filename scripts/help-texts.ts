/**
 * Writes src/cli/helpTexts.ts: every command's help as effect/cli renders it, for main.ts to answer
 * a bare `--help` at once. Run it (`npm run help:texts`) after changing the command line; a unit
 * test fails while the file differs.
 */
import { writeFileSync } from "node:fs"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { helpTextsModule, renderHelpTexts } from "../src/cli/commandLine.ts"

const target = new URL("../src/cli/helpTexts.ts", import.meta.url)

renderHelpTexts.pipe(
  Effect.map((texts) => writeFileSync(target, helpTextsModule(texts))),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
