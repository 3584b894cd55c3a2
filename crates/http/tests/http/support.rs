//! Test servers on 127.0.0.1:0 and a harness that runs compiled steps the way the engine will.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use stampede_http::HttpProtocol;
use stampede_metrics::{MetricId, Registry, Sample};
use stampede_plan::{
    Behavior, Check, Defaults, Executor, HttpStep, LoadOptions, Plan, Scenario, StatusSet, Step, parse,
};
use stampede_proto::{
    Action, CompileContext, CompileError, Protocol, Recorder, RecorderStats, SessionSlot, StepOutcome, Vu,
    VuIdentity,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

// ---------------------------------------------------------------- harness

/// One VU, its sample channel, and a protocol to compile steps with.
pub struct Harness {
    pub registry: Arc<Registry>,
    pub vu: Vu,
    rx: mpsc::Receiver<Vec<Sample>>,
    protocol: HttpProtocol,
    plan: Plan,
    scenario: Scenario,
}

impl Harness {
    pub fn new(target: &str, defaults: Defaults) -> Self {
        let registry = Arc::new(Registry::new());
        let (tx, rx) = mpsc::channel(1024);
        let recorder = Recorder::new(
            tokio::time::Instant::now(),
            tx,
            registry.clone(),
            Arc::new(RecorderStats::default()),
        );
        let tags: Vec<(Arc<str>, Arc<str>)> =
            vec![(Arc::from("scenario"), Arc::from("smoke")), (Arc::from("team"), Arc::from("voice"))];
        let identity = VuIdentity { id: 1, scenario: Arc::from("smoke"), tags: tags.into() };
        let scenario = Scenario {
            name: "smoke".into(),
            executor: Executor::ConstantVus {
                vus: NonZeroU32::new(1).unwrap(),
                duration: Duration::from_secs(1),
            },
            start_time: Duration::ZERO,
            graceful_stop: Duration::from_secs(1),
            tags: vec![("team".into(), "voice".into())],
            users: vec![],
        };
        let plan = Plan {
            name: "test".into(),
            target: (!target.is_empty()).then(|| target.parse().unwrap()),
            defaults,
            scenarios: vec![],
            thresholds: vec![],
            profiles: vec![],
            profile: None,
            grading: Default::default(),
            data: vec![],
        };
        Harness {
            registry,
            vu: Vu::new(identity, recorder, 1),
            rx,
            protocol: HttpProtocol::new(),
            plan,
            scenario,
        }
    }

    pub fn try_compile(&self, step: HttpStep) -> Result<Arc<dyn Action>, CompileError> {
        let cx = CompileContext {
            plan: &self.plan,
            scenario: &self.scenario,
            registry: &self.registry,
            slot: SessionSlot(0),
        };
        self.protocol.compile(&Step::Http(Box::new(step)), &cx)
    }

    pub fn compile(&self, step: HttpStep) -> Arc<dyn Action> {
        self.try_compile(step).expect("step compiles")
    }

    pub async fn run(&mut self, action: &Arc<dyn Action>) -> StepOutcome {
        action.run(&mut self.vu).await
    }

    /// Flushes the VU's buffer and returns every sample recorded since the last call.
    pub fn samples(&mut self) -> Samples {
        self.vu.recorder().flush();
        let mut all = Vec::new();
        while let Ok(batch) = self.rx.try_recv() {
            all.extend(batch);
        }
        Samples { samples: all, registry: self.registry.clone() }
    }
}

/// Recorded samples with tag lookups.
pub struct Samples {
    pub samples: Vec<Sample>,
    registry: Arc<Registry>,
}

impl Samples {
    /// Values of `metric`, in recording order.
    pub fn values(&self, metric: MetricId) -> Vec<f64> {
        self.of(metric).map(|s| s.value).collect()
    }

    /// The one value of `metric` (panics, printing what was there, if not exactly one).
    pub fn one(&self, metric: MetricId) -> f64 {
        let v = self.values(metric);
        assert_eq!(v.len(), 1, "expected one sample of {metric:?}, got {v:?}");
        v[0]
    }

    pub fn of(&self, metric: MetricId) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.metric == metric)
    }

    /// The value of tag `key` on a sample.
    pub fn tag(&self, sample: &Sample, key: &str) -> Option<String> {
        self.registry.tagset(sample.tags).get(key).map(str::to_string)
    }

    /// The value of tag `key` on the one sample of `metric`.
    pub fn tag_of(&self, metric: MetricId, key: &str) -> Option<String> {
        let s: Vec<_> = self.of(metric).collect();
        assert_eq!(s.len(), 1, "expected one sample of {metric:?}");
        self.tag(s[0], key)
    }
}

