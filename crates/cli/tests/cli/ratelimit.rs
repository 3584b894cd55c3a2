//! Rate limits (issue #4): the real binary against the embedded demo target's rate-limited
//! `POST /calls/outbound` (20 requests per second per `x-client-id`, then 429 with
//! `Retry-After`), under both policies: `count` (429s counted apart, never failures) and
//! `retry` (the client waits what `Retry-After` asks and sends again).

use std::path::Path;

use super::support::{metric, run, run_demo, run_demo_with, text, valid_results as results, write_plan};

/// A one-VU plan calling the rate-limited endpoint as fast as it can; `defaults` and
/// `thresholds` are YAML mappings.
fn plan(dir: &Path, client: &str, duration: &str, extra: &str) -> std::path::PathBuf {
    let yaml = format!(
        r#"
name: rate-limits
target: http://127.0.0.1:9
{extra}
scenarios:
  s:
    executor: constant-vus
    vus: 1
    duration: {duration}
    graceful_stop: 0s
    flow:
      - http:
          name: call
          method: POST
          url: /calls/outbound
          headers: {{ x-client-id: {client} }}
          json: {{ to: "+15550100" }}
"#
    );
    write_plan(dir, &format!("{client}.yaml"), &yaml)
}

#[test]
fn count_policy_counts_429s_apart_from_failures() {
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"defaults: { rate_limit: count }
thresholds:
  http_rate_limited: ["count>0"]
  http_req_failed: ["rate<0.001"]
  http_retry_after_present: ["rate>0.99"]"#;
    let plan = plan(dir.path(), "count-test", "1s", extra);
    let (md, html) = (dir.path().join("r.md"), dir.path().join("r.html"));
    let (o, out) = run_demo_with(
        dir.path(),
        &plan,
        &["--markdown", md.to_str().unwrap(), "--report", html.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "every threshold holds\n{}", text(&o));
    let r = results(&out);

    let limited = r["rate_limits"]["rate_limited"].as_u64().expect("a rate_limits block");
    let requests = metric(&r, "http_reqs", "count") as u64;
    // One window of 20 allowed calls, then 429s until the window ends: far more 429s.
    assert!(limited > 20 && limited < requests, "{limited} of {requests} rate limited");
    assert_eq!(metric(&r, "http_rate_limited", "count") as u64, limited);
    assert_eq!(metric(&r, "http_req_failed", "passes"), 0.0, "no 429 counted as failed");
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "429s are not errors: {}", r["errors"]);
    assert_eq!(r["rate_limits"]["retry_after_present"].as_f64(), Some(1.0));
    assert_eq!(r["rate_limits"]["retries"].as_u64(), Some(0), "count never retries");
    // The demo asks to come back when its 1 s window ends: 1 s, rounded up.
    assert_eq!(r["rate_limits"]["median_wait_ms"].as_f64(), Some(1000.0), "{}", r["rate_limits"]);
    assert_eq!(r["rate_limits"]["by_request"][0]["name"], "call");
    assert!(r["metrics"].get("http_rate_limit_retries").is_none(), "{}", r["metrics"]);

    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = format!("RATE LIMITS  rate limited {limited}, Retry-After present 100%, median wait 1.00s");
    assert!(stdout.contains(&line), "summary lacks {line:?}:\n{stdout}");
    let headline = format!("rate limited {limited}, Retry-After present 100%, median wait 1.00s.");
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains(&format!("### Rate limits\n\n{headline}")), "{md}");
    let html = std::fs::read_to_string(html).unwrap();
    assert!(
        html.contains(&format!("<p id=\"rate-limits\">{headline}</p>")),
        "html lacks the rate-limit line"
    );
}

#[test]
fn retry_policy_waits_out_retry_after_and_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"defaults: { rate_limit: { retry: 3, max_wait: 2s, budget: 5s } }
thresholds:
  http_rate_limit_retries: ["count>0"]
  "http_reqs{status:201}": ["count>20"]
  http_req_failed: ["rate<0.001"]"#;
    let plan = plan(dir.path(), "retry-test", "2500ms", extra);
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "every threshold holds\n{}", text(&o));
    let r = results(&out);

    let block = &r["rate_limits"];
    let retries = block["retries"].as_u64().unwrap();
    let limited = block["rate_limited"].as_u64().unwrap();
    // Each window: 20 calls, one 429, a wait of 1 s, then the retry starts the next window.
    // A 2.5 s run sees two or three such waits (the last one may be cut short by the end).
    assert!((1..=3).contains(&retries), "retries {retries}: {block}");
    assert!(limited >= retries && limited <= retries + 1, "{limited} 429s for {retries} retries");
    assert_eq!(block["median_wait_ms"].as_f64(), Some(1000.0), "waited what Retry-After asked: {block}");
    assert_eq!(metric(&r, "http_rate_limit_wait", "count") as u64, retries, "one wait per retry");
    // Successes after waiting: more 201s than one window allows.
    let created = metric(&r, "http_reqs{status:201}", "count") as u64;
    assert!(created > 20, "{created} calls went through");
    assert_eq!(metric(&r, "http_req_failed", "passes"), 0.0);

    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!(
            "rate limited {limited}, Retry-After present 100%, median wait 1.00s, {retries} retries"
        )),
        "{stdout}"
    );
}

#[test]
fn rate_limit_mistakes_are_all_reported_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(
        dir.path(),
        "bad.yaml",
        "target: http://127.0.0.1:9\ndefaults: { rate_limit: { retry: 0 } }\nvus: 1\nduration: 1s\nflow:\n  - http: { url: /x, rate_limit: { max_wait: 5 } }\n  - http: { url: /y, rate_limit: later }\n",
    );
    let o = run(&["validate", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for needle in [
        ":2:34: `retry: 0` never retries",
        ":6:46: expected a duration like 500ms or 1m30s, found `5`",
        ":7:34: unknown rate limit policy `later`",
    ] {
        assert!(stderr.contains(needle), "lacks {needle:?}:\n{stderr}");
    }
}
