/**
 * Generated mail with a known true category, written so that keywords alone rarely decide
 * (the LLM is needed), for tests and measurements of the LLM path. Deterministic for a seed.
 */
import { defaultCategories } from "./layers.ts"

export interface CorpusEmail {
  readonly subject: string
  readonly source: string
  readonly messageId: string
  /** A category id of the default categories, or NONE: stays in INBOX. */
  readonly truth: string
}

const templates: Record<string, ReadonlyArray<readonly [string, string]>> = {
  BANQUE: [
    ["Your October statement is ready", "Dear customer, your statement for the period is available in online banking."],
    ["Direct debit scheduled", "A direct debit of 42.10 EUR to your electricity supplier will be taken on the 5th."],
    ["Card payment declined", "A card purchase was declined. If this was you, please check your available balance."]
  ],
  VENTE: [
    ["Your order has shipped", "Good news: parcel 1Z999 left our warehouse and should arrive on Thursday."],
    ["Weekend deals just for you", "Save on selected items in our store until Sunday midnight."],
    ["Items waiting in your basket", "You left two items behind. They are reserved for 24 hours."]
  ],
  PRO: [
    ["Agenda for Thursday's sync", "Hi team, attached is the agenda; please add your topics before Wednesday."],
    ["Q3 figures review", "Could you look at the slides before the steering committee? Remarks welcome."],
    ["Onboarding checklist for the new hire", "Here is what we need ready before Monday: laptop, accounts, badge."]
  ],
  VOYAGES: [
    ["Your boarding pass", "Seat 14C, gate closes 30 minutes before departure. Have a pleasant trip."],
    ["Check-in opens tomorrow", "Your stay at the Lakeside Inn starts on Friday; check-in from 3 pm."],
    ["Car rental confirmation", "Pick-up at the airport desk, Saturday 10:00, return Tuesday 18:00."]
  ],
  SOCIAL: [
    ["Anna tagged you in a photo", "See what Anna posted from last night's concert."],
    ["You have 3 new connection invitations", "People you may know are waiting to connect with you."],
    ["Marc replied to your post", "\"Great idea!\" Reply or react from the app."]
  ],
  NEWSLETTER: [
    ["This week in open source", "Top stories: a new database release, conference talks, and job offers."],
    ["The Saturday reading list", "Five long reads for your weekend, picked by our editors."],
    ["Issue 212: gardening in autumn", "Bulbs to plant now, tools to clean, and a reader's question."]
  ],
  NONE: [
    ["Lunch on Sunday?", "Mum asks whether you will come for lunch on Sunday. Bring the kids!"],
    ["Photos from the hike", "Here are the pictures, the view from the top was amazing."],
    ["Book you lent me", "I finished it, I'll give it back on Friday. Loved the ending."]
  ]
}

const categoryIds = Object.keys(templates)

/** A small deterministic pseudo-random sequence (mulberry32). */
const random = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;")

const paragraph =
  "We are writing to let you know about the details below. If anything looks wrong, reply to this " +
  "message and our team will get back to you within two working days. Thank you for your trust. "

export interface CorpusOptions {
  /** Paragraphs of filler text, for messages of a few KB. */
  readonly paragraphs?: number
  /** Every `attachmentEvery`-th message carries a base64 attachment of `attachmentBytes`. */
  readonly attachmentEvery?: number
  readonly attachmentBytes?: number
}

/** A deterministic base64 blob of about `bytes` bytes, in 76-character lines. */
const attachmentBody = (bytes: number, seed: number): string => {
  const raw = Buffer.alloc(bytes)
  for (let i = 0; i < bytes; i++) raw[i] = (i * 31 + seed * 7) & 0xff
  return raw.toString("base64").replace(/.{76}/g, "$&\r\n")
}

