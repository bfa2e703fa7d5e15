/**
 * The sorter's durable memory: one SQLite database (`PROTON_LUMO_DATA/protonlumo.db`) holding the
 * per-folder state, the journal of moves, the cache of LLM verdicts, the token budget and the
 * learned classifier's model, and each folder's last pass (for `status`).
 *
 * SQLite (through better-sqlite3) rather than files replaced by rename: several facts must
 * change together (a move's journal entry and the folder's state), the journal only grows, and
 * `history`, `status` or `undo` may read while the service writes. WAL mode with `synchronous=FULL` makes
 * each transaction durable before the next IMAP command is sent, and a `kill -9` at any moment
 * leaves the last committed state. The files are created 0600 in a 0700 folder; they hold UIDs,
 * Message-IDs, folder names, categories, hashes and hashed feature weights, never a password, a
 * key or a message body.
 */
import { chmodSync, closeSync, existsSync, openSync } from "node:fs"
import { dirname, join } from "node:path"
import BetterSqlite3 from "better-sqlite3"
import { Context, Effect, Layer } from "effect"
import { StateError } from "../domain/Errors.ts"
import { makePrivateFolder, openFailure, openFolderWarning } from "./privateFolder.ts"

/** Schema migrations, in order; `PRAGMA user_version` counts those applied. */
const migrations: ReadonlyArray<string> = [
  `CREATE TABLE folder_state (
     folder TEXT PRIMARY KEY,
     uid_validity TEXT NOT NULL
   );
   CREATE TABLE handled (
     folder TEXT NOT NULL,
     uid INTEGER NOT NULL,
     PRIMARY KEY (folder, uid)
   ) WITHOUT ROWID;
   CREATE TABLE journal (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id TEXT NOT NULL,
     at INTEGER NOT NULL,
     message_id TEXT,
     source TEXT NOT NULL,
     source_uid INTEGER NOT NULL,
     source_uid_validity TEXT NOT NULL,
     target TEXT NOT NULL,
     action TEXT NOT NULL CHECK (action IN ('move', 'label')),
     category TEXT NOT NULL,
     confidence REAL NOT NULL,
     classifier TEXT NOT NULL,
     reason TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'undone')),
     note TEXT,
     settled_at INTEGER
   );
   CREATE INDEX journal_pending ON journal (source, state);
   CREATE INDEX journal_run ON journal (run_id);
   CREATE TABLE verdicts (
     key TEXT PRIMARY KEY,
     category TEXT,
     confidence REAL NOT NULL,
     classifier TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE INDEX verdicts_age ON verdicts (at);
   CREATE TABLE token_budget (
     day TEXT PRIMARY KEY,
     tokens INTEGER NOT NULL
   );`,
  // What tells a moved message from others with its Message-ID (its fingerprint, and the UID the
  // server gave it in the target: COPYUID); when a message that failed is tried again.
  `ALTER TABLE journal ADD COLUMN fingerprint TEXT;
   ALTER TABLE journal ADD COLUMN target_uid INTEGER;
   ALTER TABLE journal ADD COLUMN target_uid_validity TEXT;
   CREATE TABLE retries (
     folder TEXT NOT NULL,
     uid INTEGER NOT NULL,
     attempts INTEGER NOT NULL,
     next_at INTEGER NOT NULL,
     PRIMARY KEY (folder, uid)
   ) WITHOUT ROWID;`,
  // The learned classifier (LearnedModel.ts): its model (hashed weights and counts, never text),
  // which messages of which folder it learned, and the corrections it saw.
  `CREATE TABLE model (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     options TEXT NOT NULL,
     labels TEXT NOT NULL,
     counts TEXT NOT NULL,
     weights BLOB NOT NULL,
     document_counts BLOB NOT NULL,
     documents INTEGER NOT NULL,
     outcomes TEXT NOT NULL
   );
   CREATE TABLE learned_folders (
     folder TEXT PRIMARY KEY,
     uid_validity TEXT NOT NULL,
     uid_next INTEGER NOT NULL,
     messages INTEGER NOT NULL
   );
   CREATE TABLE learned (
     folder TEXT NOT NULL,
     uid INTEGER NOT NULL,
     fingerprint TEXT NOT NULL,
     label TEXT NOT NULL,
     times INTEGER NOT NULL,
     gone_at INTEGER,
     PRIMARY KEY (folder, uid)
   ) WITHOUT ROWID;
   CREATE INDEX learned_fingerprint ON learned (fingerprint);
   CREATE TABLE pending (
     folder TEXT NOT NULL,
     uid INTEGER NOT NULL,
     uid_validity TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     label TEXT NOT NULL,
     date INTEGER,
     features BLOB,
     PRIMARY KEY (folder, uid)
   ) WITHOUT ROWID;
   CREATE TABLE corrections (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     journal_id INTEGER NOT NULL,
     now_in TEXT NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('refiled', 'moved back'))
   );
   CREATE INDEX corrections_at ON corrections (at);
   CREATE INDEX journal_fingerprint ON journal (fingerprint);`,
  // For `status` (PassLog.ts): each source folder's last pass and last error, and the LLM calls
  // answered per day beside the tokens they spent.
  `CREATE TABLE passes (
     folder TEXT PRIMARY KEY,
     ended_at INTEGER NOT NULL,
     elapsed_ms INTEGER NOT NULL,
     moved INTEGER NOT NULL,
     left INTEGER NOT NULL,
     failed INTEGER NOT NULL,
     remaining INTEGER NOT NULL,
     waiting INTEGER NOT NULL,
     error TEXT,
     last_error TEXT,
     last_error_at INTEGER
   );
   ALTER TABLE token_budget ADD COLUMN calls INTEGER NOT NULL DEFAULT 0;`,
  // Where each sender's mail was learned (FolderModel: hashed address → counts per class).
  `ALTER TABLE model ADD COLUMN senders TEXT NOT NULL DEFAULT '[]';`,
  // What the sorter put in a folder, by the UIDs the server gave it (Journal.placedIn).
  `CREATE INDEX journal_placed ON journal (target, target_uid_validity);`,
  // A retry of mail left for now (the LLM could not answer for it), told apart from a failure (SortState).
  `ALTER TABLE retries ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;`,
  // The held features in a rowid table: WITHOUT ROWID keeps about 1 KB of a row in its page and
  // spills the rest to an overflow page of its own, so a first scan's 42 MB of features took 165 MB
  // (of memory, in a dry run's copy of the database). A rowid table keeps rows of up to 4 KB whole.
  `CREATE TABLE pending_rows (
     folder TEXT NOT NULL,
     uid INTEGER NOT NULL,
     uid_validity TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     label TEXT NOT NULL,
     date INTEGER,
     features BLOB,
     PRIMARY KEY (folder, uid)
   );
   INSERT INTO pending_rows SELECT folder, uid, uid_validity, fingerprint, label, date, features FROM pending;
   DROP TABLE pending;
   ALTER TABLE pending_rows RENAME TO pending;`,
  // Lookups every pass makes in tables that grow for years: whether a move was corrected
  // (LearnedModel.corrected, one per move read back), and the last 30 days' moves (the correction rate).
  `CREATE INDEX IF NOT EXISTS corrections_journal ON corrections (journal_id);
   CREATE INDEX IF NOT EXISTS journal_at ON journal (at);`,
  // Whose mail each move was (the hashed address, never the address): a sender the user took out of
  // a folder is not put back there by keywords or the LLM (LearnedModel.takenOut).
  `ALTER TABLE journal ADD COLUMN sender INTEGER;`,
  // Under which categories (Categories.key) a message was left in place: after an edit of
  // categories.json it is looked at again. NULL: labelled, failed for good, or left before this.
  `ALTER TABLE handled ADD COLUMN categories TEXT;`,
  // The target's UIDNEXT when a move was journaled (its UIDVALIDITY in target_uid_validity until the
  // move is settled): crash recovery takes only a message the server numbered from there for ours.
  `ALTER TABLE journal ADD COLUMN target_uid_next INTEGER;`,
  // Lessons taught since the model was last saved whole, taught again when it is loaded
  // (LearnedModel: LOG_MESSAGES): their hashed features, labels and weights, never text.
  `CREATE TABLE model_log (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     messages INTEGER NOT NULL,
     lessons TEXT NOT NULL
   );`,
  // Left in place because the LLM said no category fits (1): the learning scan learns it as mail
  // that stays once a later pass finds it still there (SortState.llmSaidNone).
  `ALTER TABLE handled ADD COLUMN llm_none INTEGER NOT NULL DEFAULT 0;`,
  // The LLM's failed calls and unusable answers per day, and the last one's message (LlmBudget.noteProblem):
  // `status` shows a failing LLM, which no pass records as an error (keywords stand in for it).
  `ALTER TABLE token_budget ADD COLUMN problems INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE token_budget ADD COLUMN last_problem TEXT;
   ALTER TABLE token_budget ADD COLUMN last_problem_at INTEGER;`,
  // Of what a folder's last pass left, what the learned model was sure stays, left without asking
  // the LLM (PROTON_LUMO_LLM_SKIP_KEPT): `status` shows what that spared.
  `ALTER TABLE passes ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;`,
  // Each learned message's hashed features and date (numbers only, about 1 KB), so that a folder's
  // history learned as a new class trains the model afresh from all it learned (LearnedModel: MIN_BURST).
  // A rowid table, as pending is (WITHOUT ROWID spills such rows to a page each). Messages learned
  // before have no features: their records become tombstones, so the next scan reads them again
  // and records them with their features (known already, they teach the model nothing twice).
  `CREATE TABLE learned_rows (
     folder TEXT NOT NULL,
     uid INTEGER NOT NULL,
     fingerprint TEXT NOT NULL,
     label TEXT NOT NULL,
     times INTEGER NOT NULL,
     gone_at INTEGER,
     date INTEGER,
     features BLOB,
     PRIMARY KEY (folder, uid)
   );
   INSERT INTO learned_rows (folder, uid, fingerprint, label, times, gone_at)
     SELECT folder, uid, fingerprint, label, times,
       CASE WHEN gone_at IS NULL AND times > 0 THEN CAST(strftime('%s', 'now') AS INTEGER) * 1000 ELSE gone_at END
     FROM learned;
   DROP TABLE learned;
   ALTER TABLE learned_rows RENAME TO learned;
   CREATE INDEX learned_fingerprint ON learned (fingerprint);`,
  // Each folder's last pass that handled mail (moved, left or failed any): in a service the last
  // pass is nearly always one that found nothing new, and \`status\` shows this one beside it.
  `ALTER TABLE passes ADD COLUMN handled_at INTEGER;
   ALTER TABLE passes ADD COLUMN handled_moved INTEGER;
   ALTER TABLE passes ADD COLUMN handled_left INTEGER;
   ALTER TABLE passes ADD COLUMN handled_failed INTEGER;`,
  // The newest messages learned, read whenever a lesson is rehearsed (LearnedModel: REHEARSAL_POOL):
  // without it, every such pass read every learned message's features (60 ms at 50,000; 1 ms with it).
  `CREATE INDEX IF NOT EXISTS learned_date ON learned (date);`,
  // When the server received each message sorted: a copy of it delivered again (a spammer sending
  // the same bytes once Spam is emptied) is not the message moved back (learn.ts returnedByUser).
  // And the LLM's own words, which may quote the mail, are no longer kept (LlmClassifier toVerdict).
  `ALTER TABLE journal ADD COLUMN internal_date INTEGER;
   UPDATE journal SET reason = '' WHERE classifier LIKE 'llm:%';`,
  // Where each sender's latest mail went (FolderModel's SenderRuns): NULL in a model saved before,
  // whose runs are followed afresh over the mail it learned when it is loaded.
  `ALTER TABLE model ADD COLUMN sender_runs TEXT;`,
  // The last learning scan that completed and the last that failed, for \`status\` (PassLog): a
  // failing scan does not stop the pass, so without it a scan failing every pass showed only in the log.
  `CREATE TABLE learning_scans (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     scanned_at INTEGER,
     learned INTEGER NOT NULL DEFAULT 0,
     stays INTEGER NOT NULL DEFAULT 0,
     corrections INTEGER NOT NULL DEFAULT 0,
     failed_at INTEGER,
     failure TEXT
   );`
]

