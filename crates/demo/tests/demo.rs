//! End-to-end tests: a real `DemoServer` on `127.0.0.1:0`, driven by a plain hyper client.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use stampede_demo::{DEMO_PASSWORD, DemoConfig, DemoServer, Latency, RateLimit};
use tokio::net::TcpStream;

/// Every test request is bounded; a hang is a failure, not a stuck CI job.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    version: Version,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("expected json, got {:?}: {e}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}; got {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn header_u64(&self, name: &str) -> u64 {
        let value = self.header(name);
        value.parse().unwrap_or_else(|_| panic!("header {name} is not an integer: {value:?}"))
    }
}

/// A request under construction: method, path and optional headers and body.
struct Call {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

fn get(path: &str) -> Call {
    Call { method: Method::GET, path: path.to_owned(), headers: Vec::new(), body: Bytes::new() }
}

fn post(path: &str, body: &str) -> Call {
    Call { method: Method::POST, body: Bytes::copy_from_slice(body.as_bytes()), ..get(path) }
        .header("content-type", "application/json")
}

impl Call {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
        self
    }

    fn build(self, addr: SocketAddr) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(self.method)
            .uri(format!("http://{addr}{}", self.path))
            .header("host", addr.to_string());
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(self.body)).unwrap()
    }
}

/// Sends one request over a fresh HTTP/1.1 connection.
async fn send(addr: SocketAddr, call: Call) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let request = call.build(addr);
    tokio::time::timeout(REQUEST_TIMEOUT, async move {
        let response = sender.send_request(request).await.unwrap();
        into_reply(response).await
    })
    .await
    .expect("request timed out")
}

