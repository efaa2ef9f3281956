/**
 * The layout of the one embedded database file (`<DATA_DIR>/buildtrace.db`) that the local store
 * and the local queue share, as numbered migrations so a file written by an older build is
 * upgraded in place and a file from a newer build is refused instead of misread.
 *
 * Table names follow the seed (design.md, Storage). Unlike the seed there is no foreign key on
 * `drawing_id`: it is not unique anywhere, and results must be writable without a parent row.
 * Times in the store's tables are ISO-8601 UTC strings of fixed width (they sort as text); the
 * queue keeps epoch milliseconds because it does arithmetic on them.
 */

/** `PRAGMA user_version` of the newest layout this build understands. */
export const SCHEMA_VERSION = 5;

/** Migration `i` upgrades a file from user_version `i` to `i + 1`. */
export const MIGRATIONS: readonly string[] = [
  /* 0 → 1 */ `
  CREATE TABLE change_results (
    task_key            TEXT PRIMARY KEY,
    drawing_id          TEXT NOT NULL,
    job_id              TEXT,
    added               TEXT NOT NULL,
    removed             TEXT NOT NULL,
    moved               TEXT NOT NULL,
    modified            TEXT NOT NULL,
    summary             TEXT NOT NULL,
    processing_time_ms  REAL NOT NULL,
    end_to_end_ms       REAL NOT NULL,
    created_at          TEXT NOT NULL,
    replica_id          TEXT NOT NULL
  );
  CREATE INDEX change_results_drawing_created ON change_results (drawing_id, created_at DESC);

  CREATE TABLE processing_metrics (
    task_key        TEXT PRIMARY KEY,
    job_id          TEXT,
    drawing_id      TEXT,
    status          TEXT NOT NULL CHECK (status IN ('completed', 'malformed', 'failed')),
    latency_ms      REAL,
    end_to_end_ms   REAL,
    added_count     INTEGER NOT NULL DEFAULT 0,
    removed_count   INTEGER NOT NULL DEFAULT 0,
    moved_count     INTEGER NOT NULL DEFAULT 0,
    modified_count  INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    error_message   TEXT,
    created_at      TEXT NOT NULL,
    replica_id      TEXT NOT NULL
  );
  CREATE INDEX processing_metrics_created ON processing_metrics (created_at);
  CREATE INDEX processing_metrics_job ON processing_metrics (job_id);

  CREATE TABLE anomalies (
    id            TEXT PRIMARY KEY,
    drawing_id    TEXT,
    anomaly_type  TEXT NOT NULL,
    severity      TEXT NOT NULL,
    details       TEXT NOT NULL,
    created_at    TEXT NOT NULL
  );
  CREATE INDEX anomalies_created ON anomalies (created_at);

  CREATE TABLE hourly_rollups (
    replica_id            TEXT NOT NULL,
    hour_start            TEXT NOT NULL,
    pairs                 INTEGER NOT NULL,
    added                 INTEGER NOT NULL,
    removed               INTEGER NOT NULL,
    moved                 INTEGER NOT NULL,
    modified              INTEGER NOT NULL,
    failed                INTEGER NOT NULL,
    malformed             INTEGER NOT NULL,
    processing_histogram  TEXT NOT NULL,
    end_to_end_histogram  TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    PRIMARY KEY (replica_id, hour_start)
  );

  CREATE TABLE jobs (
    job_id         TEXT PRIMARY KEY,
    tasks_created  INTEGER NOT NULL,
    created_at     TEXT NOT NULL
  );

  -- A leased row has visible_at = lease_until, so one test (visible_at <= now) finds both waiting
  -- rows and rows whose lease ran out. No index on visible_at on purpose: pulls walk seq order and
  -- stop at their LIMIT, which stays cheap however long the backlog is.
  CREATE TABLE queue (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT NOT NULL UNIQUE,
    data         BLOB NOT NULL,
    attributes   TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    visible_at   INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_pid    INTEGER,
    lease_host   TEXT,
    lease_until  INTEGER
  );

  CREATE TABLE dead_letters (
    message_id      TEXT PRIMARY KEY,
    data            BLOB NOT NULL,
    attributes      TEXT NOT NULL,
    reason_code     TEXT NOT NULL,
    reason_message  TEXT NOT NULL,
    drawing_id      TEXT,
    attempts        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
  );
  `,
  /* 1 → 2: geometry matching (issue 13); NULL where it did not run, 0 in rows written before. */ `
  ALTER TABLE change_results ADD COLUMN renamed TEXT;
  ALTER TABLE change_results ADD COLUMN ambiguous TEXT;
  ALTER TABLE processing_metrics ADD COLUMN renamed_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hourly_rollups ADD COLUMN renamed INTEGER NOT NULL DEFAULT 0;
  `,
  /* 2 → 3: where a result's versions were read from (the overlay reads them again); NULL for inline tasks and older rows. */ `
  ALTER TABLE change_results ADD COLUMN version_a_ref TEXT;
  ALTER TABLE change_results ADD COLUMN version_a_sha256 TEXT;
  ALTER TABLE change_results ADD COLUMN version_b_ref TEXT;
  ALTER TABLE change_results ADD COLUMN version_b_sha256 TEXT;
  `,
  /*
   * 3 → 4: each drawing's latest result, kept on write, so GET /drawings reads one page of an
   * index instead of ranking every result; filled from the results already stored.
   */ `
  CREATE TABLE drawing_latest (
    drawing_id      TEXT PRIMARY KEY,
    task_key        TEXT NOT NULL,
    job_id          TEXT,
    created_at      TEXT NOT NULL,
    added_count     INTEGER NOT NULL,
    removed_count   INTEGER NOT NULL,
    moved_count     INTEGER NOT NULL,
    modified_count  INTEGER NOT NULL
  );
  CREATE INDEX drawing_latest_newest ON drawing_latest (created_at, drawing_id);
  INSERT INTO drawing_latest (drawing_id, task_key, job_id, created_at, added_count, removed_count, moved_count, modified_count)
    SELECT drawing_id, task_key, job_id, created_at, added_count, removed_count, moved_count, modified_count FROM (
      SELECT *, ROW_NUMBER() OVER (PARTITION BY drawing_id ORDER BY created_at DESC, rowid DESC) AS rn
      FROM processing_metrics WHERE status = 'completed' AND drawing_id IS NOT NULL
    ) WHERE rn = 1;
  `,
  /* 4 → 5: one idempotency key across requests, and /health's read per severity (issue 15). */ `
  CREATE TABLE job_tasks (
    job_id      TEXT NOT NULL,
    task_key    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, task_key)
  );
  CREATE INDEX job_tasks_task ON job_tasks (task_key);
  CREATE INDEX anomalies_severity_created ON anomalies (severity, created_at);
  `,
];
