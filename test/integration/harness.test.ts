import { describe, expect, inject, it } from "vitest"
import { ImapFlow } from "imapflow"
import {
  appendMessages,
  capsModes,
  folderPath,
  folderState,
  freshUser,
  imapOptions,
  listFolders,
  mailboxState,
  recordCommands,
  sentCommands,
  withClient
} from "../support/imap.ts"
import type { CapsMode, ImapInstance } from "../support/imap.ts"

const dovecot = inject("dovecot")
const cyrus = inject("cyrus")

const bridgeFolders = ["INBOX", "Drafts", "Sent", "Starred", "Archive", "Spam", "Trash", "All Mail", "Folders", "Labels"]

const message = (n: number): string =>
  [
    "From: Alice <alice@example.com>",
    "To: Bob <bob@example.com>",
    `Subject: Message ${n}`,
    `Message-ID: <m${n}@example.com>`,
    "Date: Mon, 01 Jan 2024 10:00:00 +0000",
    "",
    `Body ${n}`,
    ""
  ].join("\r\n")

const isChildFlag = (flag: string): boolean => flag === "\\HasNoChildren" || flag === "\\HasChildren"

const expectedCaps: Record<CapsMode, { MOVE: boolean; UIDPLUS: boolean }> = {
  bridge: { MOVE: true, UIDPLUS: true },
  nomove: { MOVE: false, UIDPLUS: true },
  "nomove-nouidplus": { MOVE: false, UIDPLUS: false }
}

describe.each(capsModes)("Dovecot harness (%s)", (mode) => {
  const instance = dovecot[mode]

  it("listens on 127.0.0.1 and logs in over STARTTLS with the pinned certificate", async () => {
    expect(instance.host).toBe("127.0.0.1")
    await withClient(instance, freshUser(), async (client) => {
      expect(client.authenticated).toBeTruthy()
      expect(client.secureConnection).toBe(true)
      expect(client.tls === false || client.tls === undefined ? undefined : client.tls.authorized).toBe(true)
    })
  })

  it("refuses a wrong password", async () => {
    const client = new ImapFlow(await imapOptions(instance, freshUser(), "wrong-password"))
    await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true })
    client.close()
  })

  it("advertises the capabilities of its mode after login", async () => {
    const caps = await withClient(instance, freshUser(), async (client) => new Set(client.capabilities.keys()))
    expect(caps.has("IMAP4rev1")).toBe(true)
    expect(caps.has("IDLE")).toBe(true)
    expect(caps.has("MOVE")).toBe(expectedCaps[mode].MOVE)
    expect(caps.has("UIDPLUS")).toBe(expectedCaps[mode].UIDPLUS)
    // Bridge's set is exact: nothing Dovecot would add (CONDSTORE, SPECIAL-USE, ...)
    expect(caps.has("CONDSTORE")).toBe(false)
    expect(caps.has("SPECIAL-USE")).toBe(false)
  })

  it("gives a fresh user an empty INBOX and the Bridge-like folders", async () => {
    const user = freshUser()
    const folders = await listFolders(instance, user)
    expect([...folders].sort()).toEqual([...bridgeFolders].sort())
    const specialUse = await withClient(instance, user, async (client) =>
      Object.fromEntries((await client.list()).map((box) => [box.path, [...box.flags].filter((f) => !isChildFlag(f))]))
    )
    expect(specialUse).toMatchObject({ Spam: ["\\Junk"], "All Mail": ["\\All"], Trash: ["\\Trash"], Starred: ["\\Flagged"] })
    expect(await folderState(instance, user, "INBOX")).toEqual([])
  })

  it("appends messages with their flags, and folderState does not mark them seen", async () => {
    const user = freshUser()
    await appendMessages(instance, user, "INBOX", [
      { source: message(1), flags: ["\\Seen"] },
      { source: message(2), flags: ["\\Flagged"] },
      { source: message(3) }
    ])
    const expected = [
      { uid: 1, flags: ["\\Seen"], messageId: "<m1@example.com>", subject: "Message 1" },
      { uid: 2, flags: ["\\Flagged"], messageId: "<m2@example.com>", subject: "Message 2" },
      { uid: 3, flags: [], messageId: "<m3@example.com>", subject: "Message 3" }
    ]
    expect(await folderState(instance, user, "INBOX")).toEqual(expected)
    // reading twice proves the first read left \Seen alone
    expect(await folderState(instance, user, "INBOX")).toEqual(expected)

    await appendMessages(instance, user, "Folders/Work", [{ source: message(4) }])
    const state = await mailboxState(instance, user)
    // "Folders" itself is \Noselect once it has children with MAIL_FORMAT=maildir (LAYOUT=fs)
    const systemFolders = bridgeFolders.filter((f) => f !== "Folders" && f !== "Labels")
    expect(Object.keys(state)).toEqual(expect.arrayContaining([...systemFolders, "Folders/Work"]))
    expect(Object.values(state).flat().map((m) => m.messageId).sort()).toEqual(
      ["<m1@example.com>", "<m2@example.com>", "<m3@example.com>", "<m4@example.com>"]
    )
    expect(state["Folders/Work"]?.map((m) => m.subject)).toEqual(["Message 4"])
  })

  it("isolates users from each other", async () => {
    const a = freshUser()
    await appendMessages(instance, a, "INBOX", [{ source: message(1) }])
    expect(await folderState(instance, freshUser(), "INBOX")).toEqual([])
    expect(await folderState(instance, a, "INBOX")).toHaveLength(1)
  })

  it("records the commands a client sent (rawlog)", async () => {
    const user = freshUser()
    await appendMessages(instance, user, "INBOX", [{ source: message(1) }])
    await recordCommands(instance, user)
    await withClient(instance, user, async (client) => {
      await client.mailboxOpen("INBOX")
      await client.messageFlagsAdd("1:*", ["\\Seen"], { uid: true })
      await client.append("Archive", message(2))
    })
    const commands = await sentCommands(instance, user)
    expect(commands).toContain("SELECT INBOX")
    expect(commands).toContain("UID STORE 1:* +FLAGS (\\Seen)")
    expect(commands.some((c) => /^APPEND Archive \{\d+\+?\}$/.test(c))).toBe(true)
    expect(commands.at(-1)).toBe("LOGOUT")
    // the seeding session before recordCommands was not recorded
    expect(commands.filter((c) => c.startsWith("ID "))).toHaveLength(1)
  })

  // Dovecot quirk: imap_capability only changes what is advertised; MOVE still works.  Tests
  // that need "the client never sent MOVE" must check sentCommands, not the mailbox.
  it("still executes an unadvertised UID MOVE, which the rawlog reveals", async () => {
    const user = freshUser()
    await appendMessages(instance, user, "INBOX", [{ source: message(1) }])
    await recordCommands(instance, user)
    await withClient(instance, user, async (client) => {
      await client.mailboxOpen("INBOX")
      client.capabilities.set("MOVE", true) // make imapflow send MOVE whatever was advertised
      await client.messageMove("1", "Archive", { uid: true })
    })
    expect(await folderState(instance, user, "INBOX")).toEqual([])
    expect((await folderState(instance, user, "Archive")).map((m) => m.messageId)).toEqual(["<m1@example.com>"])
    expect(await sentCommands(instance, user)).toContain("UID MOVE 1 Archive")
  })
})

