/**
 * Typed failures. Every `message` is safe to log: none carries a secret or a message body.
 */
import { Schema } from "effect"

/** The IMAP server could not be reached, or TLS could not be established. */
export class ImapConnectError extends Schema.TaggedError<ImapConnectError>()("ImapConnectError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String,
  /** The SHA-256 fingerprint of the certificate the server presented, when it is not the pinned one. */
  certificate: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `cannot connect to IMAP server ${this.host}:${this.port}: ${this.reason}`
  }
}

/** The server refused the login. */
export class ImapAuthError extends Schema.TaggedError<ImapAuthError>()("ImapAuthError", {
  host: Schema.String,
  port: Schema.Number,
  user: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `IMAP login as "${this.user}" on ${this.host}:${this.port} was refused (${this.reason}). ` +
      "Check PROTON_USERNAME and PROTON_PASSWORD (with PROTON_LUMO_ACCOUNTS: the account's user, and its passwordEnv " +
      "or passwordFile; for Proton Mail Bridge: the password Bridge shows, not your Proton password)."
  }
}

/** An IMAP command failed. */
export class MailboxError extends Schema.TaggedError<MailboxError>()("MailboxError", {
  operation: Schema.String,
  folder: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation} on "${this.folder}" failed: ${this.reason}`
  }
}

export class FolderNotFound extends Schema.TaggedError<FolderNotFound>()("FolderNotFound", {
  folder: Schema.String
}) {
  override get message(): string {
    return `folder "${this.folder}" does not exist on the server`
  }
}

/** A folder named in the settings or categories cannot exist on this server (its hierarchy delimiter, say). */
export class InvalidFolderName extends Schema.TaggedError<InvalidFolderName>()("InvalidFolderName", {
  folder: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `folder "${this.folder}" cannot exist on this server: ${this.reason}`
  }
}

/** The folder's UIDVALIDITY changed under us: its UIDs now name other messages, so nothing may act on them. */
export class UidValidityChanged extends Schema.TaggedError<UidValidityChanged>()("UidValidityChanged", {
  folder: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `UIDVALIDITY of "${this.folder}" changed from ${this.expected} to ${this.actual}; its UIDs are no longer trusted`
  }
}

/** The server offers no way to move exactly the chosen messages. */
export class MoveUnsupported extends Schema.TaggedError<MoveUnsupported>()("MoveUnsupported", {
  folder: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `refusing to move out of "${this.folder}": ${this.reason}`
  }
}

/** A COPY + EXPUNGE move copied the messages but could not remove the originals: they are in both folders. */
export class MoveIncomplete extends Schema.TaggedError<MoveIncomplete>()("MoveIncomplete", {
  folder: Schema.String,
  target: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `copied from "${this.folder}" to "${this.target}" but the originals could not be removed (${this.reason}); ` +
      "the message is in both folders and will not be copied again"
  }
}

export type MailboxFailure =
  | ImapConnectError
  | ImapAuthError
  | MailboxError
  | FolderNotFound
  | UidValidityChanged
  | MoveUnsupported
  | MoveIncomplete

/** categories.json is missing or invalid. */
export class CategoriesError extends Schema.TaggedError<CategoriesError>()("CategoriesError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/** The state file could not be read or written. */
export class StateError extends Schema.TaggedError<StateError>()("StateError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `state file ${this.path}: ${this.reason}`
  }
}

/** A message could not be parsed into something a classifier can read. */
export class ParseError extends Schema.TaggedError<ParseError>()("ParseError", {
  uid: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot parse message ${this.uid}: ${this.reason}`
  }
}

/** A classifier could not answer for a batch. */
export class ClassifierError extends Schema.TaggedError<ClassifierError>()("ClassifierError", {
  classifier: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.classifier} classifier failed: ${this.reason}`
  }
}

/** This Node.js cannot run the program. */
export class UnsupportedRuntime extends Schema.TaggedError<UnsupportedRuntime>()("UnsupportedRuntime", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}


/** A configured source folder is missing on the server, or must not be sorted. */
export class SourceFolderError extends Schema.TaggedError<SourceFolderError>()("SourceFolderError", {
  folders: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `PROTON_LUMO_FOLDERS names ${this.folders.map((folder) => `"${folder}"`).join(", ")}, which cannot be ` +
      "sorted (see above); fix PROTON_LUMO_FOLDERS"
  }
}

/**
 * A run (`--once`) ended with messages it could not sort (now, or before and still waiting for
 * their next try), or a folder whose pass stopped early.
 */
export class SortIncomplete extends Schema.TaggedError<SortIncomplete>()("SortIncomplete", {
  failed: Schema.Number,
  /** Of those failed, how many never will be sorted (they cannot be read as mail). */
  failedForGood: Schema.Number,
  waiting: Schema.Number,
  stoppedFolders: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const forGood = this.failedForGood === 0
      ? ""
      : this.failedForGood === this.failed
      ? " and never will be (they cannot be read as mail)"
      : `, ${this.failedForGood} of them never will be (they cannot be read as mail)`
    const parts = [
      ...(this.failed > 0 ? [`${this.failed} message${this.failed === 1 ? "" : "s"} could not be sorted${forGood}`] : []),
      ...(this.waiting > 0 ? [`${this.waiting} that failed before wait for their next try`] : []),
      ...(this.stoppedFolders.length > 0 ? [`the pass of ${this.stoppedFolders.join(", ")} stopped early`] : [])
    ]
    const retried = this.failed > this.failedForGood || this.waiting > 0 || this.stoppedFolders.length > 0
    return `${parts.join("; ")} (see above): they stay where they are` +
      (!retried ? "" : this.failedForGood > 0 ? "; the others are tried again by a later run" : " and are tried again by a later run")
  }
}

/** `--once` with several accounts: some could not be sorted at all (the others were). */
export class AccountsFailed extends Schema.TaggedError<AccountsFailed>()("AccountsFailed", {
  failed: Schema.Array(Schema.String),
  of: Schema.Number
}) {
  override get message(): string {
    return `${this.failed.length} of ${this.of} accounts could not be sorted (see above): ${this.failed.join(", ")}`
  }
}

/** The page `evaluate --html` was asked to write cannot be written there. */
export class PageNotWritable extends Schema.TaggedError<PageNotWritable>()("PageNotWritable", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `--html ${this.path}: cannot be written (${this.reason})`
  }
}

/** `evaluate` found no mail in the category folders: there is nothing to learn from or test on. */
export class NothingToEvaluate extends Schema.TaggedError<NothingToEvaluate>()("NothingToEvaluate", {
  /** The category folders that exist (none holding mail the user filed). */
  folders: Schema.Array(Schema.String),
  /** Messages in them that the sorter put there (left out: they would only grade its own moves). */
  placedBySorter: Schema.Number
}) {
  override get message(): string {
    const hold = this.folders.length === 1 ? "holds" : "hold"
    return "nothing to evaluate: file some mail into your category folders first" +
      (this.folders.length === 0
        ? " (none of the folders in categories.json exists on the server)"
        : this.placedBySorter > 0
        ? ` (${this.folders.join(", ")} ${hold} none you filed yourself: the ${this.placedBySorter} the sorter put there are left out)`
        : ` (${this.folders.join(", ")} ${hold} none)`)
  }
}

/** Errors that mean the server is out of reach, rather than something wrong with one folder. */
export const isConnectionLoss = (error: { readonly _tag: string }): error is ImapConnectError | ImapAuthError =>
  error._tag === "ImapConnectError" || error._tag === "ImapAuthError"
