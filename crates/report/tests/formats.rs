//! CSV, JUnit, Markdown and the terminal's grade lines, rendered from recorded results files
//! (written by the real binary against the demo target):
//!
//! * `quickstart_6s.json` — `examples/quickstart.yaml --demo --vus 5 --duration 6s`: all passing;
//! * `degraded.json` — `degraded.yaml --demo`: 429s, 503s, timeouts, a failing check, and a
//!   request name with CSV and Markdown metacharacters (`search | tools, "fast"`).

use std::path::Path;
use std::process::Command;

use stampede_report::compare::ChangeVerdict;
use stampede_report::{
    CompareOptions, Grade, GradingConfig, Summary, compare, csv, grade, junit, markdown, terminal,
};

const HOSTILE: &str = "search | tools, \"fast\"";

fn fixture(name: &str) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    Summary::from_json(&std::fs::read_to_string(&path).expect("fixture exists")).expect("fixture parses")
}

fn graded(s: &Summary) -> Grade {
    grade(s, &GradingConfig::for_summary(s))
}

/// A small RFC 4180 reader: rows of fields, quotes undone.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(row.is_empty() && field.is_empty(), "csv does not end with a newline");
    rows
}

fn column<'a>(rows: &'a [Vec<String>], name: &str) -> impl Fn(usize) -> &'a str {
    let i =
        rows[0].iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {:?}", rows[0]));
    move |row| rows[row][i].as_str()
}

#[test]
fn stats_csv_has_a_row_per_request_and_an_aggregated_row() {
    let s = fixture("degraded.json");
    let files = csv::render(&s);
    let names: Vec<&str> = files.iter().map(|f| f.file_name).collect();
    assert_eq!(names, ["stats.csv", "history.csv", "failures.csv"]);
    let rows = parse_csv(&files[0].text);
    assert_eq!(
        rows[0].join(","),
        "Name,Request Count,Failure Count,Requests/s,Failures/s,Average Response Time,Min Response Time,\
         Median Response Time,Max Response Time,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Protocol"
    );
    assert_eq!(rows.len(), 1 + s.requests.len() + 1);
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "ragged rows: {rows:?}");
    let name = column(&rows, "Name");
    let count = column(&rows, "Request Count");
    let failures = column(&rows, "Failure Count");
    let p95 = column(&rows, "95%");
    let max = column(&rows, "Max Response Time");
    let protocol = column(&rows, "Protocol");
    for (i, r) in s.requests.iter().enumerate() {
        assert_eq!(name(i + 1), r.name);
        assert_eq!(protocol(i + 1), "http", "a file written before rows had a protocol: HTTP");
        assert_eq!(count(i + 1), r.requests.to_string());
        assert_eq!(failures(i + 1), r.failures.to_string());
        let got: f64 = p95(i + 1).parse().unwrap();
        assert!((got - r.p95).abs() < 0.001, "{}: p95 {got} vs {}", r.name, r.p95);
        let got: f64 = max(i + 1).parse().unwrap();
        assert!((got - r.max).abs() < 0.001, "{}: max {got} vs {}", r.name, r.max);
    }
    assert!(rows.iter().any(|r| r[0] == HOSTILE), "quoted name reads back");
    let last = rows.len() - 1;
    assert_eq!((name(last), protocol(last)), ("Aggregated", ""));
    let total: u64 = s.requests.iter().map(|r| r.requests).sum();
    assert_eq!(count(last), total.to_string());
    assert_eq!(count(last), format!("{}", s.value("http_reqs", "count").unwrap()));
    assert_eq!(failures(last), "110");
    let p95_total: f64 = p95(last).parse().unwrap();
    assert!((p95_total - s.value("http_req_duration", "p(95)").unwrap()).abs() < 0.001);
    // 100% is the exact maximum.
    assert_eq!(column(&rows, "100%")(last), max(last));
}

#[test]
fn history_csv_has_one_row_per_second() {
    let s = fixture("quickstart_6s.json");
    let text = csv::history(&s);
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 1 + s.snapshot.series.t.len());
    assert_eq!(rows[0][..5].join(","), "Second,Timestamp,User Count,Requests/s,Failures/s");
    let second = column(&rows, "Second");
    let stamp = column(&rows, "Timestamp");
    let total = column(&rows, "Total Request Count");
    let users = column(&rows, "User Count");
    let p95 = column(&rows, "95%");
    let first: i64 = stamp(1).parse().unwrap();
    // 2026-11-24T15:11:36.512Z
    assert_eq!(first, 1_795_533_096);
    for row in 1..rows.len() {
        assert_eq!(second(row), (row - 1).to_string());
        assert_eq!(stamp(row).parse::<i64>().unwrap(), first + row as i64 - 1);
    }
    let last = rows.len() - 1;
    let all = s.value("http_reqs", "count").unwrap() - s.snapshot.series.late_samples as f64;
    assert_eq!(total(last).parse::<f64>().unwrap(), all);
    assert!(
        (1..rows.len()).any(|r| users(r) == "5"),
        "the 5 VUs show: {:?}",
        (1..rows.len()).map(users).collect::<Vec<_>>()
    );
    assert!((1..rows.len()).any(|r| !p95(r).is_empty()), "per-second p95 present");
}

