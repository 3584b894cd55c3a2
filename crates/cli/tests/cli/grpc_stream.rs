//! gRPC plans through the real binary against the embedded demo target: `examples/grpc.yaml`
//! (unary, server-, client- and bidi-streaming steps) and a plan that counts the messages a
//! client stream and a chat send and receive, with checks on the response fields.

use super::support::{
    example, metric, repo, run_demo, run_demo_with, text, valid_results as results, write_plan,
};

#[test]
fn the_grpc_example_passes_against_the_demo_with_every_call_kind() {
    let dir = tempfile::tempdir().unwrap();
    let plan = example("grpc.yaml");
    let (o, out) = run_demo_with(dir.path(), &plan, &["--vus", "2", "--duration", "2s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert_eq!(r["run"]["verdict"], "passed", "{}", r["metrics"]);
    assert_eq!(metric(&r, "grpc_req_failed", "rate"), 0.0);
    // A gRPC-only run is graded on its calls (no failures: full marks for errors).
    assert!(String::from_utf8_lossy(&o.stdout).contains("errors 30/30"), "{}", text(&o));
    let calls = metric(&r, "grpc_reqs", "count");
    assert!(calls >= 8.0, "calls {calls}");
    // Wire bytes are counted under gRPC too: more than a few bytes per call each way.
    let (out, back) = (metric(&r, "data_sent", "count"), metric(&r, "data_received", "count"));
    assert!(out > 30.0 * calls && back > 30.0 * calls, "sent {out} B, received {back} B, {calls} calls");
    // Each iteration streams 3 chunks, then 2 chat messages.
    let dictate = metric(&r, "grpc_req_duration{name:dictate}", "count");
    let sent = metric(&r, "grpc_stream_msgs_sent", "count");
    assert!(dictate >= 2.0, "dictate calls {dictate}");
    assert!((3.0 * dictate..=5.0 * dictate).contains(&sent), "sent {sent} for {dictate} dictations");
    // Each call has a row of the per-request table, marked gRPC, in the results and on screen.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let table = stdout.split("REQUESTS").nth(1).unwrap_or_else(|| panic!("no REQUESTS: {}", text(&o)));
    let is_row = |l: &str| l.trim_start().starts_with("transcribe ") && l.contains(" grpc ");
    assert!(table.lines().any(is_row), "{table}");
    let rows = r["requests"].as_array().unwrap();
    let row = rows.iter().find(|q| q["name"] == "transcribe" && q["protocol"] == "grpc");
    assert!(row.is_some_and(|q| q["requests"].as_u64().unwrap() > 0), "{rows:?}");
    let checks = r["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["fails"] == 0 && c["passes"].as_u64().unwrap() > 0), "{checks:?}");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for needle in ["$.chunks", "$.seq"] {
        assert!(names.iter().any(|n| n.contains(needle)), "no check on {needle}: {names:?}");
    }
}

#[test]
fn client_and_bidi_grpc_streams_count_messages_and_check_the_replies() {
    let dir = tempfile::tempdir().unwrap();
    let speech = repo("crates/demo/proto/speech.proto");
    let llm = repo("crates/demo/proto/llm.proto");
    let plan = write_plan(
        dir.path(),
        "streams.yaml",
        &format!(
            r#"
vars:
  demo_grpc: "127.0.0.1:9"
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    max_duration: 30s
    flow:
      - grpc:
          name: dictate
          target: "{{{{ demo_grpc }}}}"
          proto: {speech}
          method: speech.v1.Speech/Transcribe
          messages: [{{ audio: AAE= }}, {{ audio: AgM= }}, {{ audio: BAU= }}, {{ audio: Bgc= }}]
          interval: 5ms
          check: {{ json: {{ "$.text": hello from the stampede, "$.audioBytes": 8 }} }}
      - grpc:
          name: chat
          target: "{{{{ demo_grpc }}}}"
          proto: {llm}
          method: llm.v1.Generate/Chat
          messages: [{{ id: a, text: one }}, {{ id: b, text: two }}, {{ id: c, text: three }}]
          check: {{ json: {{ "$.id": c, "$.text": "you said: three", "$.seq": 2 }} }}
thresholds:
  grpc_req_failed: ["rate==0"]
  "grpc_reqs{{name:dictate}}": ["count>0"]
  "grpc_stream_msgs_sent{{name:chat}}": ["count>0"]
"#,
            speech = speech.display(),
            llm = llm.display()
        ),
    );
    let (o, out) = run_demo(dir.path(), &plan);
    // The `$.seq: 2` check fails on purpose (the third reply is seq 3): checks do not fail
    // calls, so the run passes its threshold.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert_eq!(metric(&r, "grpc_reqs", "count"), 12.0);
    assert_eq!(metric(&r, "grpc_reqs{name:dictate}", "count"), 6.0);
    // 6 × 4 chunks + 6 × 3 chat messages out; 6 transcripts + 6 × 3 replies back.
    assert_eq!(metric(&r, "grpc_stream_msgs_sent", "count"), 42.0);
    assert_eq!(metric(&r, "grpc_stream_msgs_received", "count"), 24.0);
    assert_eq!(metric(&r, "grpc_stream_msgs_sent{name:chat}", "count"), 18.0);
    let checks = r["checks"].as_array().unwrap();
    let by_name = |needle: &str| {
        checks
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.contains(needle)))
            .unwrap_or_else(|| panic!("no check {needle} in {checks:?}"))
    };
    assert_eq!(by_name("$.audioBytes")["passes"], 6, "{checks:?}");
    assert_eq!(by_name("$.text == \"you said: three\"")["passes"], 6, "{checks:?}");
    assert_eq!(by_name("$.seq")["fails"], 6, "{checks:?}");
    assert_eq!(by_name("$.seq")["passes"], 0, "{checks:?}");
}

