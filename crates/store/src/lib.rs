//! Run history: every run recorded in an embedded SQLite database, so that `stampede history`
//! can list past runs, show any of them again and draw a metric's trend over runs.
//!
//! The database (default `.stampede/history.db`) holds one row per run: the plan's name and a
//! hash of its text (so a trend can tell when the plan changed), the profile, start, duration,
//! verdict, the key figures (requests, throughput, error rate, p95, p99, score and grade) as
//! columns for quick listing, and the whole results JSON, so that `history show` and any trend
//! work even after the results file is gone. A trend of any statistic of any metric is read
//! from the stored results; the key figures only make listing cheap.
//!
//! The schema is versioned with SQLite's `user_version` pragma: each migration runs once, in a
//! transaction, and a database written by a newer stampede is refused rather than damaged.
//! Concurrent runs recording at once wait for each other (a busy timeout), never fail.
#![warn(missing_docs)]

mod render;
mod trend;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use stampede_report::{Grade, Summary, Verdict};

pub use render::{render_list, render_trend_html, render_trend_text};
pub use trend::{TrendMetric, TrendPoint};

/// Where the history lives unless told otherwise (relative to the working directory).
pub const DEFAULT_PATH: &str = ".stampede/history.db";

/// Schema migrations, in order; `user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: runs with their key figures and the full results.
    "CREATE TABLE runs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        plan          TEXT NOT NULL,
        plan_hash     TEXT NOT NULL,
        profile       TEXT,
        started_at    TEXT NOT NULL,
        duration_secs REAL NOT NULL,
        verdict       TEXT NOT NULL,
        requests      INTEGER NOT NULL,
        rps           REAL NOT NULL,
        error_rate    REAL,
        p95_ms        REAL,
        p99_ms        REAL,
        score         INTEGER,
        grade         TEXT,
        results_path  TEXT,
        results_json  TEXT NOT NULL,
        recorded_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX runs_by_plan ON runs (plan, id);",
];

/// Errors of the run history.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder of the database could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the history database {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The database was written by a newer stampede.
    #[error("the history database has schema version {found}; this stampede knows versions up to {known}")]
    TooNew {
        /// Its version.
        found: u32,
        /// The newest this build knows.
        known: u32,
    },
    /// A query failed.
    #[error("history database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// No run with this id.
    #[error("no run #{0} in the history")]
    NotFound(i64),
    /// The stored results of a run do not read.
    #[error("the stored results of run #{id} do not read: {source}")]
    Results {
        /// The run.
        id: i64,
        /// Why.
        source: stampede_report::ReportError,
    },
    /// A trend metric that does not parse.
    #[error(
        "invalid metric {input:?}: {reason}; expected e.g. http_req_duration:p(95), http_req_failed:rate or score"
    )]
    Metric {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },
}

/// A run to record.
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    /// Its results.
    pub summary: &'a Summary,
    /// Hash of the plan's text (or of the URL of a quick test), see [`content_hash`].
    pub plan_hash: &'a str,
    /// The profile the plan ran with, if any.
    pub profile: Option<&'a str>,
    /// Where the results file was written, if it was.
    pub results_path: Option<&'a Path>,
    /// The run's grade, if computed.
    pub grade: Option<&'a Grade>,
}

/// One recorded run, without its results.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Its id (`history show ID`).
    pub id: i64,
    /// Plan name.
    pub plan: String,
    /// Hash of the plan's text.
    pub plan_hash: String,
    /// Profile, if any.
    pub profile: Option<String>,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// Wall time in seconds.
    pub duration_secs: f64,
    /// Verdict.
    pub verdict: Verdict,
    /// Requests made.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Failed share of requests.
    pub error_rate: Option<f64>,
    /// p95 of `http_req_duration`, ms.
    pub p95_ms: Option<f64>,
    /// p99 of `http_req_duration`, ms.
    pub p99_ms: Option<f64>,
    /// Score 0–100.
    pub score: Option<u32>,
    /// Grade letter.
    pub grade: Option<String>,
    /// Where the results file was written.
    pub results_path: Option<String>,
    /// When it was recorded, RFC 3339 UTC.
    pub recorded_at: String,
}

/// Which runs to list.
#[derive(Debug, Clone, Copy)]
pub struct ListFilter<'a> {
    /// Only runs of this plan.
    pub plan: Option<&'a str>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl Default for ListFilter<'_> {
    fn default() -> Self {
        ListFilter { plan: None, limit: 20 }
    }
}

/// The run history database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

const COLUMNS: &str = "id, plan, plan_hash, profile, started_at, duration_secs, verdict, requests, rps, \
                       error_rate, p95_ms, p99_ms, score, grade, results_path, recorded_at";

