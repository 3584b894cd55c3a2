//! The `grpc` protocol against real tonic servers on 127.0.0.1: the standard health service
//! (`tonic-health`), called through a `.proto` file compiled at plan compile time, and the
//! demo target's services (unary, server-, client- and bidi-streaming), in plaintext and
//! behind a TLS terminator with a self-signed certificate.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stampede_grpc::GrpcProtocol;
use stampede_metrics::{MetricId, Registry, Sample, builtin};
use stampede_plan::LoadOptions;
use stampede_proto::{
    Action, CompileContext, CompileError, FailureKind, Protocol, Recorder, RecorderStats, SessionSlot,
    StepOutcome, Vu, VuIdentity,
};
use tokio::sync::mpsc;

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test).await.expect("test finished within 30 s")
}

/// A tonic server with the health service on 127.0.0.1:0: "" is SERVING, "down" NOT_SERVING.
async fn health_server() -> SocketAddr {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    reporter.set_service_status("down", tonic_health::ServingStatus::NotServing).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Keeps the reporter alive as long as the server.
        let _reporter = reporter;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            )
            .await
            .unwrap();
    });
    addr
}

struct Harness {
    registry: Arc<Registry>,
    vu: Vu,
    rx: mpsc::Receiver<Vec<Sample>>,
    actions: Vec<Arc<dyn Action>>,
}

impl Harness {
    fn new(flow: &str) -> Self {
        Self::try_new(flow).unwrap_or_else(|e| panic!("plan compiles: {e}"))
    }

    fn try_new(flow: &str) -> Result<Self, CompileError> {
        Self::with_header("", flow)
    }

    /// A plan of `header` (top-level keys such as `defaults:`, each line ending in `\n`) and
    /// `flow`.
    fn with_header(header: &str, flow: &str) -> Result<Self, CompileError> {
        let src = format!("{header}vus: 1\nduration: 1s\nflow:\n{flow}");
        let plan = stampede_plan::parse(&src, "test.yaml", &LoadOptions::default())
            .unwrap_or_else(|e| panic!("plan loads: {e}"));
        let registry = Arc::new(Registry::new());
        let (tx, rx) = mpsc::channel(4096);
        let recorder = Recorder::new(
            tokio::time::Instant::now(),
            tx,
            registry.clone(),
            Arc::new(RecorderStats::default()),
        );
        let tags: Vec<(Arc<str>, Arc<str>)> = vec![(Arc::from("scenario"), Arc::from("default"))];
        let identity = VuIdentity { id: 1, scenario: Arc::from("default"), tags: tags.into() };
        let protocol = GrpcProtocol::new();
        let scenario = &plan.scenarios[0];
        let cx = CompileContext { plan: &plan, scenario, registry: &registry, slot: SessionSlot(0) };
        let actions = scenario.steps().map(|step| protocol.compile(step, &cx)).collect::<Result<_, _>>()?;
        Ok(Harness { registry, vu: Vu::new(identity, recorder, 1), rx, actions })
    }

    async fn iteration(&mut self) -> Vec<StepOutcome> {
        let mut out = Vec::new();
        for action in self.actions.clone() {
            out.push(action.run(&mut self.vu).await);
        }
        out
    }

    fn samples(&mut self) -> Vec<Sample> {
        self.vu.recorder().flush();
        let mut all = Vec::new();
        while let Ok(batch) = self.rx.try_recv() {
            all.extend(batch);
        }
        all
    }

    fn values(samples: &[Sample], metric: MetricId) -> Vec<f64> {
        samples.iter().filter(|s| s.metric == metric).map(|s| s.value).collect()
    }

    fn tags(&self, samples: &[Sample], metric: MetricId, key: &str) -> Vec<Option<String>> {
        samples
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| self.registry.tagset(s.tags).get(key).map(str::to_string))
            .collect()
    }
}

const PROTO: &str = "tests/fixtures/health.proto";

