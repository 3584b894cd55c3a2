//! Streamed responses (`stream:`) against the demo target and raw servers: events and tokens
//! are counted exactly and timed as they arrive, over HTTP/1.1 (chunked, length- and
//! close-delimited) and HTTP/2.

use std::time::Duration;

use serde_json::json;
use stampede_demo::{DemoConfig, DemoServer};
use stampede_metrics::builtin;
use stampede_plan::{Body, CheckKind, Defaults, HttpVersion, ResponseStream};

use crate::support::{Harness, Samples, get, raw_server, read_head, write_all};
use crate::{check, ok};

async fn demo() -> DemoServer {
    DemoServer::start("127.0.0.1:0".parse().unwrap(), DemoConfig::default()).await.unwrap()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Runs one streamed step and returns its samples.
async fn run_stream(h: &mut Harness, mut step: stampede_plan::HttpStep, format: ResponseStream) -> Samples {
    step.stream = Some(format);
    let action = h.compile(step);
    assert_eq!(h.run(&action).await, ok(200));
    h.samples()
}

/// 20 tokens at 50/s after a 200 ms "prefill": TTFT ≈ 200 ms while the head came at once,
/// ITL ≈ 20 ms, exactly 20 tokens, and ~50 tokens/s.
fn assert_llm_timing(s: &Samples, what: &str) {
    assert_eq!(s.one(builtin::LLM_OUTPUT_TOKENS), 20.0, "{what}");
    // A role chunk, 20 content chunks, a finish chunk and [DONE].
    assert_eq!(s.one(builtin::STREAM_EVENTS), 23.0, "{what}");
    // The same figures per response, as trends.
    assert_eq!(s.one(builtin::STREAM_EVENTS_PER_RESPONSE), 23.0, "{what}");
    assert_eq!(s.one(builtin::LLM_OUTPUT_TOKENS_PER_RESPONSE), 20.0, "{what}");
    assert_eq!(s.values(builtin::STREAM_EVENT_GAP).len(), 22, "{what}");

    let waiting = s.one(builtin::HTTP_REQ_WAITING);
    let ttfe = s.one(builtin::STREAM_TIME_TO_FIRST_EVENT);
    let ttft = s.one(builtin::LLM_TIME_TO_FIRST_TOKEN);
    assert!(waiting < 150.0, "{what}: the head does not wait for the first token: {waiting} ms");
    assert!(ttfe < 150.0, "{what}: the role chunk comes with the head: {ttfe} ms");
    assert!((190.0..700.0).contains(&ttft), "{what}: time to first token {ttft} ms, expected ~200");

    let itl = s.values(builtin::LLM_INTER_TOKEN_LATENCY);
    assert_eq!(itl.len(), 19, "{what}");
    let mean_itl = mean(&itl);
    assert!((12.0..60.0).contains(&mean_itl), "{what}: mean inter-token latency {mean_itl} ms, expected ~20");

    let tps = s.one(builtin::LLM_TOKENS_PER_SECOND);
    assert!((20.0..80.0).contains(&tps), "{what}: {tps} tokens/s, expected ~50");
    let duration = s.one(builtin::STREAM_DURATION);
    assert!((500.0..1500.0).contains(&duration), "{what}: stream lasted {duration} ms, expected ~580");
    // Tagged like the request.
    assert_eq!(s.tag_of(builtin::LLM_OUTPUT_TOKENS, "status").as_deref(), Some("200"));
    assert_eq!(s.tag_of(builtin::LLM_OUTPUT_TOKENS, "name").as_deref(), Some("llm"));
    assert_eq!(s.tag_of(builtin::STREAM_EVENTS, "method").as_deref(), Some("GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_stream_over_chunked_http1_reports_token_timing() {
    let server = demo().await;
    let mut h = Harness::new(&server.base_url(), Defaults::default());
    let step = get("llm", "/sse/tokens?count=20&rate=50&first_token=200ms");
    let s = run_stream(&mut h, step, ResponseStream::OpenAiChat).await;
    assert_llm_timing(&s, "http/1.1");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_stream_over_h2c_reports_the_same() {
    let server = demo().await;
    let defaults = Defaults { http_version: HttpVersion::Http2, ..Defaults::default() };
    let mut h = Harness::new(&server.base_url(), defaults);
    let step = get("llm", "/sse/tokens?count=20&rate=50&first_token=200ms");
    let s = run_stream(&mut h, step, ResponseStream::OpenAiChat).await;
    assert_llm_timing(&s, "h2c");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completions_stream_when_asked_and_checks_see_the_body() {
    let server = demo().await;
    let mut h = Harness::new(&server.base_url(), Defaults::default());
    let mut step = get("chat", "/v1/chat/completions?rate=200");
    step.method = http::Method::POST;
    step.body = Some(Body::Json(json!({"model": "x", "stream": true, "max_tokens": 7})));
    step.checks = vec![check("done", CheckKind::BodyContains("data: [DONE]".into()))];
    let s = run_stream(&mut h, step.clone(), ResponseStream::OpenAiChat).await;
    assert_eq!(s.one(builtin::LLM_OUTPUT_TOKENS), 7.0);
    assert_eq!(s.one(builtin::STREAM_EVENTS), 10.0);
    assert_eq!(s.values(builtin::CHECKS), [1.0], "a check reads the streamed body");

    // Not streamed: one JSON completion, no events and no tokens.
    step.body = Some(Body::Json(json!({"max_tokens": 7})));
    step.checks = vec![];
    let s = run_stream(&mut h, step, ResponseStream::OpenAiChat).await;
    assert_eq!(s.one(builtin::STREAM_EVENTS), 0.0);
    assert_eq!(s.one(builtin::LLM_OUTPUT_TOKENS), 0.0);
    assert!(s.values(builtin::LLM_TIME_TO_FIRST_TOKEN).is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sse_events_are_counted_and_their_gaps_timed() {
    let server = demo().await;
    let mut h = Harness::new(&server.base_url(), Defaults::default());
    let step = get("ticks", "/sse/events?count=6&interval=50ms");
    let s = run_stream(&mut h, step, ResponseStream::Sse).await;
    assert_eq!(s.one(builtin::STREAM_EVENTS), 6.0);
    let gaps = s.values(builtin::STREAM_EVENT_GAP);
    assert_eq!(gaps.len(), 5);
    assert!(gaps.iter().all(|g| (20.0..200.0).contains(g)), "gaps {gaps:?}, expected ~50 ms");
    assert!(s.one(builtin::STREAM_TIME_TO_FIRST_EVENT) < 150.0);
    assert!(s.values(builtin::LLM_OUTPUT_TOKENS).is_empty(), "no llm metrics without the preset");
    // Without `stream:` nothing of this is recorded.
    let action = h.compile(get("ticks", "/sse/events?count=2&interval=10ms"));
    assert_eq!(h.run(&action).await, ok(200));
    assert!(h.samples().values(builtin::STREAM_EVENTS).is_empty());
    server.shutdown().await;
}

/// A server writing `parts` of a response with `pause` between them, then closing.
async fn paced_server(parts: Vec<&'static [u8]>, pause: Duration) -> std::net::SocketAddr {
    let (addr, _) = raw_server(move |mut stream| {
        let parts = parts.clone();
        async move {
            if read_head(&mut stream).await {
                for part in parts {
                    write_all(&mut stream, part).await;
                    tokio::time::sleep(pause).await;
                }
            }
        }
    })
    .await;
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_are_timed_in_length_and_close_delimited_bodies() {
    let length = paced_server(
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 24\r\n\r\n{\"a\":1}\n", b"{\"a\":2}\r\n", b"{\"a\":3}"],
        Duration::from_millis(60),
    )
    .await;
    let close = paced_server(
        vec![b"HTTP/1.0 200 OK\r\n\r\ndata: x\n\n", b"data: y\n\n", b"data: cut"],
        Duration::from_millis(60),
    )
    .await;

    let mut h = Harness::new(&format!("http://{length}"), Defaults::default());
    let s = run_stream(&mut h, get("ndjson", "/"), ResponseStream::Lines).await;
    assert_eq!(s.one(builtin::STREAM_EVENTS), 3.0, "the last line needs no line break");
    let gaps = s.values(builtin::STREAM_EVENT_GAP);
    assert!(gaps.len() == 2 && gaps.iter().all(|g| *g >= 40.0), "gaps {gaps:?}, expected ≥ 60 ms each");

    let mut h = Harness::new(&format!("http://{close}"), Defaults::default());
    let s = run_stream(&mut h, get("sse", "/"), ResponseStream::Sse).await;
    assert_eq!(s.one(builtin::STREAM_EVENTS), 2.0, "an event cut by the close is dropped");
    let gap = s.one(builtin::STREAM_EVENT_GAP);
    assert!(gap >= 40.0, "the second event came one read later: {gap} ms");
}
