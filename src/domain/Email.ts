/** What flows through the pipeline, one stage's output being the next one's input. */
import type { Category } from "./Category.ts"

/** A source folder as selected on the server: UIDs only mean something together with UIDVALIDITY. */
export interface FolderRef {
  readonly path: string
  readonly uidValidity: bigint
}

/** A folder as just selected: its UIDNEXT tells later whether new mail has arrived since. */
export interface FolderStatus extends FolderRef {
  readonly uidNext: number
  /** How many messages it holds (EXISTS). */
  readonly messages: number
}

/** A message as fetched (without setting \Seen): flags plus the first bytes of its raw source. */
export interface FetchedMessage {
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  /** RFC822.SIZE of the whole message; `source` may be shorter (partial fetch). */
  readonly size: number
  readonly source: Uint8Array
  /** When the server received it (INTERNALDATE), epoch ms; absent when it did not say. */
  readonly internalDate?: number | undefined
}

/** What the learned classifier reads of a message (src/classify/features.ts). */
export interface MailFields {
  /** Lower case; "" when there is none. */
  readonly fromAddress: string
  readonly fromName: string
  /** Lower-case addresses. */
  readonly to: ReadonlyArray<string>
  readonly cc: ReadonlyArray<string>
  /** The List-Id header, "" when there is none. */
  readonly listId: string
  readonly listUnsubscribe: boolean
  readonly subject: string
  /** Plain text, whitespace collapsed, cut to a bounded length. */
  readonly body: string
}

/** The part of a message a classifier looks at. */
export interface ParsedEmail extends MailFields {
  readonly uid: number
  readonly messageId: string | undefined
  /** Of the raw source (domain/Fingerprint.ts): tells this message from others with its Message-ID. */
  readonly fingerprint: string
  /** `Name <address>`, as shown to a person or an LLM. */
  readonly from: string
  /** The Date header, in epoch milliseconds; undefined when missing or unreadable. */
  readonly date: number | undefined
  /**
   * When the server received it (INTERNALDATE), epoch ms: a move or copy keeps it (RFC 3501,
   * RFC 6851), a message delivered again gets its own. Absent when the server did not say.
   */
  readonly internalDate?: number | undefined
  /**
   * The LLM said no category fits, under categories.json as it was before an edit: it is asked
   * again (a new category may fit), and the learned model does not decide it alone.
   */
  readonly reasked?: boolean
}

/** Which link of the classifier chain answered: remembered LLM verdict, learned model, keywords, LLM. */
export type ClassifierStage = "cache" | "learned" | "keyword" | "llm"

/**
 * A classifier's answer for one email. `categoryId` is a key of categories.json, or anything a
 * model invented. `provisional`: a stand-in (keywords answered because the LLM could not); if it
 * moves nothing, the email is tried again later (after a delay that doubles, as a failed one)
 * rather than remembered as handled. `opinion`: what the learned model made of the email when it
 * did not decide, said when the email is left in place.
 */
export type Verdict =
  | {
    readonly _tag: "Matched"
    readonly categoryId: string
    readonly confidence: number
    readonly reason: string
    readonly classifier: string
    readonly stage: ClassifierStage
    readonly provisional?: boolean
    readonly opinion?: string
  }
  | {
    readonly _tag: "NoMatch"
    readonly reason: string
    readonly classifier: string
    readonly stage: ClassifierStage
    readonly provisional?: boolean
    readonly opinion?: string
  }

/** The verdict checked against the user's categories and thresholds. */
export type Decision =
  | {
    readonly _tag: "Move"
    readonly email: ParsedEmail
    readonly category: Category
    readonly confidence: number
    readonly classifier: string
    readonly stage: ClassifierStage
    readonly reason: string
    /** The UID of the twin whose verdict it took (Twins). */
    readonly twinOf?: number
  }
  | {
    readonly _tag: "Leave"
    readonly email: ParsedEmail
    readonly reason: string
    /** Whether a later pass should look at it again, after a delay (the verdict was provisional). */
    readonly retry: boolean
    /** The user put it here (took it out of a category): it stays for good, whatever categories.json says later. */
    readonly byUser?: true
    /**
     * The LLM answered that no category fits: once a later pass finds the message still here, the
     * learned model learns it as mail that stays, as it learns the LLM's moves that stood.
     */
    readonly llmSaidNone?: true
  }

export type Stage = "fetch" | "parse" | "classify" | "move"

/** A message the pipeline could not handle: it stays where it is, and the run goes on. */
export interface Failure {
  readonly folder: string
  readonly uid: number
  readonly stage: Stage
  readonly reason: string
  /**
   * Whether a later pass should try this message again. Not for what would fail the same way
   * (unparseable mail) or must not be repeated (a copy whose original could not be removed).
   */
  readonly retry: boolean
}

/** What happened to one message in a pass. */
export type Outcome =
  | {
    readonly _tag: "Moved"
    readonly uid: number
    readonly subject: string
    readonly from: string
    readonly to: string
    /** "label": copied to a Bridge label, the message stays where it is. */
    readonly action: "move" | "label"
    readonly categoryId: string
    readonly confidence: number
    readonly classifier: string
    readonly stage: ClassifierStage
    /** true when nothing was changed on the server (dry run). */
    readonly dryRun: boolean
    /** The UID of the twin whose verdict it took (Twins). */
    readonly twinOf?: number
  }
  | {
    readonly _tag: "Left"
    readonly uid: number
    readonly subject: string
    readonly reason: string
    readonly retry: boolean
    /** As the Leave decision's. */
    readonly byUser?: true
    /** As the Leave decision's. */
    readonly llmSaidNone?: true
  }
  | { readonly _tag: "Failed"; readonly failure: Failure }
  /** Another client moved or deleted it before the sorter could move it to `to`: nothing to do. */
  | { readonly _tag: "Gone"; readonly uid: number; readonly subject: string; readonly to: string }

/** `email` with the INTERNALDATE its server gave in `fetched` (the parser sees only the source). */
export const withInternalDate = (fetched: ReadonlyArray<FetchedMessage>) => {
  const dates = new Map(fetched.map((message) => [message.uid, message.internalDate]))
  return (email: ParsedEmail): ParsedEmail => {
    const internalDate = dates.get(email.uid)
    return internalDate === undefined ? email : { ...email, internalDate }
  }
}