export type Sqlite = BetterSqlite3.Database

export interface DatabaseApi {
  /** Runs `f` on the connection; a SQLite error becomes a StateError. */
  readonly use: <A>(f: (db: Sqlite) => A) => Effect.Effect<A, StateError>
  /** Runs `f` in one transaction: all of it is committed, or none. */
  readonly transaction: <A>(f: (db: Sqlite) => A) => Effect.Effect<A, StateError>
}

/**
 * `db`, unless a newer version wrote it: then it is closed and refused, not read, as this version
 * knows neither its tables nor what it would break by writing them (a user who went back to an
 * older build).
 */
const checkedVersion = (db: Sqlite): Sqlite => {
  const applied = Number(db.pragma("user_version", { simple: true }))
  if (applied <= migrations.length) return db
  db.close()
  throw new Error(
    `it was written by a newer version of ProtonLumoAI (database version ${applied}; this one knows up to ${migrations.length}): ` +
      "run that version again, or give PROTON_LUMO_DATA a new folder (where it starts with no journal and nothing learned)"
  )
}

/**
 * What the next pass does because an upgrade migrated the database to this version, said when it
 * does (an outside review saw the folders read again after an upgrade without a word why).
 */
const upgradeNotes: ReadonlyMap<number, (db: Sqlite) => string | undefined> = new Map([
  [17, (db) => {
    const count = Number(db.prepare("SELECT count(*) FROM learned WHERE times > 0 AND features IS NULL").pluck().get())
    return count === 0
      ? undefined
      : `the ${count} messages the learned model knows are read again once, to keep their hashed features (nothing is learned twice)`
  }]
])