#[test]
fn failures_csv_lists_kinds_by_request() {
    let s = fixture("degraded.json");
    assert_eq!(
        csv::failures(&s),
        "Name,Error,Occurrences\n\
         create call,status_429,79\n\
         \"search | tools, \"\"fast\"\"\",status_503,18\n\
         report,timeout,13\n"
    );
    assert_eq!(csv::failures(&fixture("quickstart_6s.json")), "Name,Error,Occurrences\n");
}

#[test]
fn junit_has_a_case_per_threshold_and_check() {
    let s = fixture("degraded.json");
    let xml = junit::render(&s, &graded(&s));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stampede\" tests=\"4\" failures=\"3\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 4);
    assert_eq!(xml.matches("<failure ").count(), 3);
    for needle in [
        "<testcase classname=\"thresholds\" name=\"http_req_duration: p(95)&lt;250\" time=\"0\"/>",
        "<failure message=\"observed 27.03%, expected rate&lt;0.05\" type=\"threshold\">",
        "name=\"search | tools, &quot;fast&quot; › status is 200\"",
        "<failure message=\"18 of 197 failed (9.1%)\" type=\"check\">",
        "<property name=\"verdict\" value=\"failed\"/>",
        "<property name=\"grade\" value=\"C\"/>",
        "<system-out>",
    ] {
        assert!(xml.contains(needle), "{needle:?} missing:\n{xml}");
    }
    let ok = fixture("quickstart_6s.json");
    let xml = junit::render(&ok, &graded(&ok));
    assert!(xml.contains("tests=\"7\" failures=\"0\""), "4 thresholds and 3 checks, all passing:\n{xml}");
    assert!(!xml.contains("<failure"));
}

/// Reads JUnit files back with Python's `junitparser` (PyPI): an independent parser.
const JUNITPARSER: &str = r#"
import json, sys
from junitparser import JUnitXml
from junitparser.junitparser import SystemOut
out = []
for suite in JUnitXml.fromfile(sys.argv[1]):
    cases = []
    for case in suite:
        cases.append({
            "classname": case.classname,
            "name": case.name,
            "results": [{"kind": type(r).__name__, "type": r.type, "message": r.message} for r in case.result],
        })
    out.append({
        "name": suite.name, "tests": suite.tests, "failures": suite.failures, "errors": suite.errors,
        "time": suite.time, "properties": {p.name: p.value for p in suite.properties()},
        "system_out": suite.child(SystemOut).text, "cases": cases,
    })
print(json.dumps(out))
"#;

