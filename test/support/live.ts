/** The pipeline wired to a real IMAP server (a private Dovecot or Cyrus), as one run of the CLI wires it. */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Option, Redacted, References } from "effect"
import type { CategoriesFile } from "../../src/domain/Category.ts"
import { type ClassifierNeeds, sorterLayer } from "../../src/layers.ts"
import { sortMailbox } from "../../src/pipeline/sortMailbox.ts"
import { Categories } from "../../src/services/Categories.ts"
import type { Classifier } from "../../src/services/Classifier.ts"
import { Database } from "../../src/services/Database.ts"
import { type ImapOptions, Mailbox } from "../../src/services/Mailbox.ts"
import { Settings, type SortSettings } from "../../src/services/Settings.ts"
import type { ImapInstance } from "./imap.ts"
import { defaultCategories } from "./layers.ts"

/** The live Mailbox for `user` on `instance`: STARTTLS, its certificate pinned. */
export const imapLayer = (instance: ImapInstance, user: string, options: ImapOptions = {}) =>
  Mailbox.layerImap({
    host: instance.host,
    port: instance.port,
    user,
    password: Redacted.make(instance.password),
    tls: "starttls",
    caFile: Option.some(instance.caFile),
    tlsVerify: true
  }, options)

export interface LiveRun {
  readonly settings?: Partial<SortSettings>
  /** Where protonlumo.db lives; a fresh temporary folder when absent. */
  readonly dataDir?: string
  readonly classifier?: Layer.Layer<Classifier, never, ClassifierNeeds>
  readonly categories?: CategoriesFile
  /** Decorates the live Mailbox (another client acting in between, say). */
  readonly mailboxWrapper?: Layer.Layer<Mailbox, never, Mailbox>
}

/** One pass of the real pipeline over `instance`, with a connection of its own: the report of each folder. */
export const sortOnceLive = (instance: ImapInstance, user: string, run: LiveRun = {}) => {
  const settings = { ...Settings.defaults, ...run.settings }
  return sortMailbox().pipe(
    Effect.map((pass) => pass.folders),
    Effect.provide(
      Layer.merge(
        sorterLayer({
          settings,
          categories: Categories.layerFrom(run.categories ?? defaultCategories),
          mailbox: run.mailboxWrapper === undefined
            ? imapLayer(instance, user, { readOnly: settings.dryRun })
            : run.mailboxWrapper.pipe(Layer.provide(imapLayer(instance, user, { readOnly: settings.dryRun }))),
          database: Database.layerFile(run.dataDir ?? mkdtempSync(join(tmpdir(), "plai-data-"))),
          ...(run.classifier === undefined ? {} : { classifier: run.classifier })
        }),
        Layer.succeed(References.MinimumLogLevel, "Error")
      )
    )
  )
}
