/**
 * "Any IMAP server": the CLI against servers whose hierarchy delimiter is "." and whose personal
 * folders live under "INBOX." (Dovecot configured so, and Debian's Cyrus where present), with the
 * settings written as for Bridge ("/" between levels).
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { cliEnv, runCli, startCli } from "../support/cli.ts"
import { bankEmail, personalEmail, travelEmail, workEmail } from "../support/emails.ts"
import { appendMessages, folderPath, folderState, freshUser, type ImapInstance, listFolders } from "../support/imap.ts"
import { defaultCategories } from "../support/layers.ts"

const cyrus = inject("cyrus")
const dotted: ReadonlyArray<ImapInstance> = [inject("dovecot").dotted, ...(cyrus === null ? [] : [cyrus])]

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

const count = (instance: ImapInstance, user: string, ...levels: ReadonlyArray<string>) =>
  Effect.map(promise(() => folderState(instance, user, folderPath(instance, ...levels))), (messages) => messages.length)

/** categories.json in `dir`: the shipped categories, VOYAGES in a level holding "." (these servers' delimiter). */
const writeDottedVoyages = (dir: string) => {
  const voyages = defaultCategories["VOYAGES"]
  if (voyages === undefined) throw new Error("the shipped categories have no VOYAGES")
  writeFileSync(join(dir, "categories.json"), JSON.stringify({ ...defaultCategories, VOYAGES: { ...voyages, folder: "Folders/Voyages/2026.Printemps" } }))
}

