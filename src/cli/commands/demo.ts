/** `demo`: the bundled sample mailbox, sorted in memory. */
import { Effect } from "effect"
import { runDemo } from "../../demo.ts"
import { loadSortSettings } from "../../services/Settings.ts"

export const demoCommand = (packageRoot: string, dryRun: boolean) =>
  Effect.gen(function*() {
    const fromEnv = yield* loadSortSettings
    yield* runDemo(packageRoot, {
      ...fromEnv,
      dryRun: dryRun || fromEnv.dryRun,
      maxEmailsPerFolder: Math.max(fromEnv.maxEmailsPerFolder, 1000)
    })
  })
