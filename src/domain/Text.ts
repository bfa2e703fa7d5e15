/**
 * Cutting and cleaning text that came from mail before it is shown or sent on. A limit counted in
 * UTF-16 units can fall between the two halves of an emoji, leaving a lone half that strict JSON
 * readers refuse; invisible format characters (zero-width spaces, direction marks, Unicode tag
 * characters) can carry whole sentences a reader never sees.
 */

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff

/** `text` cut to at most `max` UTF-16 units, never between the two halves of a character. */
export const cut = (text: string, max: number): string => {
  if (text.length <= max) return text
  return text.slice(0, max > 0 && isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max)
}

/** `text` cut to `max` units, ending in "…" when something was cut. */
export const shorten = (text: string, max: number): string => (text.length <= max ? text : `${cut(text, max - 1)}…`)

/**
 * `text` without invisible format characters (zero-width spaces and joiners, direction marks and
 * overrides, Unicode tag characters, soft hyphens), control characters but line breaks and tabs
 * (a terminal's escape sequences, a bell), and lone surrogate halves: what is left is what a
 * reader sees.
 */
export const withoutInvisible = (text: string): string => text.replace(/\p{Cf}|\p{Cs}|[^\P{Cc}\t\n\r]/gu, "")

/** How much of a Message-ID a line shows: real ones are far shorter; a hostile one can be 998. */
export const MESSAGE_ID_SHOWN = 120
