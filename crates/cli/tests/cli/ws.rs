//! WebSocket plans through the real binary: `examples/websocket.yaml` against the embedded
//! demo target, a threshold on `ws_msg_rtt` that fails, and interoperability with a server
//! not written in Rust (an echo server on the Python `websockets` package, from PyPI).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::support::{metric, results, run_demo, run_no_history as run, text, write_plan};

fn example() -> PathBuf {
    super::support::example("websocket.yaml")
}

#[test]
fn the_websocket_example_passes_against_the_demo_and_reports_ws_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let plan = example();
    let o =
        run(&["run", plan.to_str().unwrap(), "--demo", "--duration", "3s", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "PASSED",
        "ws_msg_rtt",
        "ws_connecting",
        "ws_ping",
        "ws_session_duration",
        "ws_msgs_sent",
        "ws_msgs_received",
        "ws_sessions",
        "$.id == \"greeting\"",
    ] {
        assert!(stdout.contains(needle), "summary lacks {needle:?}:\n{stdout}");
    }
    // A WebSocket-only run is graded on its messages (round trip, ws_failed), not as a run
    // without requests.
    assert!(stdout.contains("grade A"), "{stdout}");
    let r = results(&out);
    assert_eq!(r["run"]["verdict"], "passed");
    // The chat replies wait `?delay=20ms`, and the round trip is measured from the send.
    let chat_rtt = metric(&r, "ws_msg_rtt{name:chat}", "p(95)");
    assert!((20.0..500.0).contains(&chat_rtt), "chat rtt p95 {chat_rtt}");
    assert_eq!(r["metrics"]["ws_msg_rtt"]["thresholds"]["p(95)<500"]["ok"], true);
    let sent = metric(&r, "ws_msgs_sent", "count");
    assert!(sent >= 40.0, "messages sent {sent}");
    // Every echo iteration receives two messages (the binary one skipped, the text matched).
    assert!(metric(&r, "ws_msgs_received", "count") >= sent, "every message is answered");
    assert!(metric(&r, "ws_ping", "count") >= 10.0);
    // Ten chat sockets (closed in on_stop) and one per echo iteration.
    let sessions = metric(&r, "ws_sessions", "count");
    assert!(sessions >= 20.0, "sessions {sessions}");
    assert_eq!(metric(&r, "ws_session_duration", "count"), sessions, "every session was closed and timed");
    assert_eq!(metric(&r, "ws_failed", "rate"), 0.0);
    let checks = r["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert!(checks.iter().all(|c| c["fails"] == 0 && c["passes"].as_u64().unwrap() > 0), "{checks:?}");
}

#[test]
fn a_slow_reply_crosses_a_ws_msg_rtt_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "slow.yaml",
        r#"
target: http://127.0.0.1:9
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    max_duration: 30s
    flow:
      - ws: { connect: "/ws/chat?delay=40ms", keep_open: true }
      - ws: { send: { json: { type: q, id: 1 } } }
      - ws: { receive: { correlate: "$.id", timeout: 2s } }
thresholds:
  ws_msg_rtt: ["p(95)<5"]
  ws_failed: ["rate<0.01"]
"#,
    );
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let r = results(&out);
    assert_eq!(r["run"]["verdict"], "failed");
    assert_eq!(metric(&r, "ws_msg_rtt", "count"), 6.0);
    assert!(metric(&r, "ws_msg_rtt", "min") >= 40.0, "the delay is inside the round trip");
    assert_eq!(r["metrics"]["ws_failed"]["thresholds"]["rate<0.01"]["ok"], true);
}

#[test]
fn websocket_failures_are_in_the_errors_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "timeouts.yaml",
        r#"
target: http://127.0.0.1:9
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: 2
    flow:
      - ws: { name: echo, connect: /ws/echo, keep_open: true }
      - ws: { name: echo, send: "ping" }
      - ws: { name: echo, receive: { match: { contains: never }, timeout: 200ms } }
"#,
    );
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    let errors = r["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["kind"] == "timeout" && e["name"] == "echo" && e["count"] == 2),
        "{errors:?}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("ERRORS"));
}

