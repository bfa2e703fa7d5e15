/**
 * Text that came from mail or from a server (subjects, Message-IDs, addresses, folder names,
 * server replies) is hostile: an ESC or C1 byte in it can drive the user's terminal (OSC 52
 * writes the clipboard, OSC 0 the window title, CSI moves the cursor), a newline can forge a log
 * line, and bidirectional overrides can make text read backwards. Such characters are shown as
 * visible escapes before anything is written to a terminal or a log.
 */

/**
 * C0 and C1 controls, DEL, line/paragraph separators, bidirectional embeddings, overrides and
 * isolates, and the byte-order mark / zero-width no-break space.
 */
// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\ufeff]/g

const visible = (char: string): string => {
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
}

/** `text` with every control or direction-changing character as a visible escape (`\x1b`, `\u202e`). */
export const escapeControls = (text: string): string => text.replace(unsafe, visible)

/** Like `escapeControls`, but keeps the newlines (and tabs) of text we laid out ourselves. */
export const escapeControlsKeepingLines = (text: string): string =>
  text.replace(unsafe, (char) => (char === "\n" || char === "\t" ? char : visible(char)))
