/**
 * TLS for the IMAP connection. A pinned certificate (PROTON_LUMO_IMAP_CA_FILE) is read again at
 * every connection, so a certificate re-exported after Bridge made a new one is picked up without
 * a restart; and when the server's certificate no longer matches it, the one the server presents
 * is looked at, so the user is told plainly that the certificate changed.
 */
import { X509Certificate } from "node:crypto"
import { readFile } from "node:fs/promises"
import { isIP, type Socket, connect as connectTcp } from "node:net"
import { checkServerIdentity, connect as connectTls, type ConnectionOptions, type PeerCertificate } from "node:tls"
import { Effect, Option } from "effect"
import { ImapConnectError } from "../domain/Errors.ts"
import type { ImapSettings } from "../services/Settings.ts"

export interface TlsSetup {
  readonly options: ConnectionOptions
  /** SHA-256 fingerprint of the pinned certificate, if one is pinned. */
  readonly pinned: string | undefined
}

/**
 * A pinned certificate is trusted as-is: Bridge's self-signed certificate names 127.0.0.1 only
 * in its CN, which Node's hostname check rejects, so identity is checked by fingerprint instead.
 */
export const tlsSetup = (settings: ImapSettings): Effect.Effect<TlsSetup, ImapConnectError> =>
  Option.match(settings.caFile, {
    onNone: () => Effect.succeed({ options: settings.tlsVerify ? {} : { rejectUnauthorized: false }, pinned: undefined }),
    onSome: (caFile) =>
      Effect.tryPromise({
        try: async (): Promise<TlsSetup> => {
          const pem = await readFile(caFile, "utf8")
          const pinned = new X509Certificate(pem).fingerprint256
          return {
            pinned,
            options: {
              ca: [pem],
              rejectUnauthorized: settings.tlsVerify,
              checkServerIdentity: (host: string, certificate: PeerCertificate) =>
                certificate.fingerprint256 === pinned ? undefined : checkServerIdentity(host, certificate)
            }
          }
        },
        catch: (error) =>
          new ImapConnectError({
            host: settings.host,
            port: settings.port,
            reason: `PROTON_LUMO_IMAP_CA_FILE ${caFile}: ${error instanceof Error ? error.message : String(error)}`
          })
      })
  })

/** The first bytes of a fingerprint ("AB:CD:…"): enough to tell two certificates apart in a log line. */
export const shortFingerprint = (fingerprint: string): string => `${fingerprint.slice(0, 23)}…`

const PROBE_TIMEOUT_MILLIS = 5_000

/**
 * The SHA-256 fingerprint of the certificate the server presents, read without trusting it and
 * without logging in (for STARTTLS: greeting, STARTTLS, handshake, close). Undefined when it
 * cannot be read.
 */
export const presentedCertificate = (settings: Pick<ImapSettings, "host" | "port" | "tls">): Promise<string | undefined> =>
  new Promise((resolve) => {
    /** The outermost socket: the TLS one once there is one (destroying it closes the one beneath). */
    let outer: Socket | undefined
    const done = (fingerprint: string | undefined) => {
      clearTimeout(timer)
      outer?.destroy()
      resolve(fingerprint)
    }
    const timer = setTimeout(() => done(undefined), PROBE_TIMEOUT_MILLIS)
    const handshake = (socket: Socket | undefined) => {
      const secure = connectTls({
        host: settings.host,
        port: settings.port,
        ...(socket === undefined ? {} : { socket }),
        ...(isIP(settings.host) === 0 ? { servername: settings.host } : {}),
        rejectUnauthorized: false
      }, () => done(secure.getPeerCertificate().fingerprint256))
      outer = secure
      secure.on("error", () => done(undefined))
    }
    if (settings.tls === "tls") return handshake(undefined)
    const plain = connectTcp(settings.port, settings.host)
    outer = plain
    plain.on("error", () => done(undefined))
    let greeted = false
    let pending = ""
    plain.on("data", (data: Buffer) => {
      pending += data.toString("latin1")
      for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
        const line = pending.slice(0, end)
        pending = pending.slice(end + 1)
        if (!greeted) {
          if (!/^\* OK/i.test(line)) return done(undefined)
          greeted = true
          plain.write("P1 STARTTLS\r\n")
        } else if (/^P1 OK/i.test(line)) {
          plain.removeAllListeners("data")
          return handshake(plain)
        } else if (/^P1 /i.test(line)) return done(undefined)
      }
    })
  })
