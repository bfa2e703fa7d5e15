/**
 * Twins: emails that every classifier reads alike. A classifier reads an email's MailFields, the
 * sender as shown (`from`) and whether it is asked again (`reasked`), never its UID or dates (the
 * Message-ID only to remember the LLM's verdict, given on the same content); so twins get one
 * verdict, and one question to the LLM is enough for all of them (the same message delivered
 * twice: to two of your addresses, by a list and directly, or stored twice).
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

/** What becomes of an email the screen left open. */
export type TwinOutcome =
  /** Classify it: the first of its twins (or one past what may wait). */
  | { readonly _tag: "Classify" }
  /** Its verdict comes with its twin's (`Twins.settle`). */
  | { readonly _tag: "Waits" }
  /** Its twin's verdict, given already. */
  | { readonly _tag: "Given"; readonly uid: number; readonly verdict: Verdict }

/**
 * The twins among one folder's open emails (those the screen could not decide): the first of them
 * is classified, the others wait for its verdict, at most `maxWaiting` at a time (as many as the
 * queue before the batches holds: waiting, they are out of its back-pressure).
 */
export class Twins {
  /** Twin key → UID of the first open email with it, until its verdict is in. */
  private readonly firstOf = new Map<string, number>()
  private readonly keyOf = new Map<number, string>()
  private readonly waiting = new Map<number, Array<ParsedEmail>>()
  private waitingCount = 0
  private readonly given = new Map<string, { readonly uid: number; readonly verdict: Verdict }>()

  private readonly maxWaiting: number

  constructor(maxWaiting: number) {
    this.maxWaiting = maxWaiting
  }

  open(email: ParsedEmail): TwinOutcome {
    const key = twinKey(email)
    const given = this.given.get(key)
    if (given !== undefined) return { _tag: "Given", ...given }
    const first = this.firstOf.get(key)
    if (first === undefined) {
      this.firstOf.set(key, email.uid)
      this.keyOf.set(email.uid, key)
      return { _tag: "Classify" }
    }
    // The same message read twice is no twin of itself.
    if (first === email.uid || this.waitingCount >= this.maxWaiting) return { _tag: "Classify" }
    this.waitingCount++
    const waiting = this.waiting.get(first)
    if (waiting === undefined) this.waiting.set(first, [email])
    else waiting.push(email)
    return { _tag: "Waits" }
  }

  /**
   * The first of some twins was classified (`verdict`; undefined: it could not be): the twins that
   * waited for it, no longer waiting. Later twins get the same verdict, unless it is a stand-in
   * (`provisional`: the LLM could not answer; they are asked themselves).
   */
  settle(first: ParsedEmail, verdict: Verdict | undefined): ReadonlyArray<ParsedEmail> {
    const key = this.keyOf.get(first.uid)
    if (key === undefined) return []
    this.keyOf.delete(first.uid)
    this.firstOf.delete(key)
    const twins = this.waiting.get(first.uid) ?? []
    this.waiting.delete(first.uid)
    this.waitingCount -= twins.length
    if (verdict !== undefined) this.give(key, first.uid, verdict)
    return twins
  }

  /**
   * An email decided without a seat in a batch by what depends on its Message-ID (the LLM's
   * verdict remembered for it): its later twins get that verdict, as they would have got the LLM's.
   */
  remember(email: ParsedEmail, verdict: Verdict): void {
    this.give(twinKey(email), email.uid, verdict)
  }

  /** Hands `verdict` on to later twins, unless it is a stand-in (they are asked themselves). */
  private give(key: string, uid: number, verdict: Verdict): void {
    if (verdict.provisional === true) return
    this.given.set(key, { uid, verdict })
    const oldest = this.given.keys().next()
    if (this.given.size > MAX_GIVEN && oldest.done !== true) this.given.delete(oldest.value)
  }
}
