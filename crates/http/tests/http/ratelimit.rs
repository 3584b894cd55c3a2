//! 429 Too Many Requests (issue #4, "Rate limits"): counted apart from failures, `Retry-After`
//! read in each of its forms, and the retry loop's limits (retries, `max_wait`, budget), against
//! a real server on 127.0.0.1 that answers from a script.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use stampede_metrics::builtin;
use stampede_plan::{Defaults, HttpStep, HttpVersion, RateLimitPolicy, RetryPolicy, StatusSet};
use stampede_proto::StepOutcome;
use tokio::net::TcpListener;

use super::support::{Harness, Samples, get};

/// What the scripted server answers to one request.
#[derive(Debug, Clone)]
enum Reply {
    /// 429 with this `Retry-After` value, or none.
    Limited(Option<String>),
    Ok,
}

/// A server that answers requests from `script` in order, then with `then` forever; it
/// counts the requests it got.
struct Scripted {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Scripted {
    async fn start(script: Vec<Reply>, then: Reply) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (script, then, counter) = (script.clone(), then.clone(), counter.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |_req: Request<Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let reply = script.lock().unwrap().pop_front().unwrap_or_else(|| then.clone());
                        async move { Ok::<_, Infallible>(respond(reply)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Scripted { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    match reply {
        Reply::Ok => Response::new(Full::new(Bytes::from_static(b"ok"))),
        Reply::Limited(retry_after) => {
            let mut r = Response::builder().status(StatusCode::TOO_MANY_REQUESTS);
            if let Some(value) = retry_after {
                r = r.header("retry-after", value);
            }
            r.body(Full::new(Bytes::from_static(br#"{"error":"rate_limited"}"#))).unwrap()
        }
    }
}

fn limited(retry_after: &str) -> Reply {
    Reply::Limited(Some(retry_after.to_string()))
}

fn retry(retries: u32, max_wait_ms: u64, budget_ms: u64) -> RateLimitPolicy {
    RateLimitPolicy::Retry(RetryPolicy {
        retries: NonZeroU32::new(retries).unwrap(),
        max_wait: Duration::from_millis(max_wait_ms),
        budget: Duration::from_millis(budget_ms),
    })
}

fn step(policy: RateLimitPolicy) -> HttpStep {
    HttpStep { rate_limit: policy, ..get("call", "/calls") }
}

fn outcome(status: u16) -> StepOutcome {
    StepOutcome { failed: false, status: Some(status) }
}

fn rounded(s: &Samples, metric: stampede_metrics::MetricId) -> Vec<u64> {
    s.values(metric).iter().map(|v| v.round() as u64).collect()
}

#[tokio::test]
async fn a_429_is_counted_as_rate_limited_not_failed_and_its_retry_after_read() {
    for version in [HttpVersion::Http1, HttpVersion::Http2] {
        let server = Scripted::start(vec![limited("7")], Reply::Ok).await;
        let mut h = Harness::new(&server.url(), Defaults { http_version: version, ..Defaults::default() });
        let action = h.compile(step(RateLimitPolicy::Count));
        assert_eq!(h.run(&action).await, outcome(429), "{version:?}");
        let s = h.samples();
        assert_eq!(s.one(builtin::HTTP_REQS), 1.0);
        assert_eq!(s.one(builtin::HTTP_REQ_FAILED), 0.0, "a 429 is not a failure");
        assert!(s.one(builtin::HTTP_REQ_DURATION) > 0.0);
        assert_eq!(s.one(builtin::HTTP_RATE_LIMITED), 1.0);
        assert_eq!(s.one(builtin::HTTP_RETRY_AFTER_PRESENT), 1.0);
        assert_eq!(s.one(builtin::HTTP_RATE_LIMIT_WAIT), 7000.0, "the wait asked for, in ms");
        assert!(s.values(builtin::HTTP_RATE_LIMIT_RETRIES).is_empty(), "count never retries");
        assert_eq!(s.tag_of(builtin::HTTP_REQS, "status").as_deref(), Some("429"));
        assert_eq!(s.tag_of(builtin::HTTP_REQS, "error"), None);
        assert_eq!(s.tag_of(builtin::HTTP_RATE_LIMITED, "name").as_deref(), Some("call"));
        assert_eq!(server.requests(), 1);

        // The next response is a 200: nothing rate-limit related is recorded.
        assert_eq!(h.run(&action).await, outcome(200));
        let s = h.samples();
        assert!(s.values(builtin::HTTP_RATE_LIMITED).is_empty());
        assert!(s.values(builtin::HTTP_RETRY_AFTER_PRESENT).is_empty());
    }
}

#[tokio::test]
async fn retry_after_is_read_as_seconds_or_a_date_and_absent_or_garbage_is_not_present() {
    let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(61));
    let script =
        vec![limited("3"), limited(&in_a_minute), Reply::Limited(None), limited("soon"), limited("1.5")];
    let server = Scripted::start(script, Reply::Ok).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action = h.compile(step(RateLimitPolicy::Count));
    for _ in 0..5 {
        assert_eq!(h.run(&action).await, outcome(429));
    }
    let s = h.samples();
    assert_eq!(s.values(builtin::HTTP_RATE_LIMITED), [1.0; 5]);
    assert_eq!(s.values(builtin::HTTP_RETRY_AFTER_PRESENT), [1.0, 1.0, 0.0, 0.0, 0.0]);
    let waits = s.values(builtin::HTTP_RATE_LIMIT_WAIT);
    assert_eq!(waits.len(), 2, "only usable values give a wait: {waits:?}");
    assert_eq!(waits[0], 3000.0);
    // An HTTP-date has whole seconds: 61 s from now is 60 to 61 s away when read.
    assert!((59_000.0..=61_000.0).contains(&waits[1]), "date wait {}", waits[1]);
    assert!(s.values(builtin::HTTP_REQ_FAILED).iter().all(|&v| v == 0.0));
}

#[tokio::test]
async fn retry_sends_again_after_the_wait_until_a_success() {
    let server = Scripted::start(vec![limited("0"), limited("0")], Reply::Ok).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action = h.compile(step(retry(3, 30_000, 60_000)));
    assert_eq!(h.run(&action).await, outcome(200));
    assert_eq!(server.requests(), 3, "two 429s, then the 200");
    let s = h.samples();
    assert_eq!(s.values(builtin::HTTP_REQS), [1.0; 3], "each attempt is a request");
    assert_eq!(s.values(builtin::HTTP_REQ_FAILED), [0.0; 3]);
    assert_eq!(s.values(builtin::HTTP_RATE_LIMITED), [1.0; 2]);
    assert_eq!(s.values(builtin::HTTP_RATE_LIMIT_RETRIES), [1.0; 2]);
    assert_eq!(rounded(&s, builtin::HTTP_RATE_LIMIT_WAIT), [0, 0]);
}

#[tokio::test]
async fn retry_stops_after_its_retries_and_the_429_stands() {
    let server = Scripted::start(vec![], limited("0")).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action = h.compile(step(retry(2, 30_000, 60_000)));
    assert_eq!(h.run(&action).await, outcome(429), "rate limited, not failed");
    assert_eq!(server.requests(), 3, "the request and 2 retries");
    let s = h.samples();
    assert_eq!(s.values(builtin::HTTP_RATE_LIMITED), [1.0; 3]);
    assert_eq!(s.values(builtin::HTTP_RATE_LIMIT_RETRIES), [1.0; 2]);
    assert_eq!(s.values(builtin::HTTP_REQ_FAILED), [0.0; 3]);
}

#[tokio::test]
async fn waits_are_capped_by_max_wait_and_stop_at_the_budget() {
    // Asks for 60 s each time; waits 100 ms (max_wait) twice, then a third wait would pass the
    // 250 ms budget, so the 429 stands although retries are left.
    let server = Scripted::start(vec![], limited("60")).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action = h.compile(step(retry(10, 100, 250)));
    let started = Instant::now();
    assert_eq!(h.run(&action).await, outcome(429));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(server.requests(), 3);
    let s = h.samples();
    assert_eq!(rounded(&s, builtin::HTTP_RATE_LIMIT_WAIT), [100, 100]);
    assert_eq!(s.values(builtin::HTTP_RATE_LIMIT_RETRIES), [1.0; 2]);
    assert_eq!(s.values(builtin::HTTP_RETRY_AFTER_PRESENT), [1.0; 3]);
}

#[tokio::test]
async fn without_retry_after_the_fallback_backs_off_within_max_wait() {
    // The fallback (1 s, 2 s, ...) capped at 50 ms.
    let server = Scripted::start(vec![Reply::Limited(None), limited("garbage")], Reply::Ok).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action = h.compile(step(retry(3, 50, 60_000)));
    assert_eq!(h.run(&action).await, outcome(200));
    let s = h.samples();
    assert_eq!(rounded(&s, builtin::HTTP_RATE_LIMIT_WAIT), [50, 50]);
    assert_eq!(s.values(builtin::HTTP_RETRY_AFTER_PRESENT), [0.0, 0.0]);
}

#[tokio::test]
async fn a_stopped_vu_drops_its_wait_and_its_next_run_is_clean() {
    let server = Scripted::start(vec![limited("30")], Reply::Ok).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action = h.compile(step(retry(3, 30_000, 60_000)));
    let stopped = tokio::time::timeout(Duration::from_millis(300), h.run(&action)).await;
    assert!(stopped.is_err(), "still waiting out the 30 s when stopped");
    assert_eq!(server.requests(), 1);
    assert_eq!(h.run(&action).await, outcome(200), "the VU works on after the dropped wait");
    let s = h.samples();
    assert_eq!(s.values(builtin::HTTP_RATE_LIMITED), [1.0]);
    assert!(s.values(builtin::HTTP_RATE_LIMIT_RETRIES).is_empty(), "the wait never finished");
    assert!(s.values(builtin::HTTP_RATE_LIMIT_WAIT).is_empty());
    assert_eq!(s.values(builtin::HTTP_REQS), [1.0, 1.0]);
}

#[tokio::test]
async fn a_step_expecting_429_is_never_retried() {
    let server = Scripted::start(vec![], limited("0")).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let expecting = HttpStep { expected_status: StatusSet(vec![(429, 429)]), ..step(retry(3, 1000, 1000)) };
    let action = h.compile(expecting);
    assert_eq!(h.run(&action).await, outcome(429));
    assert_eq!(server.requests(), 1);
    assert_eq!(h.samples().values(builtin::HTTP_RATE_LIMITED), [1.0], "still counted");
}

#[tokio::test]
async fn other_statuses_outside_the_expected_set_still_fail() {
    let server = Scripted::start(vec![], Reply::Ok).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action =
        h.compile(HttpStep { expected_status: StatusSet(vec![(201, 201)]), ..step(retry(3, 10, 10)) });
    assert_eq!(h.run(&action).await, StepOutcome { failed: true, status: Some(200) });
    assert_eq!(server.requests(), 1);
    assert!(h.samples().values(builtin::HTTP_RATE_LIMITED).is_empty());
}

#[tokio::test]
async fn checks_judge_the_answer_that_stands_not_the_retried_429s() {
    let status_200 = || HttpStep {
        checks: vec![stampede_plan::Check {
            name: "status is 200".into(),
            kind: stampede_plan::CheckKind::Status(StatusSet(vec![(200, 200)])),
        }],
        ..get("call", "/calls")
    };
    // Two retried 429s, then a 200: one check, passed.
    let server = Scripted::start(vec![limited("0"), limited("0")], Reply::Ok).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let checked = HttpStep { rate_limit: retry(3, 30_000, 60_000), ..status_200() };
    let action = h.compile(checked.clone());
    assert_eq!(h.run(&action).await, outcome(200));
    assert_eq!(h.samples().values(builtin::CHECKS), [1.0]);
    // Retries spent: the last 429 stands and its check fails, once.
    let server = Scripted::start(vec![], limited("0")).await;
    let mut h = Harness::new(&server.url(), Defaults::default());
    let action = h.compile(HttpStep { rate_limit: retry(1, 30_000, 60_000), ..checked });
    assert_eq!(h.run(&action).await, outcome(429));
    assert_eq!(server.requests(), 2);
    assert_eq!(h.samples().values(builtin::CHECKS), [0.0]);
}
