/** IMAP sequence sets (`1:4,7,9:12`): compact UID lists for commands and for the state file. */

/** Sorted, de-duplicated UIDs as a sequence set. */
export const toSequenceSet = (uids: Iterable<number>): string => {
  const sorted = [...new Set(uids)].sort((a, b) => a - b)
  const ranges: Array<string> = []
  let start = sorted[0]
  let end = start
  for (const uid of sorted.slice(1)) {
    if (end !== undefined && uid === end + 1) {
      end = uid
      continue
    }
    if (start !== undefined) ranges.push(start === end ? `${start}` : `${start}:${end}`)
    start = uid
    end = uid
  }
  if (start !== undefined) ranges.push(start === end ? `${start}` : `${start}:${end}`)
  return ranges.join(",")
}

/** The UIDs a sequence set names (no `*`); None-like empty array for an empty or malformed set. */
export const fromSequenceSet = (set: string): ReadonlyArray<number> => {
  const uids: Array<number> = []
  for (const part of set.split(",")) {
    const match = /^(\d+)(?::(\d+))?$/.exec(part.trim())
    if (match === null) continue
    const from = Number(match[1])
    const to = match[2] === undefined ? from : Number(match[2])
    for (let uid = Math.min(from, to); uid <= Math.max(from, to); uid++) uids.push(uid)
  }
  return uids
}