#[tokio::test]
async fn unary_calls_record_status_checks_and_reuse_the_channel() {
    bounded(async {
        let addr = health_server().await;
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: ok, target: "{addr}", proto: {PROTO}, method: grpc.health.v1.Health/Check, message: {{ service: "" }}, metadata: {{ authorization: "Bearer x" }}, deadline: 2s, check: {{ status: OK, json: {{ "$.status": SERVING }} }} }}
  - grpc: {{ name: missing, target: "{addr}", proto: {PROTO}, method: grpc.health.v1.Health/Check, message: {{ service: nope }} }}
  - grpc: {{ name: expected, target: "{addr}", proto: {PROTO}, method: grpc.health.v1.Health/Check, message: {{ service: nope }}, check: {{ status: NOT_FOUND }} }}
  - grpc: {{ name: wrong, target: "{addr}", proto: {PROTO}, method: grpc.health.v1.Health/Check, message: {{ service: down }}, check: {{ json: {{ "$.status": SERVING }} }} }}
"#
        ));
        let outcomes = h.iteration().await;
        let failed: Vec<bool> = outcomes.iter().map(|o| o.failed).collect();
        assert_eq!(failed, [false, true, false, false], "{outcomes:?}");
        assert_eq!(outcomes[0].status, Some(0));
        assert_eq!(outcomes[1].status, Some(5));
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::GRPC_REQS), [1.0; 4]);
        assert_eq!(Harness::values(&s, builtin::GRPC_REQ_FAILED), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED), [1.0, 0.0, 0.0, 1.0]);
        // The first call's status and json checks pass, and so does the expected NOT_FOUND;
        // the json check of the last one fails. A status check is a check, as on http steps.
        assert_eq!(Harness::values(&s, builtin::CHECKS), [1.0, 1.0, 1.0, 0.0]);
        let names = h.tags(&s, builtin::CHECKS, "check");
        let names: Vec<&str> = names.iter().map(|n| n.as_deref().unwrap_or("")).collect();
        assert_eq!(names, ["status is OK", "$.status == \"SERVING\"", "status is NOT_FOUND", "$.status == \"SERVING\""]);
        let status = h.tags(&s, builtin::GRPC_REQ_DURATION, "status");
        let expected: Vec<Option<String>> =
            ["OK", "NOT_FOUND", "NOT_FOUND", "OK"].iter().map(|c| Some(c.to_string())).collect();
        assert_eq!(status, expected);
        let errors = h.tags(&s, builtin::GRPC_REQ_DURATION, "error");
        assert_eq!(errors, [None, Some("grpc_5".to_string()), None, None]);
        assert_eq!(h.tags(&s, builtin::GRPC_REQS, "method")[0].as_deref(), Some("grpc.health.v1.Health/Check"));
        assert_eq!(h.tags(&s, builtin::GRPC_REQS, "name")[1].as_deref(), Some("missing"));
        let first = Harness::values(&s, builtin::GRPC_TIME_TO_FIRST_MESSAGE);
        let durations = Harness::values(&s, builtin::GRPC_REQ_DURATION);
        assert_eq!(first.len(), 2, "only calls that got a message: {first:?}");
        assert!(durations.iter().all(|d| (0.0..2000.0).contains(d)), "{durations:?}");
        assert!(first[0] <= durations[0]);
        // A second iteration reuses the VU's channel and behaves the same.
        let again: Vec<bool> = h.iteration().await.iter().map(|o| o.failed).collect();
        assert_eq!(again, failed);
    })
    .await;
}

