//! Measures the HTTP client's cost per request over loopback: requests per second and CPU time
//! of the client's worker threads per request, against an in-process hyper server that runs
//! on its own thread (so its CPU is not counted).
//!
//! `cargo run --release -p stampede-http --example drive -- [vus] [seconds] [http1|http2] [workers]`
//!
//! Only ever talks to 127.0.0.1; bounded in time.

use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use stampede_http::HttpProtocol;
use stampede_metrics::Registry;
use stampede_plan::{Defaults, Executor, HttpStep, HttpVersion, Plan, Scenario, StatusSet, Step};
use stampede_proto::{CompileContext, Protocol, Recorder, RecorderStats, SessionSlot, Vu, VuIdentity};

const CLIENT_THREAD: &str = "client-worker";

fn main() {
    let mut args = std::env::args().skip(1);
    let vus: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let version = match args.next().as_deref() {
        Some("http2") => HttpVersion::Http2,
        _ => HttpVersion::Http1,
    };
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let addr = start_server();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let cpu_before = client_cpu();
    let (requests, elapsed) = runtime.block_on(run(addr, vus, Duration::from_secs(seconds), version));
    let cpu = client_cpu() - cpu_before;
    println!(
        "{version:?} vus={vus} workers={workers}: {requests} requests in {:.2}s = {:.0} req/s; client CPU {:.2}s = {:.1} µs/request",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / requests as f64,
    );
}

async fn run(
    addr: std::net::SocketAddr,
    vus: u64,
    duration: Duration,
    version: HttpVersion,
) -> (u64, Duration) {
    let registry = Arc::new(Registry::new());
    let plan = Plan {
        name: "drive".into(),
        target: Some(format!("http://{addr}").parse().unwrap()),
        defaults: Defaults { http_version: version, ..Defaults::default() },
        scenarios: vec![],
        thresholds: vec![],
        profiles: vec![],
        profile: None,
        grading: Default::default(),
        data: vec![],
    };
    let scenario = Scenario {
        name: "drive".into(),
        executor: Executor::ConstantVus { vus: NonZeroU32::new(1).unwrap(), duration },
        start_time: Duration::ZERO,
        graceful_stop: Duration::ZERO,
        tags: vec![],
        users: vec![],
    };
    let step = Step::Http(Box::new(HttpStep {
        name: "hello".into(),
        method: http::Method::GET,
        url: "/".into(),
        headers: vec![],
        body: None,
        checks: vec![],
        expected_status: StatusSet::default_expected(),
        timeout: Duration::from_secs(5),
        stream: None,
        checks_fail_request: false,
        extract: vec![],
        dynamic: None,
        rate_limit: Default::default(),
    }));
    let protocol = HttpProtocol::new();
    let cx = CompileContext { plan: &plan, scenario: &scenario, registry: &registry, slot: SessionSlot(0) };
    let action = protocol.compile(&step, &cx).unwrap();

    // The aggregator's stand-in: drains batches.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let stats = Arc::new(RecorderStats::default());
    let start = tokio::time::Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for id in 1..=vus {
        let recorder = Recorder::new(start, tx.clone(), registry.clone(), stats.clone());
        let identity = VuIdentity { id, scenario: Arc::from("drive"), tags: Arc::from(Vec::new()) };
        let mut vu = Vu::new(identity, recorder, 1);
        let action = action.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while tokio::time::Instant::now() < deadline {
                let outcome = action.run(&mut vu).await;
                assert!(!outcome.failed, "request failed: {outcome:?}");
                vu.recorder().flush_if_due();
                n += 1;
            }
            vu.recorder().flush_final().await;
            n
        }));
    }
    drop(tx);
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let elapsed = start.elapsed();
    drain.await.unwrap();
    (total, elapsed)
}

/// A hyper server (HTTP/1.1 and h2c) on its own single-threaded runtime and OS thread.
fn start_server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let svc = service_fn(|_req| async {
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                                b"hello, world!",
                            ))))
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        })
        .unwrap();
    rx.recv().unwrap()
}

/// User + system CPU time of the client runtime's worker threads, from /proc (Linux).
fn client_cpu() -> Duration {
    let ticks_per_second = 100.0; // USER_HZ on Linux.
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(CLIENT_THREAD) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0);
            let stime: u64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
            ticks += utime + stime;
        }
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}
