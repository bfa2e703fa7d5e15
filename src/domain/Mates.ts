/**
 * Mates: open emails of one pass from the same sender, or in the same thread. The first is asked
 * (the LLM); the others wait for its answer, then the learned model, taught that answer for the rest
 * of the pass, looks at them again: a burst of one sender's or one thread's mail costs one question,
 * not one a batch, when the model can tell the rest from the first. What it still cannot tell is
 * asked as before. A key only groups mail to wait: what moves it is the model, on all of its
 * features, at its category's threshold, so a forged sender or subject buys nothing but a wait.
 */
import type { ParsedEmail } from "./Email.ts"

/** How much of a thread's subject groups mates: a hostile 1 MB subject is not kept again as a key. */
const THREAD_KEY_CHARS = 200

/** What groups mates: the sender's address and the thread (the subject without Re:/Fwd:), when there are. */
export const mateKeys = (email: Pick<ParsedEmail, "fromAddress">, thread: string): ReadonlyArray<string> => [
  ...(email.fromAddress === "" ? [] : [`from ${email.fromAddress}`]),
  ...(thread === "" ? [] : [`thread ${thread.slice(0, THREAD_KEY_CHARS)}`])
]

export class Mates {
  /** Key → UID of the open email asked first with it, until its answer is in. */
  private readonly firstOf = new Map<string, number>()
  private readonly keysOf = new Map<number, ReadonlyArray<string>>()
  private readonly waiting = new Map<number, Array<ParsedEmail>>()
  private waitingCount = 0
  private readonly maxWaiting: number

  /** At most `maxWaiting` wait at a time (as many as the queue before the batches holds). */
  constructor(maxWaiting: number) {
    this.maxWaiting = maxWaiting
  }

  /** How many wait now. */
  get waits(): number {
    return this.waitingCount
  }

  /**
   * An email the screen left open: true when it waits for a mate asked before it; otherwise it is
   * asked, and the first of its keys not yet taken.
   */
  open(email: ParsedEmail, keys: ReadonlyArray<string>): boolean {
    // Read twice under one UID: it is the first already (its keys stay its own until it is answered).
    if (this.keysOf.has(email.uid)) return false
    const first = keys.map((key) => this.firstOf.get(key)).find((uid) => uid !== undefined && uid !== email.uid)
    if (first !== undefined && this.waitingCount < this.maxWaiting) {
      this.waitingCount++
      const waiting = this.waiting.get(first)
      if (waiting === undefined) this.waiting.set(first, [email])
      else waiting.push(email)
      return true
    }
    const taken = keys.filter((key) => !this.firstOf.has(key))
    for (const key of taken) this.firstOf.set(key, email.uid)
    if (taken.length > 0) this.keysOf.set(email.uid, taken)
    return false
  }

  /** The email with this UID was answered (or could not be): the mates that waited for it, no longer waiting. */
  settle(uid: number): ReadonlyArray<ParsedEmail> {
    for (const key of this.keysOf.get(uid) ?? []) this.firstOf.delete(key)
    this.keysOf.delete(uid)
    const mates = this.waiting.get(uid) ?? []
    this.waiting.delete(uid)
    this.waitingCount -= mates.length
    return mates
  }
}