#[tokio::test]
async fn server_streaming_counts_messages_until_the_deadline() {
    bounded(async {
        let addr = health_server().await;
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: watch, target: "{addr}", proto: {PROTO}, method: grpc.health.v1.Health/Watch, message: {{ service: "" }}, deadline: 300ms }}
"#
        ));
        let started = std::time::Instant::now();
        let outcomes = h.iteration().await;
        let took = started.elapsed();
        // Watch never ends by itself: the deadline ends it, after the first status message.
        assert!(outcomes[0].failed);
        assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(5), "{took:?}");
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED), [1.0]);
        assert_eq!(Harness::values(&s, builtin::GRPC_TIME_TO_FIRST_MESSAGE).len(), 1);
        // The client's deadline and the server's (from `grpc-timeout`) pass together; either
        // way the call is DEADLINE_EXCEEDED and a timeout.
        assert_eq!(h.tags(&s, builtin::GRPC_REQ_FAILED, "error"), [Some("timeout".to_string())]);
        assert_eq!(h.tags(&s, builtin::GRPC_REQ_DURATION, "status"), [Some("DEADLINE_EXCEEDED".to_string())]);
    })
    .await;
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut h = Harness::new(&format!(
            "  - grpc: {{ target: \"{addr}\", proto: {PROTO}, method: grpc.health.v1.Health/Check, deadline: 2s }}\n"
        ));
        let outcomes = h.iteration().await;
        assert!(outcomes[0].failed);
        assert_eq!(outcomes[0].status, None);
        let s = h.samples();
        let error = h.tags(&s, builtin::GRPC_REQ_FAILED, "error");
        assert_eq!(error, [Some(FailureKind::Connect.tag().into_owned())]);
        assert_eq!(h.tags(&s, builtin::GRPC_REQS, "status"), [None]);
        // Nothing reached the wire.
        assert!(Harness::values(&s, builtin::DATA_SENT).is_empty());
        assert!(Harness::values(&s, builtin::DATA_RECEIVED).is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_deadline_too_large_to_add_is_no_deadline_not_a_panic() {
    bounded(async {
        let addr = health_server().await;
        let mut h = Harness::new(&format!(
            "  - grpc: {{ target: \"{addr}\", proto: {PROTO}, method: grpc.health.v1.Health/Check, deadline: 200000000000000d }}\n"
        ));
        let outcomes = h.iteration().await;
        assert_eq!((outcomes[0].failed, outcomes[0].status), (false, Some(0)), "{outcomes:?}");
    })
    .await;
}

#[test]
fn compile_errors_name_the_problem() {
    let err = |flow: &str| match Harness::try_new(flow) {
        Ok(_) => panic!("expected a compile error for {flow}"),
        Err(e) => e.to_string(),
    };
    let e = err(&format!(
        "  - grpc: {{ target: \"127.0.0.1:1\", proto: {PROTO}, method: grpc.health.v1.Health/Nope }}\n"
    ));
    assert!(e.contains("no method") && e.contains("Health/Nope"), "{e}");
    let e = err(&format!(
        "  - grpc: {{ target: \"127.0.0.1:1\", proto: {PROTO}, method: grpc.health.v1.Health/Check, message: {{ servic: x }} }}\n"
    ));
    assert!(e.contains("grpc.health.v1.HealthCheckRequest") && e.contains("servic"), "{e}");
    let e = err(
        "  - grpc: { target: \"127.0.0.1:1\", proto: tests/fixtures/broken.proto, method: broken.S/M }\n",
    );
    assert!(e.contains("broken.proto:5:1") && e.contains("expected ';'"), "{e}");
    let e =
        err("  - grpc: { target: \"127.0.0.1:1\", proto: tests/fixtures/missing.proto, method: a.S/M }\n");
    assert!(e.contains("missing.proto"), "{e}");
    let e = err(&format!(
        "  - grpc: {{ target: \"ftp://127.0.0.1:1\", proto: {PROTO}, method: grpc.health.v1.Health/Check }}\n"
    ));
    assert!(e.contains("https://host:port"), "{e}");
    // Several messages for a method that takes one request.
    let e = err(&format!(
        "  - grpc: {{ target: \"127.0.0.1:1\", proto: {PROTO}, method: grpc.health.v1.Health/Check, messages: [{{}}, {{}}] }}\n"
    ));
    assert!(e.contains("takes one request message") && e.contains("Health/Check"), "{e}");
    // Every message of a stream must fit the input type.
    let e = err(
        "  - grpc: { target: \"127.0.0.1:1\", proto: ../demo/proto/llm.proto, method: llm.v1.Generate/Chat, messages: [{ text: a }, { txt: b }] }\n",
    );
    assert!(e.contains("llm.v1.ChatMessage") && e.contains("txt"), "{e}");
}

#[test]
fn the_plan_rejects_malformed_grpc_steps_with_positions() {
    let load = |flow: &str| {
        let src = format!("vus: 1\nduration: 1s\nflow:\n{flow}");
        stampede_plan::parse(&src, "test.yaml", &LoadOptions::default()).map(|_| ()).unwrap_err().to_string()
    };
    let e = load("  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: NoSlash }\n");
    assert!(e.contains("package.Service/Method") && e.contains("4:"), "{e}");
    let e = load("  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, reflection: true, method: a.S/M }\n");
    assert!(e.contains("mutually exclusive"), "{e}");
    let e = load(
        "  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, check: { status: FINE } }\n",
    );
    assert!(e.contains("FINE"), "{e}");
    let e = load("  - grpc: { proto: a.proto, method: a.S/M }\n");
    assert!(e.contains("target"), "{e}");
    let e = load(
        "  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, message: {}, messages: [{}] }\n",
    );
    assert!(e.contains("mutually exclusive") && e.contains("4:"), "{e}");
    let e = load("  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, messages: [] }\n");
    assert!(e.contains("at least one"), "{e}");
    let e =
        load("  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, messages: { a: 1 } }\n");
    assert!(e.contains("list of request messages"), "{e}");
    let e = load("  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, interval: 10ms }\n");
    assert!(e.contains("interval") && e.contains("messages"), "{e}");
    let e = load(
        "  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, messages: [{}], interval: 10 }\n",
    );
    assert!(e.contains("duration"), "{e}");
}

async fn demo() -> stampede_demo::DemoServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    stampede_demo::DemoServer::start(addr, stampede_demo::DemoConfig::default()).await.expect("demo starts")
}

