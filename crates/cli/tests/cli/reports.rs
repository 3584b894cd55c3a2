//! End-to-end tests of the report commands through the real binary: `report` from recorded
//! results files, `compare` and its exit codes, `run --baseline` with every text report, and
//! the SQLite run history across real runs against the demo target (127.0.0.1, a free port).
//!
//! Every command gets `STAMPEDE_HISTORY_DB` pointing into its own temporary folder, so nothing
//! is recorded in the source tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stampede_report::Summary;
use stampede_store::{ListFilter, Store, content_hash};

use super::support::{text, write_plan};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../report/tests/fixtures").join(name)
}

/// The binary with its history database in `dir`.
fn stampede(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .env("STAMPEDE_HISTORY_DB", dir.join("history.db"))
        .stdin(Stdio::null())
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const SMALL: &str = r#"
name: small
target: http://127.0.0.1:9
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 1s
    flow:
      - http:
          name: health
          url: /health
          check: { status: 200 }
      - http: { name: tools, url: "/api/v1/tools?limit=3" }
      - think: 50ms
thresholds:
  http_req_duration: ["p(95)<1000"]
  http_req_failed: ["rate<0.01"]
"#;

#[test]
fn report_renders_every_text_format_from_a_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, junit, md) =
        (dir.path().join("csv"), dir.path().join("out/junit.xml"), dir.path().join("pr.md"));
    let degraded = fixture("degraded.json");
    let o = stampede(
        dir.path(),
        &["report", s(&degraded), "--csv", s(&csv), "--junit", s(&junit), "--markdown", s(&md)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    for f in ["csv/stats.csv", "csv/history.csv", "csv/failures.csv", "out/junit.xml", "pr.md"] {
        assert!(out.contains(&format!("wrote {}", dir.path().join(f).display())), "{f} not listed:\n{out}");
    }
    let stats = std::fs::read_to_string(csv.join("stats.csv")).unwrap();
    assert!(stats.lines().last().unwrap().starts_with("Aggregated,407,110,"), "{stats}");
    let failures = std::fs::read_to_string(csv.join("failures.csv")).unwrap();
    assert!(failures.contains("create call,status_429,79"), "{failures}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"4\" failures=\"3\""), "{xml}");
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.starts_with("## ❌ stampede · degraded — FAILED"), "{markdown}");
    // The same renderers as `run`: what the library renders from the same file.
    let summary = Summary::from_json(&std::fs::read_to_string(&degraded).unwrap()).unwrap();
    let grade = stampede_report::grade(&summary, &stampede_report::GradingConfig::for_summary(&summary));
    assert_eq!(markdown, stampede_report::markdown::render(&summary, &grade, None));
    assert!(!dir.path().join("history.db").exists(), "report records nothing");

    // Without output flags the terminal summary is printed again, grade and all.
    let o = stampede(dir.path(), &["report", s(&degraded)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("grade C · 50/100 FAIR"), "{}", text(&o));
    assert!(stdout(&o).contains("RECOMMENDATIONS"), "{}", text(&o));

    // With a baseline the Markdown has the comparison.
    let o = stampede(
        dir.path(),
        &["report", s(&degraded), "--baseline", s(&fixture("quickstart_6s.json")), "--markdown", s(&md)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(&md).unwrap().contains("### Comparison with baseline"));

    let missing = dir.path().join("nope.json");
    let o = stampede(dir.path(), &["report", s(&missing), "--markdown", s(&md)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.json"), "{}", text(&o));
}

#[test]
fn compare_fails_on_regression_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (base, new) = (fixture("quickstart_6s.json"), fixture("degraded.json"));
    let o = stampede(dir.path(), &["compare", s(&base), s(&new)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.contains("COMPARISON  quickstart"), "{out}");
    assert!(out.contains("error rate") && out.contains("✗ regressed"), "{out}");

    let o = stampede(dir.path(), &["compare", s(&base), s(&new), "--fail-on-regression"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("regression(s)"), "{}", text(&o));

    // A run compared with itself has not regressed.
    let o = stampede(dir.path(), &["compare", s(&base), s(&base), "--fail-on-regression", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    let rows = json["rows"].as_array().unwrap();
    // 81 requests: p95 and p99 have too few samples beyond them to judge.
    assert!(rows.len() >= 6, "{json}");
    assert!(rows.iter().all(|r| r["verdict"] == "unchanged" || r["verdict"] == "too_few_samples"), "{json}");
    assert!(rows.iter().any(|r| r["verdict"] == "unchanged"), "{json}");
    assert_eq!(json["options"]["min_effect"], 0.05);

    let md = dir.path().join("cmp.md");
    let o =
        stampede(dir.path(), &["compare", s(&base), s(&new), "--min-effect", "10%", "--markdown", s(&md)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("min effect 10%"), "{markdown}");

    let o = stampede(dir.path(), &["compare", s(&base), s(&new), "--min-effect", "5"]);
    assert_eq!(o.status.code(), Some(2), "an ambiguous effect is a usage error\n{}", text(&o));
}

#[test]
fn run_with_a_baseline_puts_the_comparison_into_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "small.yaml", SMALL);
    let (md, junit, csv) = (dir.path().join("pr.md"), dir.path().join("junit.xml"), dir.path().join("csv"));
    let base = fixture("quickstart_6s.json");
    let o = stampede(
        dir.path(),
        &[
            "run",
            s(&plan),
            "--demo",
            "--quiet",
            "--no-history",
            "--baseline",
            s(&base),
            "--markdown",
            s(&md),
            "--junit",
            s(&junit),
            "--csv",
            s(&csv),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.contains("    grade "), "{out}");
    assert!(out.contains("COMPARISON  quickstart"), "{out}");
    assert!(!out.contains("history: run #"), "--no-history: {out}");
    assert!(!dir.path().join("history.db").exists());
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.starts_with("## ✅ stampede · small — PASSED"), "{markdown}");
    assert!(
        markdown.contains("### Comparison with baseline") && markdown.contains("| health |"),
        "{markdown}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"3\" failures=\"0\""), "2 thresholds and 1 check:\n{xml}");
    let history = std::fs::read_to_string(csv.join("history.csv")).unwrap();
    assert!(history.lines().count() >= 2, "{history}");

    // A baseline that does not read stops the run before any load is sent.
    let o =
        stampede(dir.path(), &["run", s(&plan), "--demo", "--quiet", "--baseline", "/nonexistent/base.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!stdout(&o).contains("THRESHOLDS"), "{}", text(&o));
}

#[test]
fn history_records_runs_and_shows_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let o = stampede(dir.path(), &["history"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("no runs recorded yet"), "{}", text(&o));
    assert!(!db.exists(), "listing creates no database");

    let plan = write_plan(dir.path(), "small.yaml", SMALL);
    let first = dir.path().join("first.json");
    let o = stampede(dir.path(), &["run", s(&plan), "--demo", "--quiet", "--out", s(&first)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains(&format!("history: run #1 in {}", db.display())), "{}", text(&o));
    // The plan changes between the runs: the trend says so.
    let changed = SMALL.replace("vus: 2", "vus: 3");
    std::fs::write(&plan, &changed).unwrap();
    let o = stampede(dir.path(), &["run", s(&plan), "--demo", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("history: run #2"), "{}", text(&o));
    let o = stampede(
        dir.path(),
        &["run", s(&plan), "--demo", "--quiet", "--profile", "smoke", "--duration", "1s"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("history: run #3"), "{}", text(&o));
    let o = stampede(dir.path(), &["run", s(&plan), "--demo", "--quiet", "--no-history"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The database itself: two runs, plan hashes of the texts, the schema version.
    let store = Store::open(&db).unwrap();
    assert_eq!(store.schema_version().unwrap(), 1);
    let runs = store.list(&ListFilter::default()).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [3, 2, 1],
        "newest first, --no-history skipped"
    );
    assert_eq!(runs[2].plan_hash, content_hash(SMALL.as_bytes()));
    assert_eq!(runs[1].plan_hash, content_hash(changed.as_bytes()));
    assert_eq!(runs[0].plan_hash, runs[1].plan_hash);
    assert_eq!((runs[0].profile.as_deref(), runs[1].profile.as_deref()), (Some("smoke"), None));
    assert_eq!(runs[2].results_path.as_deref(), Some(s(&first)));
    assert_eq!(runs[1].results_path, None);
    assert!(runs.iter().all(|r| r.plan == "small" && r.requests > 0 && r.p95_ms.is_some()));
    assert!(runs.iter().all(|r| r.grade.is_some() && r.score.is_some()), "{runs:?}");
    drop(store);

    let o = stampede(dir.path(), &["history"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let list = stdout(&o);
    assert!(list.starts_with("   ID  STARTED (UTC)"), "{list}");
    assert_eq!(list.lines().filter(|l| l.contains(" small ")).count(), 3, "{list}");
    assert_eq!(list.lines().filter(|l| l.contains(" small [smoke] ")).count(), 1, "{list}");
    let o = stampede(dir.path(), &["history", "--plan", "other"]);
    assert_eq!(stdout(&o), "no runs recorded yet\n", "{}", text(&o));

    // `show` works from the database alone, after the results file is gone.
    let recorded = std::fs::read_to_string(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    let o = stampede(dir.path(), &["history", "show", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = stdout(&o);
    assert!(shown.starts_with("run #1 · recorded "), "{shown}");
    assert!(
        shown.contains("stampede · small") && shown.contains("PASSED") && shown.contains("grade "),
        "{shown}"
    );
    let o = stampede(dir.path(), &["history", "show", "1", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stored: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let original: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(stored, original, "the results round-trip exactly");

    let o = stampede(dir.path(), &["history", "show", "99"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no run #99"), "{}", text(&o));

    // The trend over both runs, as text and as an HTML chart.
    let html = dir.path().join("trend.html");
    let o = stampede(
        dir.path(),
        &["history", "trend", "small", "--metric", "http_req_duration:p(95)", "--html", s(&html)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let trend = stdout(&o);
    assert!(trend.starts_with("http_req_duration:p(95) over the last 3 run(s) of small"), "{trend}");
    assert!(trend.contains("* plan changed"), "{trend}");
    assert!(trend.contains("first ") && trend.contains(" → last "), "{trend}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"), "{page}");
    assert_eq!(page.matches("<circle").count(), 3, "one point per run");
    assert!(!page.contains("<script"), "no JavaScript needed");

    let o = stampede(dir.path(), &["history", "trend", "small", "--metric", "score"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stdout(&o).starts_with("score over the last 3 run(s) of small"), "{}", text(&o));
    let o = stampede(dir.path(), &["history", "trend", "small", "--metric", "p95"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid metric"), "{}", text(&o));
}
