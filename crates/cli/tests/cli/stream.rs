//! Streamed HTTP through the real binary: `examples/llm-stream.yaml` against the embedded
//! demo target reports the LLM and stream metrics, and a threshold on time to first token
//! that cannot hold fails the run (issue #6).

use std::path::{Path, PathBuf};

use super::support::{metric, results, run_no_history as run, text, write_plan};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/llm-stream.yaml")
}

#[test]
fn the_llm_stream_example_passes_against_the_demo_and_reports_token_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let plan = example();
    let o =
        run(&["run", plan.to_str().unwrap(), "--demo", "--duration", "3s", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "PASSED",
        "llm_time_to_first_token",
        "llm_inter_token_latency",
        "llm_tokens_per_second",
        "llm_output_tokens",
        "stream_time_to_first_event",
        "stream_event_gap",
        "stream_events",
        "stream_duration",
    ] {
        assert!(stdout.contains(needle), "summary lacks {needle:?}:\n{stdout}");
    }
    let r = results(&out);
    assert_eq!(r["run"]["verdict"], "passed");
    assert_eq!(r["metrics"]["llm_time_to_first_token"]["thresholds"]["p(95)<1000"]["ok"], true);
    assert_eq!(r["metrics"]["llm_output_tokens"]["thresholds"]["count>0"]["ok"], true);

    // The demo waits 150 ms before the first token, then sends 100 tokens per second.
    let ttft = metric(&r, "llm_time_to_first_token", "p(50)");
    assert!((140.0..1000.0).contains(&ttft), "ttft p50 {ttft} ms");
    let itl = metric(&r, "llm_inter_token_latency", "p(50)");
    assert!((3.0..60.0).contains(&itl), "itl p50 {itl} ms, expected ~10");
    let tps = metric(&r, "llm_tokens_per_second", "p(50)");
    assert!((40.0..200.0).contains(&tps), "tokens/s p50 {tps}, expected ~100");
    // 24 tokens per completion, exactly.
    let completions = metric(&r, "llm_time_to_first_token", "count");
    assert!(completions >= 3.0, "completions {completions}");
    assert_eq!(metric(&r, "llm_output_tokens", "count"), 24.0 * completions);
    // Per response: every completion had 24 tokens, so min and max agree.
    assert_eq!(metric(&r, "llm_output_tokens_per_response", "min"), 24.0);
    assert_eq!(metric(&r, "llm_output_tokens_per_response", "max"), 24.0);
    assert_eq!(metric(&r, "llm_output_tokens_per_response", "count"), completions);
    let most = metric(&r, "stream_events_per_response", "max");
    assert_eq!(most, 27.0, "a completion: 24 tokens plus role, finish and [DONE]");
    assert_eq!(r["metrics"]["http_req_failed"]["rate"].as_f64(), Some(0.0));
}

#[test]
fn a_time_to_first_token_threshold_that_cannot_hold_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(example()).unwrap().replace("p(95)<1000", "p(95)<100");
    let plan = write_plan(dir.path(), "plan.yaml", &yaml);
    let out = dir.path().join("results.json");
    let o =
        run(&["run", plan.to_str().unwrap(), "--demo", "--duration", "2s", "--out", out.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert_eq!(r["metrics"]["llm_time_to_first_token"]["thresholds"]["p(95)<100"]["ok"], false);
}
