/** The pipeline wired to a real IMAP server (a private Dovecot), as one run of the CLI wires it. */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Option, Redacted, References } from "effect"
import type { CategoriesFile } from "../../src/domain/Category.ts"
import { sortMailbox } from "../../src/pipeline/sortMailbox.ts"
import { Categories } from "../../src/services/Categories.ts"
import { Classifier } from "../../src/services/Classifier.ts"
import type { Database } from "../../src/services/Database.ts"
import { Mailbox } from "../../src/services/Mailbox.ts"
import { MessageParser } from "../../src/services/MessageParser.ts"
import { Settings, type SortSettings } from "../../src/services/Settings.ts"
import type { DovecotInstance } from "./imap.ts"
import { defaultCategories, fileStorage } from "./layers.ts"

/** The live Mailbox for `user` on `instance`: STARTTLS, its certificate pinned. */
export const imapLayer = (instance: DovecotInstance, user: string) =>
  Mailbox.layerImap({
    host: instance.host,
    port: instance.port,
    user,
    password: Redacted.make(instance.password),
    tls: "starttls",
    caFile: Option.some(instance.caFile),
    tlsVerify: true
  })

export interface LiveRun {
  readonly settings?: Partial<SortSettings>
  /** Where protonlumo.db lives; a fresh temporary folder when absent. */
  readonly dataDir?: string
  readonly classifier?: Layer.Layer<Classifier, never, Categories | Database>
  readonly categories?: CategoriesFile
}

/** One pass of the real pipeline over `instance`, with a connection of its own. */
export const sortOnceLive = (instance: DovecotInstance, user: string, run: LiveRun = {}) =>
  sortMailbox().pipe(
    Effect.provide(
      Layer.mergeAll(
        imapLayer(instance, user),
        run.classifier ?? Classifier.layerKeyword,
        // Parser threads, as the CLI runs them.
        MessageParser.layer,
        Layer.succeed(References.MinimumLogLevel, "Error")
      ).pipe(
        Layer.provideMerge(Layer.succeed(Settings, { ...Settings.defaults, ...run.settings })),
        Layer.provideMerge(Categories.layerFrom(run.categories ?? defaultCategories)),
        Layer.provideMerge(fileStorage(run.dataDir ?? mkdtempSync(join(tmpdir(), "plai-data-"))))
      )
    )
  )
