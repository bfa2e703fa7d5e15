/**
 * A message's fingerprint: a hash of the start of its raw source (its headers and the first of
 * its body). A Message-ID is chosen by the sender, so anyone can reuse one; the fingerprint tells
 * the message the sorter moved from another that carries the same Message-ID, when undo or crash
 * recovery looks for it again.
 */
import { createHash } from "node:crypto"

/** Bytes of raw source the fingerprint covers; every fetch for classification reads at least this much. */
export const FINGERPRINT_BYTES = 16 * 1024

export const fingerprint = (source: Uint8Array): string =>
  createHash("sha256").update(source.subarray(0, FINGERPRINT_BYTES)).digest("hex").slice(0, 32)