#[tokio::test]
async fn the_demo_speech_service_answers_unary_calls() {
    bounded(async {
        let server = demo().await;
        let addr = server.grpc_addr();
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: transcribe, target: "{addr}", proto: ../demo/proto/speech.proto, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "demo://2", language: en, delay_ms: 30 }}, deadline: 2s, check: {{ status: OK, json: {{ "$.text": hello from, "$.words": 2 }} }} }}
  - grpc: {{ name: unknown, target: "{addr}", proto: ../demo/proto/speech.proto, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "s3://x" }} }}
  - grpc: {{ name: health, target: "{addr}", proto: {PROTO}, method: grpc.health.v1.Health/Check, message: {{ service: speech.v1.Speech }}, check: {{ json: {{ "$.status": SERVING }} }} }}
"#
        ));
        let outcomes = h.iteration().await;
        let failed: Vec<bool> = outcomes.iter().map(|o| o.failed).collect();
        assert_eq!(failed, [false, true, false], "{outcomes:?}");
        let s = h.samples();
        // `status:` decides failure and is a check of its own (first), then the json checks.
        assert_eq!(Harness::values(&s, builtin::CHECKS), [1.0, 1.0, 1.0, 1.0]);
        let durations = Harness::values(&s, builtin::GRPC_REQ_DURATION);
        assert!(durations[0] >= 30.0, "the 30 ms processing delay shows: {durations:?}");
        assert_eq!(h.tags(&s, builtin::GRPC_REQS, "status")[1].as_deref(), Some("NOT_FOUND"));
        server.shutdown().await;
    })
    .await;
}

/// Every JSON check kind of http, and `duration`, on a grpc response: each passes once (the
/// first call) and fails once (the second, the same call with unmet expectations).
#[tokio::test]
async fn json_and_duration_checks_pass_and_fail_on_the_response_message() {
    bounded(async {
        let server = demo().await;
        let addr = server.grpc_addr();
        // `demo://3` answers `{ text: "hello from the", language: en, words: 3, ... }` after
        // the 40 ms delay, so `> 30ms` holds and `< 30ms` cannot.
        let call = format!(
            r#"target: "{addr}", proto: ../demo/proto/speech.proto, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "demo://3", delay_ms: 40 }}, deadline: 5s"#
        );
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: pass, {call}, check: {{ json: {{ "$.words": 3.0 }}, json_exists: "$.confidence", json_compare: {{ "$.words": ">= 3", "$.language": "== en" }}, json_length: {{ "$.text": 14 }}, duration: "> 30ms" }} }}
  - grpc: {{ name: fail, {call}, check: {{ json: {{ "$.words": 4 }}, json_exists: "$.missing", json_compare: {{ "$.words": "< 3", "$.language": "== fr" }}, json_length: {{ "$.text": "> 14" }}, duration: "< 30ms" }} }}
"#
        ));
        let outcomes = h.iteration().await;
        assert!(outcomes.iter().all(|o| !o.failed && o.status == Some(0)), "{outcomes:?}");
        let s = h.samples();
        let checks = Harness::values(&s, builtin::CHECKS);
        let names = h.tags(&s, builtin::CHECKS, "check");
        let names: Vec<&str> = names.iter().map(|n| n.as_deref().unwrap_or("?")).collect();
        assert_eq!(
            names[..6],
            [
                "$.words == 3.0",
                "$.confidence exists",
                "$.words >= 3",
                r#"$.language == "en""#,
                "length of $.text == 14",
                "duration > 30ms"
            ],
        );
        let passed: Vec<(&str, f64)> = names.iter().copied().zip(checks.iter().copied()).collect();
        let expected: Vec<f64> = [[1.0; 6], [0.0; 6]].concat();
        assert_eq!(checks, expected, "{passed:?}");
        server.shutdown().await;
    })
    .await;
}

