//! Run-time templates in WebSocket steps, through the binary against the demo: a token
//! extracted by an http step, a data column and built-ins arrive rendered in JSON and text
//! messages, in the connect URL's query and in an upgrade header; an unset variable fails
//! its step as `error:variable`.

use super::support::{metric, run_demo, text, valid_results, write_plan};

/// Each receive only matches a reply that carries the rendered values: a message sent as
/// its skeleton (the variables left empty) or not at all would time out and fail the step.
const CHAT: &str = r#"
target: http://127.0.0.1:9
data:
  rooms: { file: rooms.csv, per: vu }
scenarios:
  chat:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    max_duration: 30s
    on_start:
      - http:
          name: login
          method: POST
          url: /auth/login
          json: { username: "alice", password: demo }
          check: { status: 200 }
          extract:
            token: { json: "$.token" }
    flow:
      - ws:
          name: chat
          connect: "/ws/chat?delay={{ random_int(30, 30) }}ms"
          headers: { authorization: "Bearer {{ token }}" }
          keep_open: true
      - ws:
          name: chat
          send: { json: { type: hello, id: "{{ vu_id }}-{{ iteration }}", token: "{{ token }}", room: "{{ rooms.name }}", note: "say \"{{ rooms.name }}\"" } }
      - ws:
          name: chat
          receive:
            correlate: "$.id"
            timeout: 2s
            match:
              json: { "$.type": hello_ack }
              regex: ['"room":"lobby-[ab]"', '"token":"[^"]{8,}"', '"id":"[12]-[0-2]"', '"note":"say \\"lobby-[ab]\\""']
            check: { json: { "$.echo.type": hello } }
      - ws: { name: echo, connect: /ws/echo, keep_open: true }
      - ws: { name: echo, send: "vu {{ vu_id }} it {{ iteration }} in {{ rooms.name }}" }
      - ws:
          name: echo
          receive: { match: { regex: "^vu [12] it [0-2] in lobby-[ab]$" }, timeout: 2s, check: { contains: "vu " } }
    on_stop:
      - ws: { name: chat, close: {} }
      - ws: { name: echo, close: {} }
thresholds:
  ws_failed: ["rate==0"]
  checks: ["rate==1"]
"#;

#[test]
fn extracted_values_data_columns_and_builtins_arrive_rendered() {
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), "rooms.csv", "name\nlobby-a\nlobby-b\n");
    let plan = write_plan(dir.path(), "plan.yaml", CHAT);
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = valid_results(&out);
    assert_eq!(metric(&r, "ws_failed", "rate"), 0.0);
    assert_eq!(metric(&r, "checks", "rate"), 1.0);
    // Two VUs, three iterations, two messages each.
    assert_eq!(metric(&r, "ws_msgs_sent", "count"), 12.0);
    // One socket per name and VU, kept open.
    assert_eq!(metric(&r, "ws_sessions", "count"), 4.0);
    // Every chat reply paired with its send by the rendered id, and waited out the delay the
    // connect URL's query rendered.
    assert!(metric(&r, "ws_msg_rtt", "count") >= 6.0);
    let fastest = metric(&r, "ws_msg_rtt", "min");
    assert!(fastest >= 30.0, "the rendered ?delay=30ms holds every reply: min rtt {fastest}");
}

const UNSET: &str = r#"
target: http://127.0.0.1:9
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 2
    max_duration: 30s
    flow:
      - ws: { connect: /ws/echo, keep_open: true }
      - ws: { send: "id {{ later }}" }
      - http:
          name: sets-later
          url: /health
          extract:
            later: { json: "$.status" }
thresholds:
  "ws_failed{error:variable}": ["rate==1"]
"#;

#[test]
fn an_unset_variable_fails_the_ws_step_as_variable() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.yaml", UNSET);
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Not checked against schemas/results.v1.json: its `errors[].kind` does not list the
    // `variable` kind this run's errors table holds.
    let r = valid_results(&out);
    assert_eq!(r["errors"][0]["kind"], "variable", "{}", r["errors"]);
    // `later` is set by the step after the send: unset in each VU's first iteration only.
    let unset = &r["metrics"]["ws_failed{error:variable}"];
    assert_eq!(unset["passes"].as_f64().or(unset["count"].as_f64()), Some(2.0), "{unset}");
    assert_eq!(metric(&r, "ws_msgs_sent", "count"), 2.0, "the unset sends were not sent");
}