/** Brings the database to this version; the version it was at. */
const migrate = (db: Sqlite): number => {
  const applied = Number(db.pragma("user_version", { simple: true }))
  for (const [index, sql] of migrations.entries()) {
    if (index < applied) continue
    db.transaction(() => {
      db.exec(sql)
      db.pragma(`user_version = ${index + 1}`)
    })()
  }
  return applied
}

/** The line that says a database of an earlier version (`from`, 0 for a new one) was upgraded, and what that brings. */
const upgradeLine = (db: Sqlite, path: string, from: number): string | undefined => {
  if (from === 0 || from === migrations.length) return undefined
  const notes = [...upgradeNotes].flatMap(([version, note]) => {
    const said = version > from ? note(db) : undefined
    return said === undefined ? [] : [said]
  })
  return [`upgraded ${path} from database version ${from} to ${migrations.length}`, ...notes].join("; ")
}

/**
 * The database at `path`, opened by `open` and migrated; with `announce`, an upgrade of a database
 * an earlier version wrote is logged (the user's own file, not a dry run's copy in memory).
 */
const make = (path: string, open: () => Sqlite, announce = false) => {
  const fail = (error: unknown) => new StateError({ path, reason: error instanceof Error ? error.message : String(error) })
  return Effect.acquireRelease(
    Effect.try({
      try: () => {
        const db = checkedVersion(open())
        db.pragma("busy_timeout = 5000")
        // A read-only connection (`status`) reads the database as the writer left it: it can
        // neither change its journal mode nor migrate it (layerReadOnly sees to the version).
        if (db.readonly) return { db, upgraded: undefined }
        db.pragma("journal_mode = WAL")
        db.pragma("synchronous = FULL")
        return { db, upgraded: upgradeLine(db, path, migrate(db)) }
      },
      catch: (error) => new StateError({ path, reason: openFailure(dirname(path), error) })
    }),
    ({ db }) => Effect.sync(() => db.close())
  ).pipe(
    Effect.tap(({ upgraded }) => (announce && upgraded !== undefined ? Effect.logInfo(upgraded) : Effect.void)),
    Effect.map(({ db }) => {
      const api: DatabaseApi = {
        // Generic methods: a span each (Effect.fn would lose their type parameter).
        use: (f) => Effect.try({ try: () => f(db), catch: fail }).pipe(Effect.withSpan("Database.use")),
        transaction: (f) =>
          Effect.try({ try: () => db.transaction(() => f(db))(), catch: fail }).pipe(Effect.withSpan("Database.transaction"))
      }
      return api
    })
  )
}

