/**
 * A message as the learned classifier sees it: a sparse vector of hashed features. Nothing of the
 * text survives hashing, so what a model keeps (weights and counts per bucket) holds no mail.
 *
 * Chosen by measurement on the Enron foldering benchmark (four users, 70/30 by date): words of
 * subject and body (no word pairs: they cost up to 3.6 points through collisions), subject words
 * again in their own namespace (×2), the thread (the subject without Re:/Fwd:), the sender's
 * address, domain, parent domain and display-name words (×3: a sender the user keeps filing in
 * one folder outweighs the topic), recipients and their domains, the recipient count, List-Id,
 * List-Unsubscribe and the reply/forward markers, and the words of the sender's and recipients'
 * addresses and names again as plain words (+0.3 to +1.7 points on each user); then log term
 * frequency × inverse document frequency, L2-normalised.
 */
import type { MailFields } from "../domain/Email.ts"
import { hashString, rekey } from "./hash.ts"
import { fold, subjectParts, tokenize } from "./text.ts"


/**
 * A message's features as extracted: six bytes per feature in one buffer, as a first learning
 * scan may hold tens of thousands of messages' features at once.
 */
export interface Features {
  readonly keys: Uint32Array
  /** Occurrences (at most 255). */
  readonly counts: Uint8Array
  /** How much each key counts beside a word (the sender's features more). */
  readonly weights: Uint8Array
}

/** The bytes of `features`, to keep (numbers only: keys, counts, weights). */
export const packFeatures = (features: Features): Uint8Array => {
  const size = features.keys.length
  const bytes = new Uint8Array(size * 6)
  bytes.set(new Uint8Array(features.keys.buffer, features.keys.byteOffset, size * 4))
  bytes.set(features.counts, size * 4)
  bytes.set(features.weights, size * 5)
  return bytes
}

/**
 * `packFeatures` read back: views on `bytes` (a first scan reads tens of thousands at once), or on
 * a copy when they do not start on a 4-byte boundary, as 32-bit keys must.
 */
export const unpackFeatures = (bytes: Uint8Array): Features => {
  const size = Math.floor(bytes.length / 6)
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes.subarray(0, size * 6))
  return {
    keys: new Uint32Array(aligned.buffer, aligned.byteOffset, size),
    counts: new Uint8Array(aligned.buffer, aligned.byteOffset + size * 4, size),
    weights: new Uint8Array(aligned.buffer, aligned.byteOffset + size * 5, size)
  }
}

/** What a model reads: the keys and their log tf × weight × idf, L2-normalised (`weigh`). */
export interface Weighed {
  readonly keys: Uint32Array
  readonly values: Float32Array
}

/**
 * Changes whenever a message's features change: a model learned with others starts afresh. 3:
 * learning reads a message cut in its text as far as sorting reads it (an HTML newsletter learned
 * without its text before).
 */
export const FEATURES_VERSION = 3

const SENDER_WEIGHT = 3
const SUBJECT_WEIGHT = 2
const BODY_CHARS = 4000
const MAX_BODY_TOKENS = 800
const MAX_RECIPIENTS = 50

/** Namespaces: the same text in two roles is two features. */
const Space = {
  word: 1,
  subject: 3,
  thread: 4,
  from: 5,
  fromDomain: 6,
  fromName: 7,
  to: 8,
  toDomain: 9,
  recipients: 10,
  listId: 11,
  flag: 12
} as const

const BIAS = 0

const domainOf = (address: string): string => {
  const at = address.lastIndexOf("@")
  return at === -1 ? "" : address.slice(at + 1)
}

/** The last two labels of a domain: `mail.ecs.enron.com` → `enron.com`. */
const parentDomain = (domain: string): string => domain.split(".").slice(-2).join(".")

const recipientBucket = (n: number): string => (n <= 1 ? String(n) : n <= 3 ? "2-3" : n <= 10 ? "4-10" : "many")

