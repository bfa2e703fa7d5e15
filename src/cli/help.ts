/**
 * What `--help` and `--version` print. Nothing is imported here: main.ts answers them before
 * loading Effect and the rest (a few hundredths of a second instead of a third).
 */

export const HELP = `ProtonLumoAI: sorts an IMAP mailbox (Proton Mail Bridge first) into your own categories.

Usage:
  node dist/main.js [--once] [--dry-run]   sort the configured folders
  node dist/main.js history [--limit N]    the journal of moves, newest last (default: the last 50)
  node dist/main.js undo --last-run        put back what the last run moved or labelled
  node dist/main.js undo --since TIME      put back everything moved since TIME (2026-11-24T09:00, 2h, 30m, 1d)
  node dist/main.js evaluate [--html FILE] how well it would sort your mail, changing nothing (see below)
  node dist/main.js status [--json]        what it did: each folder's last pass, retries, moves today per
                                           category, corrections this week, LLM use today, the last error
  node dist/main.js demo [--dry-run]       sort the bundled sample mailbox in memory (no server needed)
  node dist/main.js --help                 this text
  node dist/main.js --version              the version

Without --once it runs as a service on one connection: a pass over the folders, then IMAP IDLE on
the first folder (new mail there is sorted as soon as it arrives), and a full pass every
PROTON_LUMO_POLL_INTERVAL seconds, until SIGINT or SIGTERM (moves in flight finish; exit 0).
SIGHUP makes the service read its settings (.env) and categories.json again. One sorter per data
folder: a second service, --once or undo on the same PROTON_LUMO_DATA is refused (a dry run is not).

  --once      one pass, then exit (0, or 3 if messages could not be sorted)
  --dry-run   log what would move; change nothing on the server (overrides PROTON_LUMO_DRY_RUN);
              with undo: list what would be put back

evaluate reads your category folders and the read mail left in the source folders (as learning
does), learns from the oldest 70% by date and tests on the newest 30%, and prints per category
precision, recall and count, the accuracy with everything moved, coverage and precision at each
category's threshold, the most frequent confusions, and for each category the lowest threshold
that keeps misfiles under 1%. Nothing on the server changes (folders are only EXAMINEd) and the
saved model is not touched. --html FILE also writes the figures as one self-contained page (no
network) with a confusion matrix and a precision-against-coverage curve.

status reads only the data folder's database (read-only: no server, no lock, no LLM), so it
answers while the service runs; --json prints one JSON document (fields in the README). Days are
UTC days, as the token budget counts them.

Settings come from the environment, then from a .env file in the working directory:

  PROTON_BRIDGE_HOST / PROTON_BRIDGE_PORT   127.0.0.1 / 1143   IMAP server (or PROTON_LUMO_IMAP_HOST, PROTON_LUMO_IMAP_PORT)
  PROTON_USERNAME / PROTON_PASSWORD         required           IMAP login (or PROTON_LUMO_IMAP_USER, PROTON_LUMO_IMAP_PASSWORD)
  PROTON_LUMO_IMAP_TLS                      starttls           starttls or tls; never plaintext
  PROTON_LUMO_IMAP_CA_FILE                  none               PEM certificate to trust (pin Bridge's exported certificate)
  PROTON_LUMO_IMAP_TLS_VERIFY               true               false accepts any certificate (warned at start)
  PROTON_LUMO_FOLDERS                       INBOX              comma-separated source folders, levels written with /
  PROTON_LUMO_CONFIG                        ./config           folder holding categories.json
  PROTON_LUMO_DATA                          ./data             folder holding protonlumo.db: state, journal, LLM cache (0600)
  PROTON_LUMO_DRY_RUN                       false              log what would move; change nothing
  PROTON_LUMO_UNSEEN_ONLY                   true               only unread messages
  PROTON_LUMO_MAX_EMAILS_PER_FOLDER         100                taken at a time, newest first (--once: per run)
  PROTON_LUMO_LEARN                         true               learn from the category folders and read mail left in the sources
  PROTON_LUMO_LEARN_MAX_PER_FOLDER          5000               newest messages learned per folder
  PROTON_LUMO_POLL_INTERVAL                 60                 seconds between full passes (service mode; IDLE in between)
  PROTON_LUMO_ENABLE_PARALLEL               true               false: one worker
  PROTON_LUMO_MAX_WORKERS                   5                  parses and classification calls at once
  PROTON_LUMO_ENABLE_BATCH                  true               false: one email per classification call
  PROTON_LUMO_BATCH_SIZE                    10                 emails per classification call
  PROTON_LUMO_METRICS_ENABLED               true               "Performance Metrics" after each folder
  PROTON_LUMO_METRICS_PORT                  off                /metrics (Prometheus), /healthz, /readyz
  PROTON_LUMO_METRICS_HOST                  127.0.0.1          where they are served
  OTEL_EXPORTER_OTLP_ENDPOINT               none               OpenTelemetry collector for the spans and metrics (OTLP/HTTP JSON)
  PROTON_LUMO_LOG_LEVEL                     INFO               TRACE, DEBUG, INFO, WARNING or ERROR
  PROTON_LUMO_LOG_FORMAT                    text               text, or json: one JSON object per line (journald, Loki)
  PROTON_LUMO_PROGRESS_INTERVAL             5                  seconds between progress lines (no terminal, or json)
  PROTON_LUMO_LLM_BASE_URL                  none               OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1
  PROTON_LUMO_LLM_MODEL                     none               model name (sonar-pro with Perplexity)
  PROTON_LUMO_LLM_API_KEY                   none               bearer token; falls back to PERPLEXITY_API_KEY
  PERPLEXITY_API_KEY                        none               alone: Perplexity (https://api.perplexity.ai, sonar-pro)
  PROTON_LUMO_LLM_TIMEOUT                   30                 seconds per LLM call; then keywords decide
  PROTON_LUMO_LLM_JSON_MODE                 true               ask for JSON output (response_format with a JSON schema)
  PROTON_LUMO_LLM_MAX_RETRIES               3                  retries after 429, 5xx or network errors (backoff, Retry-After)
  PROTON_LUMO_LLM_MAX_RPM                   by endpoint        requests started per minute, all workers together, over any 60 s;
                                                               not set: none for a local endpoint (loopback, private LAN,
                                                               *.local), 50 for Perplexity, 60 otherwise; 0: no limit
  PROTON_LUMO_LLM_SKIP_CONFIDENT            true               a keyword match at or above its threshold skips the LLM (not into Spam)
  PROTON_LUMO_LLM_COST_PER_1K_TOKENS        0                  price per 1,000 tokens, for the cost estimate in the metrics
  PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET        0 (no limit)       tokens per day (UTC), reserved per call before it is sent;
                                                               a call that does not fit: keywords only until tomorrow
  PROTON_LUMO_LLM_BODY_CHARS                500                body characters sent per email; 0 sends sender and subject only
  PROTON_LUMO_LLM_EXAMPLES                  0                  subjects of the newest mail filed in each category shown to
                                                               the LLM (sends more of your mail to the provider)

No LLM key and no base URL: keyword classification only. A missing or invalid setting stops the
program before it connects, naming the variable; a PROTON_* variable it does not know is warned about.

Exit codes: 0 done (or stopped by SIGINT/SIGTERM); 1 a setting, login, connection, folder or
data-folder lock error; 2 a wrong command-line argument; 3 --once left messages it could not sort
(they stay where they were and are tried again, after a delay that doubles, by later runs).`

/** `--help` or `-h` anywhere on the command line: the help, whatever else is there. */
export const wantsHelp = (args: ReadonlyArray<string>): boolean => args.includes("--help") || args.includes("-h")

export const wantsVersion = (args: ReadonlyArray<string>): boolean => args.includes("--version") || args.includes("-V")