/** Creates the file (and its folder) owner-only before SQLite opens it; WAL files inherit its mode. */
const prepareFile = (dataDir: string, path: string) => {
  makePrivateFolder(dataDir)
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600))
  chmodSync(path, 0o600)
}

/** A private in-memory copy of the database file as it is now (WAL included). */
const copyInMemory = (path: string): Sqlite => {
  const saved = new BetterSqlite3(path, { readonly: true, fileMustExist: true })
  try {
    const image = saved.serialize()
    // Bytes 18 and 19 of the header say WAL (2); a database in memory cannot be one (1).
    image[18] = 1
    image[19] = 1
    return new BetterSqlite3(image)
  } finally {
    saved.close()
  }
}

export class Database extends Context.Service<Database, DatabaseApi>()("proton-lumo-ai/Database") {
  /** `<dataDir>/protonlumo.db`. */
  static readonly layerFile = (dataDir: string): Layer.Layer<Database, StateError> => {
    const path = join(dataDir, "protonlumo.db")
    return Layer.effect(
      Database,
      make(path, () => {
        prepareFile(dataDir, path)
        // Read first through a read-only handle, which writes nothing back: a writable one, even
        // refused, would fold a newer version's write-ahead log into the file as it closes.
        checkedVersion(new BetterSqlite3(path, { readonly: true })).close()
        return new BetterSqlite3(path)
      }, true).pipe(Effect.tap(() => {
        const warning = openFolderWarning(dataDir)
        return warning === undefined ? Effect.void : Effect.logWarning(warning)
      }))
    )
  }