/// A call that gets no status (here: the connection is refused) passes no check, not even
/// a generous duration bound: there is no response to have been fast.
#[tokio::test]
async fn a_call_without_a_response_fails_its_duration_check() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut h = Harness::new(&format!(
            "  - grpc: {{ target: \"{addr}\", proto: {PROTO}, method: grpc.health.v1.Health/Check, deadline: 2s, check: {{ duration: \"< 10s\", json_exists: \"$\" }} }}\n"
        ));
        let outcomes = h.iteration().await;
        assert_eq!(outcomes[0].status, None);
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::CHECKS), [0.0, 0.0]);
    })
    .await;
}

#[tokio::test]
async fn the_demo_llm_stream_counts_every_token() {
    bounded(async {
        let server = demo().await;
        let addr = server.grpc_addr();
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: generate, target: "{addr}", proto: ../demo/proto/llm.proto, method: llm.v1.Generate/Stream, message: {{ prompt: hi, max_tokens: 6, tokens_per_second: 100 }}, deadline: 5s, check: {{ json: {{ "$.last": true, "$.index": 5 }} }} }}
"#
        ));
        let outcomes = h.iteration().await;
        assert!(!outcomes[0].failed, "{outcomes:?}");
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED), [6.0]);
        let first = Harness::values(&s, builtin::GRPC_TIME_TO_FIRST_MESSAGE)[0];
        let total = Harness::values(&s, builtin::GRPC_REQ_DURATION)[0];
        // Five gaps of 10 ms after the first token.
        assert!(total - first >= 45.0, "first {first} ms, total {total} ms");
        assert_eq!(Harness::values(&s, builtin::CHECKS), [1.0, 1.0], "the checks see the last message");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reflection_resolves_the_method_from_the_server_once() {
    bounded(async {
        let server = demo().await;
        let addr = server.grpc_addr();
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: transcribe, target: "{addr}", reflection: true, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "demo://1" }}, check: {{ json: {{ "$.text": hello }} }} }}
  - grpc: {{ name: generate, target: "{addr}", reflection: true, method: llm.v1.Generate/Stream, message: {{ max_tokens: 3, tokens_per_second: 1000 }} }}
  - grpc: {{ name: health, target: "{addr}", reflection: true, method: grpc.health.v1.Health/Check }}
  - grpc: {{ name: missing, target: "{addr}", reflection: true, method: nope.v1.Nope/Call }}
"#
        ));
        for _ in 0..2 {
            let failed: Vec<bool> = h.iteration().await.iter().map(|o| o.failed).collect();
            assert_eq!(failed, [false, false, false, true]);
        }
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::CHECKS), [1.0, 1.0]);
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED), [1.0, 3.0, 1.0, 0.0, 1.0, 3.0, 1.0, 0.0]);
        let errors = h.tags(&s, builtin::GRPC_REQ_FAILED, "error");
        assert_eq!(errors[3].as_deref(), Some("protocol"), "an unknown service is a protocol failure");
        // The server said it has no such service: the second call does not ask again, so
        // it puts no byte on the wire.
        let names = h.tags(&s, builtin::DATA_SENT, "name");
        let missing = names.iter().filter(|n| n.as_deref() == Some("missing")).count();
        assert_eq!(missing, 1, "one reflection exchange for two calls: {names:?}");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reflection_against_a_server_without_it_fails_the_step() {
    bounded(async {
        let addr = health_server().await;
        let mut h = Harness::new(&format!(
            "  - grpc: {{ target: \"{addr}\", reflection: true, method: grpc.health.v1.Health/Check }}\n"
        ));
        let outcomes = h.iteration().await;
        assert!(outcomes[0].failed);
        let s = h.samples();
        assert_eq!(h.tags(&s, builtin::GRPC_REQ_FAILED, "error"), [Some("protocol".to_string())]);
    })
    .await;
}

const SPEECH: &str = "../demo/proto/speech.proto";
const LLM: &str = "../demo/proto/llm.proto";

#[tokio::test]
async fn a_client_stream_sends_every_chunk_with_its_interval_and_gets_one_transcript() {
    bounded(async {
        let server = demo().await;
        let addr = server.grpc_addr();
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: transcribe, target: "{addr}", proto: {SPEECH}, method: speech.v1.Speech/Transcribe, messages: [{{ audio: AAEC, language: fr }}, {{ audio: AwQF }}, {{ audio: Bgc= }}], interval: 25ms, deadline: 5s, check: {{ status: OK, json: {{ "$.text": hello from the, "$.chunks": 3, "$.audioBytes": 8, "$.language": fr }} }} }}
  - grpc: {{ name: one, target: "{addr}", proto: {SPEECH}, method: speech.v1.Speech/Transcribe, message: {{ audio: AAEC }}, check: {{ json: {{ "$.text": hello }} }} }}
  - grpc: {{ name: unary, target: "{addr}", proto: {SPEECH}, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "demo://1" }} }}
