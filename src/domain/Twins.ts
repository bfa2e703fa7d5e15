/**
 * Twins: emails that every classifier reads alike. A classifier reads an email's MailFields, the
 * sender as shown (`from`) and whether it is asked again (`reasked`), never its UID, Message-ID or
 * dates; so twins get one verdict, and one question to the LLM is enough for all of them (the same
 * message delivered twice: to two of your addresses, by a list and directly, or stored twice).
 * Everything read is compared, not the Message-ID a sender chooses: a copy that differs anywhere
 * a classifier looks is no twin.
 */
import { createHash } from "node:crypto"
import type { ParsedEmail, Verdict } from "./Email.ts"

export const twinKey = (email: ParsedEmail): string =>
  createHash("sha256")
    .update(JSON.stringify([
      email.from,
      email.fromAddress,
      email.fromName,
      email.to,
      email.cc,
      email.listId,
      email.listUnsubscribe,
      email.subject,
      email.body,
      email.reasked === true
    ]))
    .digest("hex")

/** Verdicts remembered for later twins, newest kept (twins mostly arrive together). */
const MAX_GIVEN = 10_000

/** A verdict given to the first of some twins. */
export interface TwinVerdict {
  readonly uid: number
  readonly verdict: Verdict
}

/**
 * The twins among one folder's open emails (those the screen could not decide): the first of them
 * is classified, the others wait for its verdict.
 */
export class Twins {
  /** Twin key → UID of the first open email with it, until its verdict is in. */
  private readonly firstOf = new Map<string, number>()
  private readonly keyOf = new Map<number, string>()
  private readonly waiting = new Map<number, Array<ParsedEmail>>()
  private readonly waits = new Set<number>()
  private readonly given = new Map<string, TwinVerdict>()

  /**
   * An email the screen left open: the verdict its twin got, if one did; otherwise it is the first
   * of its twins, or waits for the first (`waitsForTwin`).
   */
  open(email: ParsedEmail): TwinVerdict | undefined {
    const key = twinKey(email)
    const given = this.given.get(key)
    if (given !== undefined) return given
    const first = this.firstOf.get(key)
    if (first === undefined) {
      this.firstOf.set(key, email.uid)
      this.keyOf.set(email.uid, key)
      return undefined
    }
    this.waits.add(email.uid)
    const waiting = this.waiting.get(first)
    if (waiting === undefined) this.waiting.set(first, [email])
    else waiting.push(email)
    return undefined
  }

  /** Whether this open email waits for its twin's verdict (it needs no classifying of its own). */
  waitsForTwin(email: ParsedEmail): boolean {
    return this.waits.has(email.uid)
  }

  /**
   * The first of some twins was classified (`verdict`; undefined: it could not be): the twins that
   * waited for it, no longer waiting. Later twins get the same verdict.
   */
  settle(first: ParsedEmail, verdict: Verdict | undefined): ReadonlyArray<ParsedEmail> {
    const key = this.keyOf.get(first.uid)
    if (key === undefined) return []
    this.keyOf.delete(first.uid)
    this.firstOf.delete(key)
    const twins = this.waiting.get(first.uid) ?? []
    this.waiting.delete(first.uid)
    for (const twin of twins) this.waits.delete(twin.uid)
    if (verdict !== undefined) {
      this.given.set(key, { uid: first.uid, verdict })
      const oldest = this.given.keys().next()
      if (this.given.size > MAX_GIVEN && oldest.done !== true) this.given.delete(oldest.value)
    }
    return twins
  }
}
