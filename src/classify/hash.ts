/**
 * Deterministic 32-bit hashing for hashed features: FNV-1a over UTF-16 code units, finished with
 * murmur3's fmix32. The same text gives the same key on every machine and every run, so a model
 * saved in the database means the same thing when it is loaded again.
 */

const fmix32 = (x: number): number => {
  let h = x | 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The key of `text` in namespace `seed` (so "from:x" and the word "x" are different features). */
export const hashString = (text: string, seed: number): number => {
  let h = (0x811c9dc5 ^ Math.imul(seed, 0x9e3779b1)) | 0
  for (let index = 0; index < text.length; index++) {
    h ^= text.charCodeAt(index)
    h = Math.imul(h, 0x01000193)
  }
  return fmix32(h)
}

/** Where feature `key` of class group `group` lives (its high bits) and with which signs (its low bits). */
export const cellHash = (key: number, group: number): number => fmix32((key ^ Math.imul(group + 1, 0x27d4eb2f)) | 0)

/** Feature `key` again in a namespace of its own (the header block's copy, see `weigh`). */
export const rekey = (key: number, seed: number): number => fmix32((key ^ Math.imul(seed, 0x9e3779b1)) | 0)
