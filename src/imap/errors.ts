/**
 * What imapflow's errors may tell the user, and in which words. Never `executedCommand`, which
 * can hold a LOGIN; and the password is cut out of anything a server or library echoes.
 */
import { Predicate, Redacted } from "effect"
import type { ImapSettings } from "../services/Settings.ts"

export interface ImapErrorInfo {
  readonly text: string
  readonly code: string | undefined
  readonly authenticationFailed: boolean
  readonly mailboxMissing: boolean
  /** imapflow could not start TLS (STARTTLS refused or not offered). */
  readonly tlsFailed: boolean
  /** What the server said as it closed the connection (its BYE), if anything. */
  readonly bye: string | undefined
}

const stringField = (error: unknown, field: string): string | undefined =>
  Predicate.hasProperty(error, field) && Predicate.isString(error[field]) && error[field] !== ""
    ? error[field]
    : undefined

const flag = (error: unknown, field: string): boolean => Predicate.hasProperty(error, field) && error[field] === true

/**
 * The forms a password takes on the wire that a server may echo back: as it is, as an IMAP quoted
 * string (imapflow's LOGIN escapes `\` and `"`), and in base64 (as AUTHENTICATE LOGIN sends it); the
 * longest first, as one may hold another.
 */
const wireForms = (secret: string): ReadonlyArray<string> =>
  [...new Set([secret, secret.replace(/[\\"]/g, (char) => `\\${char}`), Buffer.from(secret, "utf8").toString("base64")])]
    .sort((a, b) => b.length - a.length)

export const imapErrorInfo = (error: unknown, password: Redacted.Redacted<string>): ImapErrorInfo => {
  const text = stringField(error, "responseText") ?? stringField(error, "message") ?? String(error)
  const secret = Redacted.value(password)
  return {
    text: secret === "" ? text : wireForms(secret).reduce((cut, form) => cut.split(form).join("<redacted>"), text),
    code: stringField(error, "code"),
    authenticationFailed: flag(error, "authenticationFailed"),
    mailboxMissing: flag(error, "mailboxMissing"),
    tlsFailed: flag(error, "tlsFailed"),
    bye: stringField(error, "reason")
  }
}

/** Node's and OpenSSL's codes for a certificate that could not be verified. */
export const isCertificateProblem = (code: string | undefined): boolean =>
  code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)/.test(code)

/** Why connecting failed, in the user's terms, with the setting that fixes it where there is one. */
export const connectReason = (info: ImapErrorInfo, settings: Pick<ImapSettings, "tls" | "port">): string => {
  const code = info.code ?? ""
  if (isCertificateProblem(info.code)) {
    return `the server's certificate is not trusted (${code}): set PROTON_LUMO_IMAP_CA_FILE to its certificate ` +
      "(Bridge can export it), or PROTON_LUMO_IMAP_TLS_VERIFY=false at your own risk"
  }
  if (code === "ECONNREFUSED") {
    return "connection refused: is Proton Mail Bridge (or your IMAP server) running on this host and port?"
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number|packet length too long/i.test(info.text)) {
    return `port ${settings.port} does not speak TLS from the first byte (PROTON_LUMO_IMAP_TLS=tls): it probably ` +
      "expects STARTTLS, as Bridge's 1143 and port 143 do; set PROTON_LUMO_IMAP_TLS=starttls"
  }
  if (code === "GREETING_TIMEOUT" && settings.tls === "starttls") {
    return `the server on port ${settings.port} sent no IMAP greeting: is it the IMAP port (Bridge shows IMAP 1143 ` +
      "beside SMTP 1025)? If that port speaks TLS from the first byte (usually 993), set PROTON_LUMO_IMAP_TLS=tls"
  }
  if (code.startsWith("ClosedAfterConnect")) {
    return info.bye !== undefined
      ? `the server closed the connection as it greeted: ${info.bye}`
      : `the server on port ${settings.port} closed the connection without an IMAP greeting: is it the IMAP port ` +
        "(Bridge shows IMAP 1143 beside SMTP 1025)?"
  }
  if (info.tlsFailed) {
    return `${info.text}: the server does not offer STARTTLS, and ProtonLumoAI never sends a password in clear; ` +
      "if it speaks TLS from the first byte (usually port 993), set PROTON_LUMO_IMAP_TLS=tls"
  }
  return code === "" ? info.text : `${info.text} (${code})`
}
