/** Folder names written with "/" and spelled the server's way: prefix and delimiter, both ways. */
import { describe, expect, it } from "vitest"
import { fromServerName, nameProblem, slashHierarchy, toServerName } from "../../src/domain/FolderNames.ts"

const dotted = { prefix: "INBOX.", delimiter: "." }

describe("folder names on the server", () => {
  it("a '/' server without prefix (Bridge, Dovecot's default) takes the names as written", () => {
    for (const name of ["INBOX", "Spam", "Folders/Administratif/Banque", "Labels/Travail"]) {
      expect(toServerName(slashHierarchy, name)).toBe(name)
      expect(fromServerName(slashHierarchy, name)).toBe(name)
    }
  })

  it("a '.' server with an INBOX. prefix (Cyrus, many hosted servers): levels joined by '.', under INBOX.", () => {
    expect(toServerName(dotted, "Folders/Administratif/Banque")).toBe("INBOX.Folders.Administratif.Banque")
    expect(toServerName(dotted, "Spam")).toBe("INBOX.Spam")
    expect(toServerName(dotted, "INBOX")).toBe("INBOX")
    expect(toServerName(dotted, "inbox")).toBe("INBOX")
    // A name written under INBOX already is not prefixed twice.
    expect(toServerName(dotted, "INBOX/Archive")).toBe("INBOX.Archive")
  })

  it("what the server lists comes back as the user wrote it, so a target created once is found the next time", () => {
    expect(fromServerName(dotted, "INBOX.Folders.Administratif.Banque")).toBe("Folders/Administratif/Banque")
    expect(fromServerName(dotted, "INBOX.Spam")).toBe("Spam")
    expect(fromServerName(dotted, "INBOX")).toBe("INBOX")
    for (const name of ["Folders/Administratif/Banque", "Spam", "Labels/Travail"]) {
      expect(fromServerName(dotted, toServerName(dotted, name))).toBe(name)
    }
  })

  it("a name that cannot exist on the server is refused, saying why", () => {
    expect(nameProblem(dotted, "Folders/Administratif/Banque")).toBeUndefined()
    expect(nameProblem(dotted, "Travel/2026.Spring")).toMatch(/"2026\.Spring" holds "\."/)
    expect(nameProblem(dotted, "Travel/2026.Spring")).toMatch(/Travel\/2026\/Spring/)
    expect(nameProblem(slashHierarchy, "Travel/2026.Spring")).toBeUndefined()
    expect(nameProblem(slashHierarchy, "Folders//Banque")).toMatch(/empty level/)
    expect(nameProblem(slashHierarchy, "Folders/../News")).toMatch(/"\.\." level/)
    expect(nameProblem(dotted, "Folders/./News")).toMatch(/"\." or/)
    expect(nameProblem(slashHierarchy, "Folders/...")).toBeUndefined()
    expect(nameProblem({ prefix: "", delimiter: "" }, "Folders/Banque")).toMatch(/flat/)
    expect(nameProblem({ prefix: "", delimiter: "" }, "Banque")).toBeUndefined()
  })
})