for (const instance of dotted) {
  describe(`${instance.server} with "." and an INBOX. prefix`, () => {
    it.live("sorts into folders written with '/', finds them again next run, journals the user's names, undoes", () =>
      Effect.gen(function*() {
        const user = freshUser("dotted")
        yield* promise(() =>
          appendMessages(instance, user, "INBOX", [
            { source: bankEmail(1) },
            { source: workEmail(2) },
            { source: travelEmail(3) },
            { source: personalEmail(4) }
          ])
        )
        const env = cliEnv(instance, user)
        const first = yield* runCli(["--once"], env)
        assert.strictEqual(first.code, 0, first.stdout + first.stderr)
        assert.include(first.stdout, "moved INBOX#1 → Folders/Administratif/Banque")
        assert.strictEqual(yield* count(instance, user, "Folders", "Administratif", "Banque"), 1)
        assert.strictEqual(yield* count(instance, user, "Folders", "Travail"), 1)
        assert.strictEqual(yield* count(instance, user, "Folders", "Voyages"), 1)
        assert.strictEqual(yield* count(instance, user, "INBOX"), 1)
        // No folder was made with "/" in its name, nor outside the personal namespace.
        const folders = yield* promise(() => listFolders(instance, user))
        assert.deepStrictEqual(folders.filter((folder) => folder.includes("/") || !folder.startsWith("INBOX")), [])

        // The next run finds the targets it created (no CREATE again, no "already exists").
        yield* promise(() => appendMessages(instance, user, "INBOX", [{ source: bankEmail(5) }]))
        const second = yield* runCli(["--once"], env)
        assert.strictEqual(second.code, 0, second.stdout + second.stderr)
        assert.match(second.stdout, /moved INBOX#\d+ → Folders\/Administratif\/Banque/)
        assert.strictEqual(yield* count(instance, user, "Folders", "Administratif", "Banque"), 2)

        const history = yield* runCli(["history"], env)
        assert.match(history.stdout, /move +INBOX → Folders\/Administratif\/Banque/)
        const undone = yield* runCli(["undo", "--last-run"], env)
        assert.strictEqual(undone.code, 0, undone.stderr)
        assert.include(undone.stdout, "Put back 1 of 1 messages.")
        assert.strictEqual(yield* count(instance, user, "Folders", "Administratif", "Banque"), 1)
        assert.strictEqual(yield* count(instance, user, "INBOX"), 2)
      }), 60_000)

    it.live("Spam (INBOX.Spam on the wire) is refused as a source; a '.' inside a level stops the run at start", () =>
      Effect.gen(function*() {
        const user = freshUser("dotted-names")
        yield* promise(() => appendMessages(instance, user, "INBOX", [{ source: travelEmail(1) }]))
        const spam = yield* runCli(["--once"], cliEnv(instance, user, { PROTON_LUMO_FOLDERS: "Spam" }))
        assert.strictEqual(spam.code, 1)
        assert.include(spam.stderr, "\"Spam\" must not be sorted")
        const config = mkdtempSync(join(tmpdir(), "plai-config-"))
        writeDottedVoyages(config)
        const dot = yield* runCli(["--once"], cliEnv(instance, user, { PROTON_LUMO_CONFIG: config }))
        assert.strictEqual(dot.code, 1)
        assert.include(
          dot.stderr,
          "folder \"Folders/Voyages/2026.Printemps\" cannot exist on this server: \"2026.Printemps\" holds \".\", " +
            "the server's hierarchy delimiter (write levels with \"/\", e.g. Folders/Voyages/2026/Printemps)"
        )
        assert.strictEqual(yield* count(instance, user, "INBOX"), 1)
      }), 60_000)

    it.live("the service, sent SIGHUP with such a name in categories.json, refuses it and keeps sorting with the settings in force", () =>
      Effect.gen(function*() {
        const user = freshUser("dotted-hup")
        const config = mkdtempSync(join(tmpdir(), "plai-config-"))
        writeFileSync(join(config, "categories.json"), JSON.stringify(defaultCategories))
        const service = startCli([], cliEnv(instance, user, { PROTON_LUMO_CONFIG: config, PROTON_LUMO_POLL_INTERVAL: "1" }))
        yield* promise(() => service.waitFor(/sorting INBOX:/))
        writeDottedVoyages(config)
        service.signal("SIGHUP")
        yield* promise(() => service.waitFor(/holds "\.", the server's hierarchy delimiter .*; still sorting with the settings in force/))
        yield* promise(() => appendMessages(instance, user, "INBOX", [{ source: bankEmail(1) }]))
        yield* promise(() => service.waitFor(/moved INBOX#1 → Folders\/Administratif\/Banque/))
        assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0, service.output())
      }), 60_000)

    it.live("an account of PROTON_LUMO_ACCOUNTS, sent SIGHUP with such a name, keeps sorting with its settings in force", () =>
      Effect.gen(function*() {
        const user = freshUser("dotted-hup-account")
        const dir = mkdtempSync(join(tmpdir(), "plai-accounts-"))
        writeFileSync(join(dir, "categories.json"), JSON.stringify(defaultCategories))
        writeFileSync(join(dir, "accounts.json"), JSON.stringify({ accounts: [{ name: "alice", username: user, passwordEnv: "ALICE_PASSWORD" }] }))
        const { PROTON_USERNAME: _user, PROTON_PASSWORD: _password, ...env } = cliEnv(instance, user, {
          PROTON_LUMO_CONFIG: dir,
          PROTON_LUMO_ACCOUNTS: join(dir, "accounts.json"),
          ALICE_PASSWORD: instance.password,
          PROTON_LUMO_POLL_INTERVAL: "1"
        })
        const service = startCli([], env)
        yield* promise(() => service.waitFor(/\[alice\] .*sorting INBOX:/))
        writeDottedVoyages(dir)
        service.signal("SIGHUP")
        yield* promise(() => service.waitFor(/holds "\.", the server's hierarchy delimiter .*; still sorting this account with the settings in force/))
        yield* promise(() => appendMessages(instance, user, "INBOX", [{ source: bankEmail(1) }]))
        yield* promise(() => service.waitFor(/\[alice\] moved INBOX#1 → Folders\/Administratif\/Banque/))
        assert.notInclude(service.output(), "tried again in")
        assert.strictEqual(yield* promise(() => service.stop("SIGTERM")), 0, service.output())
      }), 60_000)
  })
}