/** Counts keys and remembers their weights, then packs them. */
class Accumulator {
  private readonly counts = new Map<number, number>()
  private readonly weightOf = new Map<number, number>()

  add(key: number, weight = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    if (weight !== 1) this.weightOf.set(key, weight)
  }

  addText(value: string, space: number, weight = 1): void {
    this.add(hashString(value, space), weight)
  }

  features(): Features {
    const size = this.counts.size
    const buffer = new ArrayBuffer(size * 6)
    const keys = new Uint32Array(buffer, 0, size)
    const counts = new Uint8Array(buffer, size * 4, size)
    const weights = new Uint8Array(buffer, size * 5, size)
    let index = 0
    for (const [key, count] of this.counts) {
      keys[index] = key
      counts[index] = Math.min(count, 255)
      weights[index] = this.weightOf.get(key) ?? 1
      index++
    }
    return { keys, counts, weights }
  }
}

const addSender = (features: Accumulator, mail: MailFields): void => {
  if (mail.fromAddress === "") return features.addText("none", Space.from, SENDER_WEIGHT)
  const domain = domainOf(mail.fromAddress)
  features.addText(mail.fromAddress, Space.from, SENDER_WEIGHT)
  features.addText(domain, Space.fromDomain, SENDER_WEIGHT)
  const parent = parentDomain(domain)
  if (parent !== domain) features.addText(parent, Space.fromDomain, SENDER_WEIGHT)
  for (const word of tokenize(fold(mail.fromName))) features.addText(word, Space.fromName, SENDER_WEIGHT)
}

const addRecipients = (features: Accumulator, mail: MailFields): void => {
  const recipients = [...mail.to, ...mail.cc]
  const domains = new Set<string>()
  for (const recipient of recipients.slice(0, MAX_RECIPIENTS)) {
    features.addText(recipient, Space.to)
    domains.add(domainOf(recipient))
  }
  for (const domain of domains) features.addText(domain, Space.toDomain)
  features.addText(recipientBucket(recipients.length), Space.recipients)
}

/**
 * The words of the sender's address and name and of the recipients' addresses, as plain words (the
 * namespace of subject and body): `jane.doe@enron.com` meets the "Jane" of a greeting or the "Doe"
 * of a signature, and a colleague's name is evidence wherever it appears.
 */
const addAddressWords = (features: Accumulator, mail: MailFields): void => {
  const addresses = [mail.fromAddress, mail.fromName, ...[...mail.to, ...mail.cc].slice(0, MAX_RECIPIENTS)]
  for (const word of tokenize(fold(addresses.join(" ")))) features.addText(word, Space.word)
}

/** The message's features, as counts (see `weigh`). */
export const extractFeatures = (mail: MailFields): Features => {
  const features = new Accumulator()
  features.add(BIAS)
  addSender(features, mail)
  addRecipients(features, mail)
  if (mail.listId !== "") features.addText(fold(mail.listId), Space.listId, SENDER_WEIGHT)
  if (mail.listUnsubscribe) features.addText("list-unsubscribe", Space.flag)
  const subject = subjectParts(mail.subject)
  if (subject.reply) features.addText("re", Space.flag)
  if (subject.forward) features.addText("fwd", Space.flag)
  const subjectWords = tokenize(subject.core)
  if (subject.core === "") features.addText("no-subject", Space.flag)
  else features.addText(subject.core, Space.thread)
  for (const word of subjectWords) {
    features.addText(word, Space.word)
    features.addText(word, Space.subject, SUBJECT_WEIGHT)
  }
  addAddressWords(features, mail)
  for (const word of tokenize(fold(mail.body.slice(0, BODY_CHARS))).slice(0, MAX_BODY_TOKENS)) {
    features.addText(word, Space.word)
  }
  return features.features()
}

/**
 * The hashed address of the message's sender (or "none"): `extractFeatures` adds it first after the
 * bias, and a feature's place is where it was first added.
 */