impl Store {
    /// Opens (creating it and its folder if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(open_err)?;
        Store::setup(conn).map_err(|e| match e {
            StoreError::Sql(source) => open_err(source),
            other => other,
        })
    }

    /// A database in memory (for tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store, StoreError> {
        // Two runs finishing together take turns instead of failing with "database is locked".
        conn.busy_timeout(Duration::from_secs(10))?;
        migrate(&mut conn)?;
        Ok(Store { conn })
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Records a run; returns its id.
    pub fn record(&mut self, run: &NewRun<'_>) -> Result<i64, StoreError> {
        let s = run.summary;
        let requests = s.value("http_reqs", "count").unwrap_or(0.0);
        let rps = if s.run.duration_secs > 0.0 { requests / s.run.duration_secs } else { 0.0 };
        let results = serde_json::to_string(s).expect("summary serializes");
        self.conn.execute(
            "INSERT INTO runs (plan, plan_hash, profile, started_at, duration_secs, verdict, requests, rps,
                               error_rate, p95_ms, p99_ms, score, grade, results_path, results_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                s.run.plan,
                run.plan_hash,
                run.profile,
                s.run.started_at,
                s.run.duration_secs,
                verdict_text(s.run.verdict),
                requests as i64,
                rps,
                s.value("http_req_failed", "rate"),
                s.snapshot.percentile("http_req_duration", 95.0),
                s.snapshot.percentile("http_req_duration", 99.0),
                run.grade.map(|g| g.score),
                run.grade.map(|g| g.band.letter()),
                run.results_path.map(|p| p.display().to_string()),
                results,
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Runs, newest first.
    pub fn list(&self, filter: &ListFilter<'_>) -> Result<Vec<RunRecord>, StoreError> {
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM runs WHERE (?1 IS NULL OR plan = ?1) ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![filter.plan, limit], record_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One run, without its results.
    pub fn get(&self, id: i64) -> Result<RunRecord, StoreError> {
        self.conn
            .query_row(&format!("SELECT {COLUMNS} FROM runs WHERE id = ?1"), [id], record_from_row)
            .optional()?
            .ok_or(StoreError::NotFound(id))
    }

    /// The stored results of a run.
    pub fn summary(&self, id: i64) -> Result<Summary, StoreError> {
        let text: String = self
            .conn
            .query_row("SELECT results_json FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::NotFound(id))?;
        Summary::from_json(&text).map_err(|source| StoreError::Results { id, source })
    }

    /// A metric over the last `limit` runs of `plan`, oldest first. A run whose results lack
    /// the metric has no value.
    pub fn trend(
        &self,
        plan: &str,
        metric: &TrendMetric,
        limit: usize,
    ) -> Result<Vec<TrendPoint>, StoreError> {
        let mut runs = self.list(&ListFilter { plan: Some(plan), limit })?;
        runs.reverse();
        runs.into_iter()
            .map(|run| {
                let value = match metric {
                    TrendMetric::Score => run.score.map(f64::from),
                    _ => metric.value_of(&self.summary(run.id)?),
                };
                Ok(TrendPoint { run, value })
            })
            .collect()
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as u32;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // PRAGMA takes no parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Aborted => "aborted",
        Verdict::Interrupted => "interrupted",
    }
}

fn verdict_from(text: &str) -> Verdict {
    match text {
        "passed" => Verdict::Passed,
        "aborted" => Verdict::Aborted,
        "interrupted" => Verdict::Interrupted,
        _ => Verdict::Failed,
    }
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        plan: r.get(1)?,
        plan_hash: r.get(2)?,
        profile: r.get(3)?,
        started_at: r.get(4)?,
        duration_secs: r.get(5)?,
        verdict: verdict_from(&r.get::<_, String>(6)?),
        requests: r.get::<_, i64>(7)?.max(0) as u64,
        rps: r.get(8)?,
        error_rate: r.get(9)?,
        p95_ms: r.get(10)?,
        p99_ms: r.get(11)?,
        score: r.get(12)?,
        grade: r.get(13)?,
        results_path: r.get(14)?,
        recorded_at: r.get(15)?,
    })
}

/// A stable hash of a plan's text (64-bit FNV-1a, hex): equal texts, equal hashes, on every
/// machine and release, which the standard library's hasher does not promise.
pub fn content_hash(bytes: &[u8]) -> String {
    let h =
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable() {
        assert_eq!(content_hash(b""), "cbf29ce484222325");
        assert_eq!(content_hash(b"a"), "af63dc4c8601ec8c");
        assert_ne!(content_hash(b"name: a"), content_hash(b"name: b"));
    }

    #[test]
    fn migrations_run_once_and_newer_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/history.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        drop(store);
        // Opening again applies nothing twice (CREATE TABLE would fail).
        let store = Store::open(&path).unwrap();
        store.conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(store);
        match Store::open(&path) {
            Err(StoreError::TooNew { found: 99, known }) => assert_eq!(known, MIGRATIONS.len() as u32),
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn verdicts_round_trip_as_text() {
        for v in [Verdict::Passed, Verdict::Failed, Verdict::Aborted, Verdict::Interrupted] {
            assert_eq!(verdict_from(verdict_text(v)), v);
        }
    }
}