#[test]
fn grpc_thresholds_on_status_sub_metrics_gate_the_run_and_failed_calls_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "status.yaml",
        r#"
vars:
  demo_grpc: "127.0.0.1:9"
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: 4
    max_duration: 30s
    flow:
      - grpc: { name: healthy, target: "{{ demo_grpc }}", reflection: true, method: grpc.health.v1.Health/Check }
      - grpc: { name: unknown, target: "{{ demo_grpc }}", reflection: true, method: grpc.health.v1.Health/Check, message: { service: no.such.Service } }
thresholds:
  "grpc_req_duration{status:OK}": ["p(95)<2000"]
  "grpc_reqs{status:NOT_FOUND}": ["count==4"]
  grpc_req_failed: ["rate<0.25"]
"#,
    );
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(
        o.status.code(),
        Some(99),
        "half the calls fail: the rate threshold does not hold\n{}",
        text(&o)
    );
    let r = results(&out);
    let m = &r["metrics"];
    assert_eq!(m["grpc_req_duration{status:OK}"]["thresholds"]["p(95)<2000"]["ok"], true, "{m}");
    assert_eq!(metric(&r, "grpc_req_duration{status:OK}", "count"), 4.0);
    assert_eq!(m["grpc_reqs{status:NOT_FOUND}"]["thresholds"]["count==4"]["ok"], true, "{m}");
    assert_eq!(m["grpc_req_failed"]["thresholds"]["rate<0.25"]["ok"], false, "{m}");
    let errors = r["errors"].as_array().unwrap();
    let unknown = errors.iter().find(|e| e["name"] == "unknown").unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!(unknown["kind"], "grpc_5", "NOT_FOUND is code 5: {errors:?}");
    assert_eq!(unknown["count"], 4, "{errors:?}");
    assert!(errors.iter().all(|e| e["name"] != "healthy"), "{errors:?}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("ERRORS") && stdout.contains("grpc_5"), "{stdout}");
}

#[test]
fn grpc_messages_and_metadata_take_run_time_values() {
    let dir = tempfile::tempdir().unwrap();
    let llm = repo("crates/demo/proto/llm.proto");
    let plan = write_plan(
        dir.path(),
        "templated.yaml",
        &format!(
            r#"
vars:
  demo_grpc: "127.0.0.1:9"
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: 2
    max_duration: 30s
    flow:
      - grpc:
          name: chat
          target: "{{{{ demo_grpc }}}}"
          proto: {llm}
          method: llm.v1.Generate/Chat
          metadata: {{ x-trace: "{{{{ uuid }}}}" }}
          messages:
            - {{ id: "vu{{{{ vu_id }}}}", text: "it {{{{ iteration }}}}", delay_ms: "{{{{ random_int(1, 1) }}}}" }}
          check: {{ json: {{ "$.id": vu1, "$.text": "you said: it 1" }} }}
      - grpc:
          name: later
          target: "{{{{ demo_grpc }}}}"
          proto: {llm}
          method: llm.v1.Generate/Chat
          messages: [{{ id: "{{{{ status }}}}", text: x }}]
      - http:
          name: health
          url: /health
          extract: {{ status: {{ json: "$.status" }} }}
thresholds:
  "grpc_reqs{{name:chat}}": ["count==2"]
  "grpc_req_failed{{name:chat}}": ["rate==0"]
  "grpc_req_failed{{name:later}}": ["rate==0.5"]
"#,
            llm = llm.display()
        ),
    );
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    // Both chats went out rendered; `later` had no `status` in the first iteration only.
    assert_eq!(metric(&r, "grpc_reqs{name:chat}", "count"), 2.0);
    assert_eq!(metric(&r, "grpc_req_failed{name:chat}", "rate"), 0.0);
    assert_eq!(metric(&r, "grpc_req_failed{name:later}", "passes"), 1.0, "{}", r["metrics"]);
    let checks = r["checks"].as_array().unwrap();
    let id = checks.iter().find(|c| c["name"].as_str().is_some_and(|n| n.contains("$.id"))).unwrap();
    assert_eq!(id["passes"], 2, "{checks:?}");
    let it = checks.iter().find(|c| c["name"].as_str().is_some_and(|n| n.contains("it 1"))).unwrap();
    assert_eq!((it["passes"].as_u64(), it["fails"].as_u64()), (Some(1), Some(1)), "{checks:?}");
}
