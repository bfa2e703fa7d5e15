/** Raw RFC 5322 messages for tests. */

let counter = 0

export interface EmailSpec {
  readonly subject: string
  readonly body?: string
  readonly from?: string
  readonly messageId?: string
  readonly html?: boolean
}

/** A small, valid message (CRLF line endings), unique Message-ID unless one is given. */
export const rawEmail = (spec: EmailSpec): string => {
  counter += 1
  const messageId = spec.messageId ?? `<test-${counter}-${Math.random().toString(36).slice(2)}@example.com>`
  return [
    `From: ${spec.from ?? "Alice Example <alice@example.com>"}`,
    "To: Camille Martin <camille@example.org>",
    `Subject: ${spec.subject}`,
    "Date: Tue, 24 Nov 2026 09:00:00 +0100",
    `Message-ID: ${messageId}`,
    "MIME-Version: 1.0",
    `Content-Type: ${spec.html === true ? "text/html" : "text/plain"}; charset=utf-8`,
    "Content-Transfer-Encoding: 8bit",
    "",
    spec.body ?? "Hello.",
    ""
  ].join("\r\n")
}

/** Mail the default categories sort with confidence (subject and body agree). */
export const bankEmail = (n: number) =>
  rawEmail({ subject: `Virement reçu ${n}`, body: `Un virement a été crédité sur votre compte. Paiement ${n}.` })
export const workEmail = (n: number) =>
  rawEmail({ subject: `Réunion projet ${n}`, body: "Ordre du jour de la réunion et rapport du projet client." })
export const travelEmail = (n: number) =>
  rawEmail({ subject: `Votre billet de train ${n}`, body: "Réservation confirmée, itinéraire joint." })
export const personalEmail = (n: number) =>
  rawEmail({ subject: `Dîner samedi ${n}`, body: "On se voit chez Paul vers 20h ?" })