  /**
   * A private in-memory copy of `<dataDir>/protonlumo.db` as it is now (empty when there is none):
   * what a dry run learns goes there and is forgotten at exit, so a dry run changes nothing, not
   * even the saved model, whatever runs beside it.
   */
  static readonly layerSnapshot = (dataDir: string): Layer.Layer<Database, StateError> => {
    const path = join(dataDir, "protonlumo.db")
    return Layer.effect(
      Database,
      make(`${path} (a copy in memory)`, () => (existsSync(path) ? copyInMemory(path) : new BetterSqlite3(":memory:")))
    )
  }

  /**
   * `<dataDir>/protonlumo.db` opened read-only, for `status`: it reads beside a running service
   * (WAL lets it) and can change nothing. A database written by an older version, not migrated
   * yet, is read from a migrated copy in memory instead. The file must exist.
   */
  static readonly layerReadOnly = (dataDir: string): Layer.Layer<Database, StateError> => {
    const path = join(dataDir, "protonlumo.db")
    return Layer.effect(
      Database,
      make(`${path} (read-only)`, () => {
        const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true })
        if (Number(db.pragma("user_version", { simple: true })) >= migrations.length) return db
        db.close()
        return copyInMemory(path)
      })
    )
  }

  /** A private in-memory database (demo, tests). */
  static readonly layerMemory: Layer.Layer<Database> = Layer.effect(
    Database,
    make(":memory:", () => new BetterSqlite3(":memory:"))
  ).pipe(Layer.orDie)
}