"#
        ));
        let outcomes = h.iteration().await;
        assert!(outcomes.iter().all(|o| !o.failed), "{outcomes:?}");
        let s = h.samples();
        // Only the streaming calls record messages sent; a `message:` is a stream of one.
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_SENT), [3.0, 1.0]);
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED), [1.0, 1.0, 1.0]);
        assert_eq!(Harness::values(&s, builtin::CHECKS), [1.0; 6], "a status check and four json checks, then one");
        // Two 25 ms pauses before the transcript can come back.
        let duration = Harness::values(&s, builtin::GRPC_REQ_DURATION)[0];
        let first = Harness::values(&s, builtin::GRPC_TIME_TO_FIRST_MESSAGE)[0];
        assert!(first >= 45.0 && duration >= first, "first {first} ms, duration {duration} ms");
        assert_eq!(h.tags(&s, builtin::GRPC_STREAM_MSGS_SENT, "method")[0].as_deref(), Some("speech.v1.Speech/Transcribe"));
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_bidi_stream_gets_one_reply_per_message_as_each_arrives() {
    bounded(async {
        let server = demo().await;
        let addr = server.grpc_addr();
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: chat, target: "{addr}", proto: {LLM}, method: llm.v1.Generate/Chat, messages: [{{ id: a, text: hi }}, {{ id: b, text: how are you }}, {{ id: c, text: bye, delay_ms: 30 }}], interval: 10ms, deadline: 5s, check: {{ json: {{ "$.id": c, "$.seq": 3, "$.text": "you said: bye" }} }} }}
  - grpc: {{ name: reflected, target: "{addr}", reflection: true, method: llm.v1.Generate/Chat, messages: [{{ id: x }}, {{ id: y }}], check: {{ json: {{ "$.seq": 2 }} }} }}
  - grpc: {{ name: slow, target: "{addr}", proto: {LLM}, method: llm.v1.Generate/Chat, messages: [{{ id: a }}, {{ id: b }}, {{ id: c }}, {{ id: d }}], interval: 150ms, deadline: 250ms }}
"#
        ));
        let outcomes = h.iteration().await;
        let failed: Vec<bool> = outcomes.iter().map(|o| o.failed).collect();
        assert_eq!(failed, [false, false, true], "{outcomes:?}");
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::CHECKS), [1.0; 4]);
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED)[..2], [3.0, 2.0]);
        // The deadline cuts the slow stream after its second message (0 ms, 150 ms; the third
        // was due at 300 ms): what was sent and answered by then still counts.
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_SENT), [3.0, 2.0, 2.0]);
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED)[2], 2.0);
        // The first reply comes before the stream is over: 10 + 30 ms of it are still ahead.
        let first = Harness::values(&s, builtin::GRPC_TIME_TO_FIRST_MESSAGE)[0];
        let duration = Harness::values(&s, builtin::GRPC_REQ_DURATION)[0];
        assert!(duration - first >= 35.0, "first {first} ms, duration {duration} ms");
        assert_eq!(h.tags(&s, builtin::GRPC_REQ_FAILED, "error")[2].as_deref(), Some("timeout"));
        assert_eq!(h.tags(&s, builtin::GRPC_REQ_DURATION, "status")[2].as_deref(), Some("DEADLINE_EXCEEDED"));
        server.shutdown().await;
    })
    .await;
}