// --- the dotted layout: separator ".", personal folders under the namespace prefix "INBOX." ----
// Dovecot configured so (LAYOUT=dotted CAPS=full), and Cyrus as Debian ships it where installed.

const dottedFolders = ["INBOX", ...bridgeFolders.filter((f) => f !== "INBOX").map((f) => `INBOX.${f}`)]

const dottedLayout = (instance: () => ImapInstance) => {
  it("logs in over STARTTLS with the pinned certificate, and refuses a wrong password", async () => {
    await withClient(instance(), freshUser(), async (client) => {
      expect(client.secureConnection).toBe(true)
      expect(client.tls === false || client.tls === undefined ? undefined : client.tls.authorized).toBe(true)
    })
    const client = new ImapFlow(await imapOptions(instance(), freshUser(), "wrong-password"))
    await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true })
    client.close()
  })

  it("advertises NAMESPACE with prefix \"INBOX.\" and separator \".\", and a stock capability set", async () => {
    const { namespace, caps } = await withClient(instance(), freshUser(), async (client) => ({
      namespace: client.namespace,
      caps: new Set(client.capabilities.keys())
    }))
    expect(namespace).toEqual({ prefix: "INBOX.", delimiter: "." })
    expect(["NAMESPACE", "MOVE", "UIDPLUS", "SPECIAL-USE", "IDLE"].filter((cap) => !caps.has(cap))).toEqual([])
  })

  it("gives a fresh user INBOX and the special folders under INBOX.", async () => {
    const boxes = await withClient(instance(), freshUser(), async (client) => client.list())
    expect(boxes.map((box) => box.path).sort()).toEqual([...dottedFolders].sort())
    expect(new Set(boxes.map((box) => box.delimiter))).toEqual(new Set(["."]))
    // imapflow's specialUse: Cyrus sends the attributes in lower case (\junk)
    expect(Object.fromEntries(boxes.flatMap((box) => (box.specialUse ? [[box.path, box.specialUse]] : [])))).toEqual({
      INBOX: "\\Inbox",
      "INBOX.Drafts": "\\Drafts",
      "INBOX.Sent": "\\Sent",
      "INBOX.Starred": "\\Flagged",
      "INBOX.Archive": "\\Archive",
      "INBOX.Spam": "\\Junk",
      "INBOX.Trash": "\\Trash",
      "INBOX.All Mail": "\\All"
    })
    expect(folderPath(instance(), "Spam")).toBe("INBOX.Spam")
    expect(folderPath(instance(), "INBOX")).toBe("INBOX")
  })

  it("creates nested folders under INBOX., appends to and moves between them", async () => {
    const user = freshUser()
    const banque = folderPath(instance(), "Folders", "Administratif", "Banque")
    expect(banque).toBe("INBOX.Folders.Administratif.Banque")
    await appendMessages(instance(), user, "INBOX", [{ source: message(1), flags: ["\\Seen"] }, { source: message(2) }])
    const moves = await withClient(instance(), user, async (client) => {
      expect(await client.mailboxCreate(banque)).toMatchObject({ path: banque, created: true })
      await client.mailboxOpen("INBOX")
      const first = await client.messageMove("1", banque, { uid: true })
      await client.mailboxOpen(banque)
      const second = await client.messageMove("1", "INBOX.Archive", { uid: true })
      return [first, second].map((moved) => (moved === false ? undefined : moved.uidMap?.get(1)))
    })
    expect(moves).toEqual([1, 1]) // UIDPLUS: COPYUID for each move
    expect(await listFolders(instance(), user)).toEqual(
      expect.arrayContaining(["INBOX.Folders", "INBOX.Folders.Administratif", banque])
    )
    const state = await mailboxState(instance(), user)
    expect(state["INBOX"]?.map((m) => m.messageId)).toEqual(["<m2@example.com>"])
    expect(state[banque]).toEqual([])
    expect(state["INBOX.Archive"]).toEqual([
      { uid: 1, flags: ["\\Seen"], messageId: "<m1@example.com>", subject: "Message 1" }
    ])
  })

  it("refuses \"/\" in a folder name, and imapflow adds the prefix to a path without it", async () => {
    const user = freshUser()
    // Dovecot: "Character not allowed in mailbox name: '/'"; Cyrus: "Invalid mailbox name"
    const refused = { responseText: expect.stringMatching(/Character not allowed|Invalid mailbox name/) }
    await withClient(instance(), user, async (client) => {
      await expect(client.mailboxCreate("INBOX.Folders.Work/Urgent")).rejects.toMatchObject(refused)
      // "Folders.Perso" becomes "INBOX.Folders.Perso"; "Folders/Perso" becomes "INBOX.Folders/Perso": refused
      expect(await client.mailboxCreate("Folders.Perso")).toMatchObject({ path: "INBOX.Folders.Perso", created: true })
      await expect(client.mailboxCreate("Folders/Perso")).rejects.toMatchObject(refused)
    })
    const folders = await listFolders(instance(), user)
    expect(folders).toContain("INBOX.Folders.Perso")
    expect(folders.filter((f) => f.includes("/"))).toEqual([])
  })
}

describe("Dovecot harness (dotted)", () => {
  dottedLayout(() => dovecot.dotted)

  it("records the commands a client sent (rawlog) with the full names", async () => {
    const instance = dovecot.dotted
    const user = freshUser()
    await appendMessages(instance, user, "INBOX", [{ source: message(1) }])
    await recordCommands(instance, user)
    await withClient(instance, user, async (client) => {
      await client.mailboxOpen("INBOX")
      await client.messageMove("1", "INBOX.Spam", { uid: true })
    })
    expect(await sentCommands(instance, user)).toContain("UID MOVE 1 INBOX.Spam")
  })
})

// Cyrus runs where it is present (always in CI: CYRUS=1; see test/integration/globalSetup.ts).
for (const instance of cyrus === null ? [] : [cyrus]) {
  describe("Cyrus harness (dotted)", () => {
    dottedLayout(() => instance)
  })
}