async fn into_reply(response: hyper::Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        version: parts.version,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn start(config: DemoConfig) -> DemoServer {
    DemoServer::start("127.0.0.1:0".parse().unwrap(), config).await.unwrap()
}

async fn start_default() -> DemoServer {
    start(DemoConfig::default()).await
}

#[tokio::test]
async fn index_lists_endpoints_as_plain_text() {
    let server = start_default().await;
    let reply = send(server.addr(), get("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("text/plain"));
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    for path in ["/health", "/api/v1/tools", "/auth/login", "/calls/outbound", "/admin/stall"] {
        assert!(text.contains(path), "index lacks {path}:\n{text}");
    }
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(server.base_url(), format!("http://{}", server.addr()));
    server.shutdown().await;
}

#[tokio::test]
async fn health_reports_status_uptime_and_a_utc_timestamp() {
    let server = start_default().await;
    let reply = send(server.addr(), get("/health")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/json");
    let body = reply.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "stampede-demo");
    let uptime = body["uptime"].as_f64().expect("uptime is a number");
    assert!((0.0..60.0).contains(&uptime), "{uptime}");
    let ts = body["timestamp"].as_str().unwrap();
    // 2026-11-03T14:05:09.123Z
    let shape: String = ts.chars().map(|c| if c.is_ascii_digit() { 'd' } else { c }).collect();
    assert_eq!(shape, "dddd-dd-ddTdd:dd:dd.dddZ", "{ts}");
    let year: u64 = ts[..4].parse().unwrap();
    let now_year = 1970 + SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 31_556_952;
    assert!(year.abs_diff(now_year) <= 1, "{ts}");
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_are_json_404() {
    let server = start_default().await;
    let reply = send(server.addr(), get("/nope")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"], "not_found");
    server.shutdown().await;
}

#[tokio::test]
async fn tools_list_pages_filters_and_finds() {
    let server = start_default().await;
    let addr = server.addr();

    let all = send(addr, get("/api/v1/tools")).await;
    assert_eq!(all.status, StatusCode::OK);
    let body = all.json();
    assert_eq!(body["total"], 30);
    assert_eq!(body["tools"].as_array().unwrap().len(), 20, "default limit");
    let first = &body["tools"][0];
    for field in ["name", "version", "category", "description"] {
        assert!(first[field].is_string(), "{field} in {first}");
    }
    assert!(first["enabled"].is_boolean());

    let body = send(addr, get("/api/v1/tools?limit=5")).await.json();
    assert_eq!(body["tools"].as_array().unwrap().len(), 5);
    assert_eq!(body["total"], 30);
    let body = send(addr, get("/api/v1/tools?limit=1000")).await.json();
    assert_eq!(body["tools"].as_array().unwrap().len(), 30, "limit is capped, not refused");

    // Case-insensitive, on name or description.
    let body = send(addr, get("/api/v1/tools?q=GRPC")).await.json();
    let names: Vec<&str> =
        body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["grpcurl", "ghz"]);
    assert_eq!(body["total"], 2);
    let body = send(addr, get("/api/v1/tools?q=load%20testing&limit=1")).await.json();
    assert_eq!(body["total"], 4, "k6, locust, vegeta, ghz: {body}");
    assert_eq!(body["tools"][0]["name"], "k6");
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);

    let bad = send(addr, get("/api/v1/tools?limit=many")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"], "invalid_query");

    let one = send(addr, get("/api/v1/tools/wrk")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["name"], "wrk");
    let missing = send(addr, get("/api/v1/tools/nonesuch")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json(), serde_json::json!({"error": "not_found"}));
    server.shutdown().await;
}

#[tokio::test]
async fn login_then_me_with_the_token() {
    let server = start_default().await;
    let addr = server.addr();
    let login = format!(r#"{{"username":"alice","password":"{DEMO_PASSWORD}"}}"#);
    let reply = send(addr, post("/auth/login", &login)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["user"]["username"], "alice");
    let token = body["token"].as_str().unwrap().to_owned();

    let me = send(addr, get("/api/v1/me").header("authorization", &format!("Bearer {token}"))).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["user"]["username"], "alice");

    let anonymous = send(addr, get("/api/v1/me")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.header("www-authenticate").starts_with("Bearer"));

    let forged = token.replacen("alice", "mallory", 1);
    let forged = send(addr, get("/api/v1/me").header("authorization", &format!("Bearer {forged}"))).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(forged.header("www-authenticate").contains("invalid_token"));
    server.shutdown().await;
}

#[tokio::test]
async fn login_refuses_bad_credentials_and_bad_json() {
    let server = start_default().await;
    let addr = server.addr();
    for body in [
        r#"{"username":"alice","password":"wrong"}"#,
        r#"{"username":"","password":"demo"}"#,
        r#"{"password":"demo"}"#,
        r#"{"username":"alice"}"#,
    ] {
        let reply = send(addr, post("/auth/login", body)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(reply.json()["error"], "invalid_credentials");
    }
    for body in [r#"{"username":"alice","#, "", "[1,2]", r#"{"username":5}"#] {
        let reply = send(addr, post("/auth/login", body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(reply.json()["error"], "invalid_json");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn outbound_call_is_queued_or_refused_without_to() {
    let server = start_default().await;
    let addr = server.addr();
    let reply = send(addr, post("/calls/outbound", r#"{"to":"+15550100"}"#)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    assert_eq!(body["to"], "+15550100");
    assert_eq!(body["status"], "queued");
    assert!(body["call_id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(reply.header_u64("ratelimit-limit"), 20);
    assert_eq!(reply.header_u64("x-ratelimit-limit"), 20);
    assert_eq!(reply.header_u64("ratelimit-remaining"), 19);
    assert!(reply.header_u64("ratelimit-reset") >= 1);

    let missing = send(addr, post("/calls/outbound", r#"{"from":"+15550100"}"#)).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["field"], "to");
    let malformed = send(addr, post("/calls/outbound", "{")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_refuses_the_request_past_the_limit_per_client() {
    let config = DemoConfig { rate_limit: "3/min".parse().unwrap(), ..DemoConfig::default() };
    let server = start(config).await;
    let addr = server.addr();
    let call = |client: &str| post("/calls/outbound", r#"{"to":"+1"}"#).header("x-client-id", client);

    for remaining in [2, 1, 0] {
        let reply = send(addr, call("a")).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(reply.header_u64("ratelimit-remaining"), remaining);
        assert_eq!(reply.header_u64("x-ratelimit-remaining"), remaining);
    }
    let refused = send(addr, call("a")).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after = refused.header_u64("retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.json()["error"], "rate_limited");
    assert_eq!(refused.json()["retry_after"], retry_after);
    assert_eq!(refused.header_u64("ratelimit-limit"), 3);
    assert_eq!(refused.header_u64("ratelimit-remaining"), 0);
    assert_eq!(refused.header_u64("ratelimit-reset"), retry_after);
    assert_eq!(refused.header_u64("x-ratelimit-reset"), retry_after);

    // Another client has its own window.
    assert_eq!(send(addr, call("b")).await.status, StatusCode::CREATED);
    // Without x-client-id the bearer token is the key, and without either the peer address.
    let with_token = || post("/calls/outbound", r#"{"to":"+1"}"#).header("authorization", "Bearer t1");
    for _ in 0..3 {
        assert_eq!(send(addr, with_token()).await.status, StatusCode::CREATED);
    }
    assert_eq!(send(addr, with_token()).await.status, StatusCode::TOO_MANY_REQUESTS);
    let by_peer = || post("/calls/outbound", r#"{"to":"+1"}"#);
    for _ in 0..3 {
        assert_eq!(send(addr, by_peer()).await.status, StatusCode::CREATED);
    }
    assert_eq!(send(addr, by_peer()).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Other endpoints are not limited.
    assert_eq!(send(addr, get("/health")).await.status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_window_resets() {
    let config = DemoConfig {
        rate_limit: RateLimit { requests: 1, per: Duration::from_millis(300) },
        ..DemoConfig::default()
    };
    let server = start(config).await;
    let call = || post("/calls/outbound", r#"{"to":"+1"}"#).header("x-client-id", "c");
    assert_eq!(send(server.addr(), call()).await.status, StatusCode::CREATED);
    let refused = send(server.addr(), call()).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header_u64("retry-after"), 1, "sub-second waits round up to 1");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(send(server.addr(), call()).await.status, StatusCode::CREATED);
    server.shutdown().await;
}

#[tokio::test]
async fn status_bytes_and_echo() {
    let server = start_default().await;
    let addr = server.addr();
    let teapot = send(addr, get("/status/418")).await;
    assert_eq!(teapot.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(teapot.json()["status"], 418);
    let posted = send(addr, post("/status/503", "")).await;
    assert_eq!(posted.status, StatusCode::SERVICE_UNAVAILABLE);
    let empty = send(addr, get("/status/204")).await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT);
    assert!(empty.body.is_empty());
    for bad in ["/status/abc", "/status/99", "/status/600"] {
        let reply = send(addr, get(bad)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.json()["error"], "invalid_status");
    }

    let bytes = send(addr, get("/bytes/100000")).await;
    assert_eq!(bytes.status, StatusCode::OK);
    assert_eq!(bytes.body.len(), 100_000);
    assert_eq!(bytes.header_u64("content-length"), 100_000);
    assert_eq!(send(addr, get("/bytes/0")).await.body.len(), 0);
    let max = send(addr, get("/bytes/10485760")).await;
    assert_eq!(max.body.len(), 10 * 1024 * 1024);
    let too_big = send(addr, get("/bytes/10485761")).await;
    assert_eq!(too_big.status, StatusCode::BAD_REQUEST);
    assert_eq!(send(addr, get("/bytes/-1")).await.status, StatusCode::BAD_REQUEST);

    let echo = send(addr, post("/echo", "hello there").header("content-type", "text/x-demo")).await;
    assert_eq!(echo.status, StatusCode::OK);
    assert_eq!(echo.header("content-type"), "text/x-demo");
    assert_eq!(&echo.body[..], b"hello there");
    server.shutdown().await;
}

#[tokio::test]
async fn delay_and_configured_latency_slow_requests_down() {
    let server = start_default().await;
    let t0 = Instant::now();
    let reply = send(server.addr(), get("/health?delay=250ms")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(250), "{:?}", t0.elapsed());
    let bad = send(server.addr(), get("/health?delay=soon")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"], "invalid_query");
    server.shutdown().await;

    let config = DemoConfig {
        latency: Latency { mean: Duration::from_millis(200), jitter: Duration::from_millis(50) },
        ..DemoConfig::default()
    };
    let slow = start(config).await;
    let t0 = Instant::now();
    assert_eq!(send(slow.addr(), get("/health")).await.status, StatusCode::OK);
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    slow.shutdown().await;
}

#[tokio::test]
async fn fail_injects_errors_at_the_asked_rate() {
    let server = start_default().await;
    let addr = server.addr();
    for _ in 0..10 {
        let reply = send(addr, get("/health?fail=1")).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.json()["error"], "injected_failure");
    }
    let picked = send(addr, get("/api/v1/tools?fail=1&fail_status=502")).await;
    assert_eq!(picked.status, StatusCode::BAD_GATEWAY);
    // Before the handler: a failed login never reaches the credential check.
    let login = send(addr, post("/auth/login?fail=1", "not json")).await;
    assert_eq!(login.status, StatusCode::INTERNAL_SERVER_ERROR);
    for _ in 0..20 {
        assert_eq!(send(addr, get("/health?fail=0")).await.status, StatusCode::OK);
    }
    let bad = send(addr, get("/health?fail=1.5")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    server.shutdown().await;
}

#[tokio::test]
async fn stall_holds_new_and_in_flight_requests_until_it_ends() {
    let server = start_default().await;
    let addr = server.addr();

    // In flight: still inside its own 200 ms delay when the stall begins.
    let t0 = Instant::now();
    let in_flight = tokio::spawn(async move {
        let reply = send(addr, get("/health?delay=200ms")).await;
        (reply.status, t0.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The stall starts after this instant, so it cannot end before this plus 800 ms.
    let before_stall = t0.elapsed();
    let stall = send(addr, post("/admin/stall?for=800ms", "")).await;
    assert_eq!(stall.status, StatusCode::OK);
    let until_ms = stall.json()["stalled_until_ms"].as_u64().unwrap();
    let now_ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    assert!(until_ms.abs_diff(now_ms + 800) < 200, "until {until_ms}, now {now_ms}");

    // Arrives during the stall.
    let reply = send(addr, get("/health")).await;
    let new_done = t0.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    let (status, in_flight_done) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let stall_end = before_stall + Duration::from_millis(800);
    assert!(new_done >= stall_end, "new request done at {new_done:?}, stall ends ~{stall_end:?}");
    assert!(
        in_flight_done >= stall_end,
        "in-flight request done at {in_flight_done:?}, stall ends ~{stall_end:?}"
    );

    // After the stall, requests are fast again.
    let t1 = Instant::now();
    assert_eq!(send(addr, get("/health")).await.status, StatusCode::OK);
    assert!(t1.elapsed() < Duration::from_millis(500), "{:?}", t1.elapsed());

    let bad = send(addr, post("/admin/stall?for=forever", "")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    server.shutdown().await;
}

#[tokio::test]
async fn stall_is_capped_and_shutdown_cuts_it_short() {
    let server = start_default().await;
    let addr = server.addr();
    let stall = send(addr, post("/admin/stall?for=10m", "")).await;
    let until_ms = stall.json()["stalled_until_ms"].as_u64().unwrap();
    let now_ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    assert!(until_ms.abs_diff(now_ms + 60_000) < 1_000, "capped at 60 s: until {until_ms}, now {now_ms}");

    // A request held by the stall is released by shutdown, and shutdown returns promptly.
    let held = tokio::spawn(async move { send(addr, get("/health")).await.status });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished(), "the stall holds the request");
    let t0 = Instant::now();
    server.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(held.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served_on_the_same_port() {
    let server = start_default().await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    for path in ["/health", "/api/v1/tools/curl"] {
        let request = get(path).build(server.addr());
        let response =
            tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request)).await.unwrap().unwrap();
        let reply = into_reply(response).await;
        assert_eq!(reply.version, Version::HTTP_2);
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn http1_connections_are_kept_alive() {
    let server = start_default().await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    let conn = tokio::spawn(conn);
    for _ in 0..3 {
        let response = sender
            .send_request(get("/health").build(server.addr()))
            .await
            .expect("the connection stays open between requests");
        let reply = into_reply(response).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.version, Version::HTTP_11);
        assert_ne!(reply.headers.get("connection"), Some(&HeaderValue::from_static("close")));
    }
    assert!(!conn.is_finished());
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = start_default().await;
    let addr = server.addr();
    assert_eq!(send(addr, get("/health")).await.status, StatusCode::OK);
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still accepting after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let server = start_default().await;
    let addr = server.addr();
    server.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn router_can_be_embedded_without_connect_info() {
    let config = DemoConfig { rate_limit: "1/min".parse().unwrap(), ..DemoConfig::default() };
    let app = stampede_demo::router(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    assert_eq!(send(addr, get("/health")).await.status, StatusCode::OK);
    let call = || post("/calls/outbound", r#"{"to":"+1"}"#);
    assert_eq!(send(addr, call()).await.status, StatusCode::CREATED);
    assert_eq!(send(addr, call()).await.status, StatusCode::TOO_MANY_REQUESTS);
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