/// A TLS terminator on 127.0.0.1:0 in front of `backend` (plaintext gRPC), with a fresh
/// self-signed certificate for `localhost` and `127.0.0.1` and ALPN `h2`.
async fn tls_front(backend: SocketAddr) -> SocketAddr {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate aborts the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the client offers h2");
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn tls_calls_succeed_when_verification_is_skipped() {
    bounded(async {
        let server = demo().await;
        let front = tls_front(server.grpc_addr()).await;
        let mut h = Harness::with_header(
            &format!("target: https://localhost:{}\ndefaults: {{ insecure_skip_tls_verify: true }}\n", front.port()),
            &format!(
                r#"  - grpc: {{ name: unary, proto: {SPEECH}, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "demo://2" }}, check: {{ json: {{ "$.text": hello from }} }} }}
  - grpc: {{ name: reflected, target: "https://127.0.0.1:{port}", reflection: true, method: llm.v1.Generate/Stream, message: {{ max_tokens: 4, tokens_per_second: 1000 }}, check: {{ json: {{ "$.index": 3 }} }} }}
  - grpc: {{ name: chat, reflection: true, method: llm.v1.Generate/Chat, messages: [{{ id: a }}, {{ id: b }}], check: {{ json: {{ "$.id": b }} }} }}
"#,
                port = front.port()
            ),
        )
        .unwrap_or_else(|e| panic!("plan compiles: {e}"));
        for _ in 0..2 {
            let outcomes = h.iteration().await;
            assert!(outcomes.iter().all(|o| !o.failed && o.status == Some(0)), "{outcomes:?}");
        }
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::CHECKS), [1.0; 6]);
        assert_eq!(Harness::values(&s, builtin::GRPC_STREAM_MSGS_RECEIVED), [1.0, 4.0, 2.0, 1.0, 4.0, 2.0]);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_failure_when_verifying() {
    bounded(async {
        let server = demo().await;
        let front = tls_front(server.grpc_addr()).await;
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: verified, target: "https://localhost:{port}", proto: {SPEECH}, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "demo://1" }}, deadline: 2s }}
  - grpc: {{ name: reflected, target: "https://127.0.0.1:{port}", reflection: true, method: speech.v1.Speech/Recognize, deadline: 2s }}
"#,
            port = front.port()
        ));
        for _ in 0..2 {
            let outcomes = h.iteration().await;
            assert!(outcomes.iter().all(|o| o.failed && o.status.is_none()), "{outcomes:?}");
        }
        let s = h.samples();
        assert_eq!(Harness::values(&s, builtin::GRPC_REQS), [1.0; 4]);
        assert_eq!(Harness::values(&s, builtin::GRPC_REQ_FAILED), [1.0; 4]);
        let tls = Some(FailureKind::Tls.tag().into_owned());
        assert_eq!(h.tags(&s, builtin::GRPC_REQ_FAILED, "error"), vec![tls; 4]);
        assert_eq!(h.tags(&s, builtin::GRPC_REQS, "status"), [None, None, None, None]);
        assert!(Harness::values(&s, builtin::GRPC_TIME_TO_FIRST_MESSAGE).is_empty());
        // Each call's failed handshake is still on the wire: a ClientHello out, the server's
        // flight with its certificate back.
        let sent = Harness::values(&s, builtin::DATA_SENT);
        let received = Harness::values(&s, builtin::DATA_RECEIVED);
        assert_eq!((sent.len(), received.len()), (4, 4), "sent {sent:?}, received {received:?}");
        assert!(sent.iter().all(|&b| b >= 150.0), "sent {sent:?}");
        assert!(received.iter().all(|&b| b >= 300.0), "received {received:?}");
        server.shutdown().await;
    })
    .await;
}

/// `data_sent` / `data_received` per call of each step, in call order.
fn wire_bytes(h: &Harness, s: &[Sample]) -> Vec<(String, f64, f64)> {
    let names = h.tags(s, builtin::DATA_SENT, "name");
    let sent = Harness::values(s, builtin::DATA_SENT);
    let received = Harness::values(s, builtin::DATA_RECEIVED);
    assert_eq!(h.tags(s, builtin::DATA_RECEIVED, "name"), names, "both have the call's tags");
    assert_eq!((sent.len(), received.len()), (names.len(), names.len()));
    names
        .into_iter()
        .map(Option::unwrap_or_default)
        .zip(sent)
        .zip(received)
        .map(|((n, s), r)| (n, s, r))
        .collect()
}