#[test]
fn junit_reads_back_with_junitparser() {
    let probe = Command::new("python3").args(["-c", "import junitparser"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        let msg = "python3 with junitparser (PyPI) is needed: python3 -m pip install junitparser";
        assert!(std::env::var_os("STAMPEDE_REQUIRE_PY").is_none(), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = fixture("degraded.json");
    let path = dir.path().join("junit.xml");
    std::fs::write(&path, junit::render(&s, &graded(&s))).unwrap();
    let out = Command::new("python3").args(["-c", JUNITPARSER, path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "junitparser failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let suites: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suite = &suites[0];
    assert_eq!(suites.as_array().unwrap().len(), 1);
    assert_eq!(suite["name"], "degraded");
    assert_eq!(
        (suite["tests"].as_u64(), suite["failures"].as_u64(), suite["errors"].as_u64()),
        (Some(4), Some(3), Some(0))
    );
    assert!((suite["time"].as_f64().unwrap() - s.run.duration_secs).abs() < 0.001);
    assert_eq!(suite["properties"]["verdict"], "failed");
    assert_eq!(suite["properties"]["score"], graded(&s).score.to_string());
    assert!(suite["system_out"].as_str().unwrap().contains("RECOMMENDATIONS"));
    let cases = suite["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "http_req_duration: p(95)<250",
            "http_req_failed: rate<0.05",
            "checks: rate>0.95",
            "search | tools, \"fast\" › status is 200"
        ]
    );
    assert_eq!(cases[0]["results"].as_array().unwrap().len(), 0, "a held threshold passes");
    let failure = &cases[1]["results"][0];
    assert_eq!((failure["kind"].as_str(), failure["type"].as_str()), (Some("Failure"), Some("threshold")));
    assert_eq!(failure["message"], "observed 27.03%, expected rate<0.05");
    assert_eq!(cases[3]["classname"], "checks");
    assert_eq!(cases[3]["results"][0]["message"], "18 of 197 failed (9.1%)");
}

#[test]
fn markdown_summarizes_for_a_pull_request() {
    let s = fixture("degraded.json");
    let g = graded(&s);
    let md = markdown::render(&s, &g, None);
    assert!(
        md.starts_with("## ❌ stampede · degraded — FAILED\n\n**Grade C · 50/100 FAIR** · latency 40/40"),
        "{md}"
    );
    for needle in [
        "### Thresholds",
        "| ❌ | `http_req_failed` | `rate<0.05` | 27.03% |",
        "| ✅ | `http_req_duration` | `p(95)<250` | 22.51ms |",
        "### Requests",
        "| search \\| tools, \"fast\" | 197 | 18 | 32.2 |",
        "### Errors (110)",
        "| status\\_429 | create call | 79 | 71.8% |",
        "### Checks",
        "### Score: 50/100",
        "| errors | 0/30 | 27.0% failed vs target 5.0% (threshold) |",
        "### Recommendations",
        "**72% of errors are status\\_429 (79 of 110, all from create call)**: rate limited",
        "a long tail",
    ] {
        assert!(md.contains(needle), "{needle:?} missing:\n{md}");
    }
    assert!(!md.contains("Comparison with baseline"));
    // Every table row has the same number of cells as its header.
    let mut cells = None;
    for line in md.lines() {
        if line.starts_with('|') {
            let n = line.replace("\\|", "").matches('|').count();
            let expected = *cells.get_or_insert(n);
            assert_eq!(n, expected, "ragged table row: {line}");
        } else {
            cells = None;
        }
    }
}

#[test]
fn markdown_includes_a_comparison_when_given_one() {
    let base = fixture("quickstart_6s.json");
    let new = fixture("degraded.json");
    let c = compare(&base, &new, &CompareOptions::default());
    let md = markdown::render(&new, &graded(&new), Some(&c));
    assert!(md.contains("### Comparison with baseline"), "{md}");
    assert!(
        md.contains("**Base** quickstart (2026-11-24T15:11:36.512Z, PASSED) → **new** degraded (2026-11-24T15:11:56.268Z, FAILED) · 3 regressed"),
        "{md}"
    );
    let alone = stampede_report::markdown::render_comparison(&c);
    assert!(
        alone.starts_with("## ❌ stampede compare · quickstart → degraded\n\n### Comparison with baseline"),
        "{alone}"
    );
    assert!(md.contains("| all requests | error rate | 0.0% | 27.0% | +27.03pp |"), "{md}");
    assert!(md.contains("❌ regressed"), "{md}");
    // 81 requests in the base run: p99 has less than one sample beyond it.
    assert!(md.contains("| all requests | p99 | 560µs | 301.31ms | ×538.4 | – | too few samples |"), "{md}");
    // Names in one run only get one row saying so.
    assert!(md.contains("| health | throughput | 4.1/s | – | – | – | n/a |"), "{md}");
    assert_eq!(c.rows.iter().filter(|r| r.scope.as_deref() == Some("health")).count(), 1);
    assert!(c.rows.iter().any(|r| r.verdict == ChangeVerdict::Regressed));
}

#[test]
fn terminal_summary_shows_the_grade_and_recommendations() {
    let s = fixture("degraded.json");
    let text = terminal::render(&s);
    assert!(
        text.contains(
            "    grade C · 50/100 FAIR   latency 40/40 · errors 0/30 · throughput – · consistency 0/10"
        ),
        "{text}"
    );
    assert!(text.contains("\n  RECOMMENDATIONS\n    ✗ 27.0% of requests failed (110 of 407): error rate above the 5.0% target"), "{text}");
    assert!(text.contains("! 12% of errors are timeout (13 of 110, all from report): timeouts"), "{text}");
    assert_eq!(text, terminal::render_with(&s, &graded(&s)));
    let ok = terminal::render(&fixture("quickstart_6s.json"));
    assert!(ok.contains("grade A · 100/100 EXCELLENT"), "{ok}");
    assert!(!ok.contains("RECOMMENDATIONS"), "{ok}");
}

#[test]
fn a_breaking_point_is_stated_with_its_evidence() {
    let mut s = fixture("degraded.json");
    s.run.breaking_point = Some(stampede_report::BreakingPointSummary {
        max_passing_rate: 40.0,
        broke_at_secs: Some(4.2),
        breaking_rate: Some(52.5),
        evidence: vec![stampede_report::ThresholdResult {
            metric: "http_req_failed".into(),
            expr: "rate<0.05".into(),
            ok: false,
            observed: Some(0.27),
            abort_on_fail: false,
        }],
    });
    let g = graded(&s);
    let md = markdown::render(&s, &g, None);
    assert!(md.contains("### Breaking point\n\nBroke at **52.5 iterations/s** after 4s; the highest rate at which every threshold held was **40.0/s**.\n- `http_req_failed` `rate<0.05` crossed: observed 27.00%"), "{md}");
    let r =
        g.recommendations.iter().find(|r| r.finding == "breaking point").expect("a breaking-point finding");
    assert_eq!(r.evidence, "broke at 52.5 iterations/s after 4s (http_req_failed rate<0.05 observed 27.00%)");
    let xml = junit::render(&s, &g);
    assert!(xml.contains("<property name=\"breaking_rate\" value=\"52.500\"/>"), "{xml}");
}
