/** ParsedEmail literals for unit tests: only what a test cares about, the rest empty. */
import type { ParsedEmail } from "../../src/domain/Email.ts"

export const parsedEmail = (fields: Partial<ParsedEmail> & Pick<ParsedEmail, "uid">): ParsedEmail => ({
  messageId: undefined,
  fingerprint: `f${fields.uid}`,
  from: fields.fromAddress ?? "",
  fromAddress: "",
  fromName: "",
  to: [],
  cc: [],
  listId: "",
  listUnsubscribe: false,
  date: undefined,
  subject: "",
  body: "",
  ...fields
})