#[tokio::test]
async fn calls_record_the_wire_bytes_of_their_request_and_response() {
    bounded(async {
        let server = demo().await;
        let addr = server.grpc_addr();
        let long_prompt = "x".repeat(2000);
        let stream = format!("target: \"{addr}\", proto: {LLM}, method: llm.v1.Generate/Stream");
        // The same request for 1 and for 200 tokens (each a message of ~10 bytes), and one
        // token for a 2000-byte prompt.
        let mut h = Harness::new(&format!(
            r#"  - grpc: {{ name: small, {stream}, message: {{ prompt: hi, max_tokens: 1, tokens_per_second: 10000 }} }}
  - grpc: {{ name: long_answer, {stream}, message: {{ prompt: hi, max_tokens: 200, tokens_per_second: 10000 }} }}
  - grpc: {{ name: long_prompt, {stream}, message: {{ prompt: "{long_prompt}", max_tokens: 1, tokens_per_second: 10000 }} }}
"#
        ));
        for _ in 0..2 {
            let outcomes = h.iteration().await;
            assert!(outcomes.iter().all(|o| !o.failed), "{outcomes:?}");
        }
        let s = h.samples();
        let calls = wire_bytes(&h, &s);
        let names: Vec<&str> = calls.iter().map(|(n, ..)| n.as_str()).collect();
        assert_eq!(names, ["small", "long_answer", "long_prompt"].repeat(2));
        // The second iteration, on a warm connection.
        let [(_, small_sent, small_received), (_, answer_sent, answer_received), (_, prompt_sent, prompt_received)] =
            [&calls[3], &calls[4], &calls[5]].map(|(n, s, r)| (n.clone(), *s, *r));
        // Headers, a 5-byte gRPC prefix and the message; status, one token and trailers back.
        assert!((30.0..1000.0).contains(&small_sent), "small call sent {small_sent}");
        assert!((30.0..1000.0).contains(&small_received), "small call received {small_received}");
        assert!(answer_received >= small_received + 199.0 * 10.0, "{answer_received} vs {small_received}");
        assert!(answer_sent < small_sent + 200.0, "the same request: {answer_sent} vs {small_sent}");
        assert!(prompt_sent >= small_sent + 1999.0, "{prompt_sent} vs {small_sent}");
        assert!(prompt_received < small_received + 200.0, "the same answer: {prompt_received} vs {small_received}");
        // The connection's first call also carries the HTTP/2 preface and SETTINGS, and its
        // headers before HPACK can index them.
        let first_sent = calls[0].1;
        assert!(first_sent >= small_sent + 24.0, "first call {first_sent}, later {small_sent}");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn tls_handshake_bytes_count_towards_the_first_call_only() {
    bounded(async {
        let server = demo().await;
        let front = tls_front(server.grpc_addr()).await;
        let call = format!(
            r#"proto: {SPEECH}, method: speech.v1.Speech/Recognize, message: {{ audio_uri: "demo://2" }}"#
        );
        let plan = format!("  - grpc: {{ name: unary, {call} }}\n");
        let header =
            |target: String| format!("target: {target}\ndefaults: {{ insecure_skip_tls_verify: true }}\n");
        let mut tls =
            Harness::with_header(&header(format!("https://127.0.0.1:{}", front.port())), &plan).unwrap();
        let mut plain =
            Harness::with_header(&header(format!("http://{}", server.grpc_addr())), &plan).unwrap();
        for h in [&mut tls, &mut plain] {
            for _ in 0..3 {
                let outcomes = h.iteration().await;
                assert!(outcomes.iter().all(|o| !o.failed), "{outcomes:?}");
            }
        }
        let s = tls.samples();
        let tls_calls = wire_bytes(&tls, &s);
        let s = plain.samples();
        let plain_calls = wire_bytes(&plain, &s);
        let extra = |calls: &[(String, f64, f64)]| (calls[0].1 - calls[1].1, calls[0].2 - calls[1].2);
        let (tls_extra_sent, tls_extra_received) = extra(&tls_calls);
        let (plain_extra_sent, plain_extra_received) = extra(&plain_calls);
        // A ClientHello and Finished out; the server's flight with its certificate (and the
        // session tickets) back: hundreds of bytes more than the plaintext connection setup.
        assert!(
            tls_extra_sent >= plain_extra_sent + 150.0,
            "first call extra sent: tls {tls_extra_sent}, plain {plain_extra_sent}; {tls_calls:?}"
        );
        assert!(
            tls_extra_received >= plain_extra_received + 300.0,
            "first call extra received: tls {tls_extra_received}, plain {plain_extra_received}; {tls_calls:?}"
        );
        // Later calls carry no handshake: alike, and only the records' overhead above
        // plaintext.
        let (second, third) = (&tls_calls[1], &tls_calls[2]);
        assert!((second.1 - third.1).abs() < 50.0 && (second.2 - third.2).abs() < 50.0, "{tls_calls:?}");
        assert!(
            second.1 >= plain_calls[1].1 && second.1 < plain_calls[1].1 + 150.0,
            "{tls_calls:?} {plain_calls:?}"
        );
        assert!(
            second.2 >= plain_calls[1].2 && second.2 < plain_calls[1].2 + 150.0,
            "{tls_calls:?} {plain_calls:?}"
        );
        server.shutdown().await;
    })
    .await;
}