/// A GET step with k6's defaults.
pub fn get(name: &str, url: &str) -> HttpStep {
    HttpStep {
        name: name.into(),
        method: Method::GET,
        url: url.into(),
        headers: vec![],
        body: None,
        checks: Vec::<Check>::new(),
        expected_status: StatusSet::default_expected(),
        timeout: Duration::from_secs(5),
        stream: None,
        checks_fail_request: false,
        extract: vec![],
        dynamic: None,
        rate_limit: Default::default(),
    }
}

// ---------------------------------------------------------------- hyper server

/// One request as a test server received it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub version: Version,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a test server saw.
#[derive(Default)]
pub struct Seen {
    pub connections: AtomicUsize,
    pub requests: Mutex<Vec<SeenRequest>>,
}

impl Seen {
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> SeenRequest {
        self.requests.lock().unwrap().last().cloned().expect("a request")
    }
}

/// The routes every test server answers.
async fn route(req: Request<Incoming>, seen: Arc<Seen>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path().to_string();
    seen.requests.lock().unwrap().push(SeenRequest {
        method: parts.method,
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        version: parts.version,
        headers: parts.headers,
        body: body.clone(),
    });
    let response = match path.as_str() {
        "/hello" => Response::new(Full::new(Bytes::from_static(b"hello world"))),
        "/json" => Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"status":"ok","n":1,"items":[1,2]}"#)))
            .unwrap(),
        "/echo" => Response::new(Full::new(body)),
        // Something to check and extract from: headers, cookies, a JSON body with a marker.
        "/login" => Response::builder()
            .header("content-type", "application/json")
            .header("x-session", "s-42")
            .header("server-timing", "db;dur=3, app;dur=12.5")
            .header("set-cookie", "sid=abc123; Path=/; HttpOnly")
            .header("set-cookie", "scoped=1; Path=/other")
            .body(Full::new(Bytes::from_static(
                br#"{"token":"t0k","count":4,"tools":[1,2,3,4,5],"note":"code=XYZ9;"}"#,
            )))
            .unwrap(),
        "/missing" => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not here")))
            .unwrap(),
        "/big" => Response::new(Full::new(Bytes::from(vec![b'x'; 256 * 1024]))),
        _ => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    };
    Ok(response)
}

/// An HTTP/1.1 + HTTP/2 (prior knowledge) server on 127.0.0.1:0.
pub async fn hyper_server() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            state.connections.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| route(req, state.clone()));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// A TLS server with a fresh self-signed certificate for 127.0.0.1, offering `alpn`.
pub async fn tls_server(alpn: &[&[u8]]) -> (SocketAddr, Arc<Seen>) {
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
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            state.connections.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = service_fn(move |req| route(req, state.clone()));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

// ---------------------------------------------------------------- raw servers

/// A server that hands each accepted connection to `handle`; counts connections.
pub async fn raw_server<F, Fut>(handle: F) -> (SocketAddr, Arc<Seen>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            state.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(stream));
        }
    });
    (addr, seen)
}

/// Reads one request head (up to the blank line); false on EOF or after 5 s.
pub async fn read_head(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        return true;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.unwrap_or(false)
}

/// Writes `bytes` and ignores errors (the client may have gone).
pub async fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
}

// ---------------------------------------------------------------- plans from YAML

/// Loads a plan whose flow is `steps` (YAML list items at 6 spaces) with `defaults`.
pub fn load(target: &str, defaults: &str, steps: &str) -> Plan {
    let src = format!(
        "target: {target}\ndefaults: {defaults}\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n    duration: 1s\n    flow:\n{steps}"
    );
    parse(&src, "plan.yaml", &LoadOptions::default()).unwrap_or_else(|e| panic!("plan loads:\n{e}"))
}

pub fn http_steps(plan: &Plan) -> Vec<HttpStep> {
    let Behavior::Flow(flow) = &plan.scenarios[0].users[0].behavior else { panic!("a flow") };
    flow.steps
        .iter()
        .map(|s| match s {
            Step::Http(h) => (**h).clone(),
            other => panic!("not http: {other:?}"),
        })
        .collect()
}