export const senderKey = (features: Features): number | undefined => features.keys[1]

/** The same hashed address, from the address itself; undefined for mail without one (not pooled as "none"). */
export const senderOf = (mail: Pick<MailFields, "fromAddress">): number | undefined =>
  mail.fromAddress === "" ? undefined : hashString(mail.fromAddress, Space.from)

/** The namespace of the header block's copy (see `weigh`). */
const HEADER_COPY = 13

/**
 * Log term frequency × weight × inverse document frequency, L2-normalised: what the model reads.
 *
 * With `headerBoost` b > 0, the header block (the features weighted above 1: the sender's, the
 * List-Id, the subject's words) comes again as features of their own, normalised on their own
 * to length b: in a long message the sender is a small share of its words; in the copy the
 * sender and subject weigh as much as all of them, whatever the length of the body. Which of
 * the two a user's mail wants depends on how they file (by person or by topic): `FolderModel`
 * chooses on their own held-out mail.
 */
export const weigh = (features: Features, idf: (key: number) => number, headerBoost = 0): Weighed => {
  const values = new Float32Array(features.keys.length)
  let norm = 0
  for (let index = 0; index < values.length; index++) {
    const value = Math.log1p(features.counts[index] ?? 0) * (features.weights[index] ?? 1) * idf(features.keys[index] ?? 0)
    values[index] = value
    norm += value * value
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0
  for (let index = 0; index < values.length; index++) values[index] = (values[index] ?? 0) * scale
  const message = { keys: features.keys, values }
  return headerBoost > 0 ? withHeaderCopy(message, features.weights, headerBoost) : message
}

/** `message` and its header block's copy at length `boost`, the whole back to length 1. */
const withHeaderCopy = (message: Weighed, weights: Uint8Array, boost: number): Weighed => {
  const size = message.keys.length
  const header: Array<number> = []
  let headerNorm = 0
  for (let index = 0; index < size; index++) {
    if ((weights[index] ?? 1) <= 1) continue
    header.push(index)
    headerNorm += (message.values[index] ?? 0) ** 2
  }
  if (headerNorm === 0) return message
  const keys = new Uint32Array(size + header.length)
  const values = new Float32Array(size + header.length)
  const total = 1 / Math.sqrt(1 + boost * boost)
  const copyScale = (boost / Math.sqrt(headerNorm)) * total
  keys.set(message.keys)
  for (let index = 0; index < size; index++) values[index] = (message.values[index] ?? 0) * total
  header.forEach((index, n) => {
    keys[size + n] = rekey(message.keys[index] ?? 0, HEADER_COPY)
    values[size + n] = (message.values[index] ?? 0) * copyScale
  })
  return { keys, values }
}

/**
 * In how many learned messages each feature bucket occurs (2^bits buckets), kept as mail is
 * learned and unlearned: a feature's weight is log((N + 1) / (df + 1)) + 1.
 */
export class DocumentFrequency {
  private readonly shift: number
  private readonly counts: Float32Array
  private documents: number

  /** A new table, or one saved before (its `state`). */
  constructor(bits: number, saved?: { readonly counts: Float32Array; readonly documents: number }) {
    this.shift = 32 - bits
    this.counts = saved?.counts ?? new Float32Array(2 ** bits)
    this.documents = saved?.documents ?? 0
  }

  add(features: Pick<Features, "keys">, sign: 1 | -1): void {
    for (const key of features.keys) {
      const bucket = key >>> this.shift
      this.counts[bucket] = Math.max(0, (this.counts[bucket] ?? 0) + sign)
    }
    this.documents = Math.max(0, this.documents + sign)
  }

  readonly idf = (key: number): number => Math.log((this.documents + 1) / ((this.counts[key >>> this.shift] ?? 0) + 1)) + 1

  /** What to save: the counts and the number of documents. */
  get state(): { readonly counts: Float32Array; readonly documents: number } {
    return { counts: this.counts, documents: this.documents }
  }
}
