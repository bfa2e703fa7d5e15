/**
 * Text that came from mail or from a server (subjects, Message-IDs, addresses, folder names,
 * server replies) is hostile: an ESC or C1 byte in it can drive the user's terminal (OSC 52
 * writes the clipboard, OSC 0 the window title, CSI moves the cursor), a newline can forge a log
 * line, and bidirectional overrides can make text read backwards. Such characters are shown as
 * visible escapes before anything is written to a terminal or a log.
 */

/**
 * C0 and C1 controls, DEL, line/paragraph separators, bidirectional embeddings, overrides and
 * isolates, the byte-order mark / zero-width no-break space, invisible characters that can hide
 * text (the zero-width space, word joiner, invisible operators and deprecated format controls,
 * the soft hyphen, the Mongolian vowel separator, Hangul fillers, interlinear annotation marks,
 * Unicode tag characters), and lone surrogate halves. Not the zero-width (non-)joiners: emoji
 * and several scripts need them.
 */
// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\u00ad\u115f\u1160\u180e\u200b\u2028\u2029\u202a-\u202e\u2060-\u206f\u200e\u200f\u061c\u3164\ufeff\uffa0\ufff9-\ufffb\u{e0000}-\u{e007f}\p{Cs}]/gu

const visible = (char: string): string => {
  const code = char.codePointAt(0) ?? 0
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : code <= 0xffff
    ? `\\u${code.toString(16).padStart(4, "0")}`
    : `\\u{${code.toString(16)}}`
}

/** `text` with every control or direction-changing character as a visible escape (`\x1b`, `\u202e`). */
export const escapeControls = (text: string): string => text.replace(unsafe, visible)

/**
 * JSON text with every character `escapeControls` would escape written as a JSON `\u` escape: the
 * same document to a parser, and nothing raw for a terminal (JSON.stringify leaves C1 controls,
 * direction overrides and the like as they are).
 */
export const escapeJsonControls = (json: string): string =>
  json.replace(unsafe, (char) =>
    // Raw line breaks and tabs in JSON text are its own layout (JSON.stringify escapes those in strings).
    char === "\n" || char === "\t"
      ? char
      : Array.from({ length: char.length }, (_, index) => `\\u${char.charCodeAt(index).toString(16).padStart(4, "0")}`).join(""))

/** Like `escapeControls`, but keeps the newlines (and tabs) of text we laid out ourselves. */
export const escapeControlsKeepingLines = (text: string): string =>
  text.replace(unsafe, (char) => (char === "\n" || char === "\t" ? char : visible(char)))
