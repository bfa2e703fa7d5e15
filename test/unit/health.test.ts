/** /readyz's rule: logged in, and every folder's last pass succeeded within 2 × the poll interval. */
import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { type AccountHealth, type HealthState, readinessOf } from "../../src/services/Health.ts"

const now = 1_000_000_000
const account = (changes: Partial<AccountHealth>): AccountHealth => ({
  folders: ["INBOX", "Work"],
  pollInterval: Duration.seconds(60),
  offline: undefined,
  passes: new Map([["INBOX", { at: now - 5000, failure: undefined }], ["Work", { at: now - 119_000, failure: undefined }]]),
  ...changes
})
/** The single mailbox of the plain settings (account ""). */
const state = (changes: Partial<AccountHealth>): HealthState => ({ accounts: new Map([["", account(changes)]]) })

describe("readiness", () => {
  it("ready when logged in and every folder passed within twice the poll interval", () => {
    expect(readinessOf(state({}), now)).toEqual({ ready: true, reason: "ready" })
  })

  it("not ready, saying why: offline, a folder never passed, failed, or passed too long ago", () => {
    expect(readinessOf(state({ offline: "not logged in to the IMAP server: connection refused" }), now)).toEqual({
      ready: false,
      reason: "not logged in to the IMAP server: connection refused"
    })
    const passes = new Map([
      ["INBOX", { at: now - 1000, failure: "SEARCH failed" }],
      ["Work", { at: now - 121_000, failure: undefined }]
    ])
    expect(readinessOf(state({ passes }), now)).toEqual({
      ready: false,
      reason: "INBOX: the last pass failed: SEARCH failed\nWork: the last pass was 121 s ago (more than 2 × the poll interval)"
    })
    expect(readinessOf(state({ passes: new Map() }), now).reason).toBe("INBOX: no pass yet\nWork: no pass yet")
  })

  it("with accounts: ready only when every account is, each problem naming its account; none started is not ready", () => {
    const both: HealthState = {
      accounts: new Map([["alice", account({})], ["bob", account({ offline: "not logged in to the IMAP server: wrong password" })]])
    }
    expect(readinessOf(both, now)).toEqual({ ready: false, reason: "bob: not logged in to the IMAP server: wrong password" })
    expect(readinessOf({ accounts: new Map([["alice", account({})], ["bob", account({})]]) }, now).ready).toBe(true)
    expect(readinessOf({ accounts: new Map() }, now)).toEqual({ ready: false, reason: "not logged in to the IMAP server yet" })
  })
})