/** `n` emails, categories in rotation; every third one HTML. Subjects are unique. */
export const corpus = (n: number, seed = 1, options: CorpusOptions = {}): ReadonlyArray<CorpusEmail> => {
  const next = random(seed)
  const filler = paragraph.repeat(options.paragraphs ?? 0)
  return Array.from({ length: n }, (_, index) => {
    const truth = categoryIds[index % categoryIds.length] ?? "NONE"
    const choices = templates[truth] ?? []
    const [subjectBase, body] = choices[Math.floor(next() * choices.length)] ?? ["Hello", "Hello"]
    const subject = `${subjectBase} (ref ${seed}-${index + 1})`
    const messageId = `<corpus-${seed}-${index + 1}@example.net>`
    const html = index % 3 === 2
    const text = html
      ? `<html><body><p>${escapeHtml(body)}</p><p>${escapeHtml(filler)}</p><p>Regards</p></body></html>`
      : `${body}\r\n\r\n${filler}\r\n\r\nRegards`
    const every = options.attachmentEvery ?? 0
    const attached = every > 0 && index % every === every - 1
    const headers = [
      `From: ${truth === "NONE" ? "Claire Dupont <claire@example.org>" : `Service ${truth.toLowerCase()} <noreply@example.net>`}`,
      "To: Camille Martin <camille@example.org>",
      `Subject: ${subject}`,
      "Date: Tue, 24 Nov 2026 09:00:00 +0100",
      `Message-ID: ${messageId}`,
      "MIME-Version: 1.0"
    ]
    const contentType = `${html ? "text/html" : "text/plain"}; charset=utf-8`
    const source = attached
      ? [
        ...headers,
        "Content-Type: multipart/mixed; boundary=\"b-part\"",
        "",
        "--b-part",
        `Content-Type: ${contentType}`,
        "",
        text,
        "--b-part",
        "Content-Type: application/pdf; name=\"document.pdf\"",
        "Content-Disposition: attachment; filename=\"document.pdf\"",
        "Content-Transfer-Encoding: base64",
        "",
        attachmentBody(options.attachmentBytes ?? 30_000, index),
        "--b-part--",
        ""
      ].join("\r\n")
      : [...headers, `Content-Type: ${contentType}`, "", text, ""].join("\r\n")
    return { subject, source, messageId, truth }
  })
}

/** The folder a corpus email belongs in. */
export const truthFolder = (truth: string): string => defaultCategories[truth]?.folder ?? "INBOX"

/** The truth of a corpus subject, as an oracle model would know it. */
export const truthOf = (emails: ReadonlyArray<CorpusEmail>) => {
  const bySubject = new Map(emails.map((email) => [email.subject, email.truth]))
  return (subject: string): string => bySubject.get(subject) ?? "NONE"
}

/** Mail the default keywords sort with confidence (and some they leave), for keyword-only runs. */
const keywordTemplates: Record<string, ReadonlyArray<readonly [string, string]>> = {
  BANQUE: [["Virement reçu sur votre compte", "Un virement a été crédité sur votre compte. Paiement confirmé."]],
  VENTE: [["Votre commande est en livraison", "Votre panier a été validé ; profitez d'un code promo sur la prochaine commande."]],
  PRO: [["Réunion projet client jeudi", "Ordre du jour de la réunion, rapport du projet et présentation au client."]],
  VOYAGES: [["Votre billet de train et votre réservation", "Réservation confirmée : billet, hôtel et itinéraire joints."]],
  NEWSLETTER: [["Weekly digest: the newsletter", "This weekly newsletter digest is sent to subscribers. Unsubscribe at any time."]],
  SOCIAL: [["New comment and friend request", "You have a new notification: a comment on your post and a friend request."]],
  NONE: [["Dîner samedi ?", "On se voit chez Paul vers 20h, apporte le dessert."]]
}

/**
 * `n` emails the keyword classifier sorts (one in seven stays), a few KB each, unique subjects:
 * plain text, HTML-only (every third) and multipart/alternative (every fifth).
 */
export const keywordCorpus = (n: number, seed = 1, paragraphs = 8): ReadonlyArray<CorpusEmail> => {
  const ids = Object.keys(keywordTemplates)
  const filler = paragraph.repeat(paragraphs)
  return Array.from({ length: n }, (_, index) => {
    const truth = ids[index % ids.length] ?? "NONE"
    const [subjectBase, body] = keywordTemplates[truth]?.[0] ?? ["Hello", "Hello"]
    const subject = `${subjectBase} (${seed}-${index + 1})`
    const messageId = `<kw-${seed}-${index + 1}@example.net>`
    const plain = `${body}\r\n\r\n${filler}\r\n`
    const html = `<html><body><p>${escapeHtml(body)}</p><p>${escapeHtml(filler)}</p></body></html>\r\n`
    const content = index % 5 === 4
      ? [
        "Content-Type: multipart/alternative; boundary=\"alt\"",
        "",
        "--alt",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        plain,
        "--alt",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        html,
        "--alt--"
      ]
      : [`Content-Type: ${index % 3 === 2 ? "text/html" : "text/plain"}; charset=utf-8`, "Content-Transfer-Encoding: 8bit", "", index % 3 === 2 ? html : plain]
    const source = [
      "From: Sender <sender@example.net>",
      "To: Camille Martin <camille@example.org>",
      `Subject: ${subject}`,
      "Date: Tue, 24 Nov 2026 09:00:00 +0100",
      `Message-ID: ${messageId}`,
      "MIME-Version: 1.0",
      ...content,
      ""
    ].join("\r\n")
    return { subject, source, messageId, truth }
  })
}