/// An echo server on the Python `websockets` package: prints its port, then one line per
/// connection opened (with what the handshake carried) and closed (with the close code and
/// reason it received). It exits by itself after a minute.
const PY_ECHO: &str = r#"
import asyncio
from websockets.asyncio.server import serve

async def handler(ws):
    print(f"open x-client={ws.request.headers.get('x-client')} subprotocol={ws.subprotocol}", flush=True)
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass
    print(f"closed {ws.close_code} {ws.close_reason}", flush=True)

async def main():
    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat.v1"]) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"#;

/// The Python server, killed when dropped.
struct PyServer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl PyServer {
    /// Starts it, or `None` (after saying why) when python3 or its `websockets` is missing and
    /// the environment does not require them.
    fn start() -> Option<(PyServer, u16)> {
        let probe = Command::new("python3").args(["-c", "import websockets.asyncio.server"]).output();
        if !probe.as_ref().is_ok_and(|o| o.status.success()) {
            let msg =
                "python3 with websockets (PyPI, 13 or later) is needed: python3 -m pip install websockets";
            assert!(std::env::var_os("STAMPEDE_REQUIRE_PY").is_none(), "{msg}");
            eprintln!("skipped: {msg}");
            return None;
        }
        let mut child = Command::new("python3")
            .args(["-c", PY_ECHO])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = PyServer { child, lines };
        let first =
            server.lines.recv_timeout(Duration::from_secs(20)).expect("the python server prints its port");
        let port = first.strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect("PORT <n>");
        Some((server, port))
    }

    /// Lines printed so far (waiting up to `wait` for `want` of them).
    fn lines(&self, want: usize, wait: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + wait;
        let mut out = Vec::new();
        while out.len() < want {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => out.push(line),
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn interop_with_a_python_websockets_echo_server() {
    let Some((server, port)) = PyServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "py.yaml",
        &format!(
            r#"
name: interop
scenarios:
  py:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    max_duration: 30s
    flow:
      - ws:
          name: py
          connect: "ws://127.0.0.1:{port}/"
          headers: {{ x-client: stampede }}
          subprotocols: [chat.v1]
          keep_open: true
      - ws: {{ name: py, send: {{ json: {{ op: sum, id: r-1 }} }} }}
      - ws: {{ name: py, receive: {{ correlate: "$.id", timeout: 2s, check: {{ json: {{ "$.op": sum }} }} }} }}
      - ws: {{ name: py, send: {{ binary: AAECAw== }} }}
      - ws: {{ name: py, receive: {{ match: {{ regex: "^\\x00\\x01\\x02\\x03$" }}, correlate: next, timeout: 2s }} }}
      - ws: {{ name: py, ping: {{}}, timeout: 2s }}
    on_stop:
      - ws: {{ name: py, close: {{ code: 4000, reason: done }}, timeout: 2s }}
thresholds:
  ws_failed: ["rate<0.01"]
  checks: ["rate>0.99"]
"#
        ),
    );
    let out = dir.path().join("r.json");
    let o = run(&["run", plan.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert_eq!(metric(&r, "ws_sessions", "count"), 2.0, "one kept socket per VU");
    assert_eq!(metric(&r, "ws_msgs_sent", "count"), 12.0);
    assert_eq!(metric(&r, "ws_msgs_received", "count"), 12.0);
    assert_eq!(metric(&r, "ws_msg_rtt", "count"), 12.0, "every echo paired with its send");
    assert_eq!(metric(&r, "ws_ping", "count"), 6.0);
    assert_eq!(metric(&r, "ws_session_duration", "count"), 2.0);
    assert_eq!(metric(&r, "ws_failed", "rate"), 0.0);
    assert_eq!(metric(&r, "checks", "rate"), 1.0);
    let mut seen = server.lines(4, Duration::from_secs(10));
    seen.sort();
    assert_eq!(
        seen,
        [
            "closed 4000 done",
            "closed 4000 done",
            "open x-client=stampede subprotocol=chat.v1",
            "open x-client=stampede subprotocol=chat.v1",
        ],
        "the server saw our headers, our subprotocol and our close frames"
    );
}
