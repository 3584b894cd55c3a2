//! The router: shared state, the two middleware layers and the handlers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body::{Frame, SizeHint};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::auth;
use crate::catalog::{self, Tool};
use crate::clock;
use crate::config::{DemoConfig, parse_duration};
use crate::limiter::{ClientKey, Decision, RateLimiter};

/// Longest `?delay=`, `?for=` or configured wait honoured; longer asks are clamped.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Largest `/bytes/{n}` response and largest request body read.
const MAX_BYTES: usize = 10 * 1024 * 1024;
const DEFAULT_TOOLS_LIMIT: usize = 20;
const MAX_TOOLS_LIMIT: usize = 100;
/// The stall endpoint is exempt from the stall, or a stall could never be extended.
const STALL_PATH: &str = "/admin/stall";

const INDEX: &str = "\
stampede-demo: a small service to point load tests at

GET       /                      this text
GET       /health                liveness: status, uptime, timestamp
GET       /api/v1/tools          tool catalog; ?limit=N (default 20, max 100) &q=substring
GET       /api/v1/tools/{name}   one tool, or 404
POST      /auth/login            {\"username\":\"any\",\"password\":\"demo\"} -> bearer token
GET       /api/v1/me             needs Authorization: Bearer <token>
POST      /calls/outbound        {\"to\":\"+15550100\"} -> 201; rate limited per client
GET|POST  /status/{code}         responds with that status
GET       /bytes/{n}             n bytes (max 10 MiB)
POST      /echo                  echoes the body and content-type
POST      /admin/stall?for=2s    holds every request until the stall ends (max 60s)
WS        /ws/echo               WebSocket: sends every message back
WS        /ws/chat               WebSocket: {\"type\":\"hello\",\"id\":1} -> {\"type\":\"hello_ack\",\"id\":1,...}
GET       /sse/tokens            LLM-style SSE: ?count=20&rate=50 (tokens/s)&first_token=200ms
GET       /sse/events            SSE events with event:/id:; ?count=10&interval=100ms
POST      /v1/chat/completions   OpenAI-style; {\"stream\":true,\"max_tokens\":16}; ?rate=&first_token=

On every endpoint: ?delay=50ms adds latency (max 60s); ?fail=0.05 fails that fraction
of requests with 500 (?fail_status=502 picks the status). On /ws/*, ?delay also holds
every reply.
Rate limit key: x-client-id header, else the bearer token, else the peer address.
";

/// State every handler and layer shares. The shutdown flag lives here (not in the server)
/// so that waits injected by the demo end as soon as the server is asked to stop.
#[derive(Debug)]
pub(crate) struct Shared {
    config: DemoConfig,
    limiter: RateLimiter,
    started: Instant,
    /// End of the current stall, in nanoseconds after `started`; 0 when none was ever set.
    stall_until: AtomicU64,
    shutdown: watch::Sender<bool>,
    ws: crate::ws::WsCounters,
}

impl Shared {
    pub(crate) fn new(config: DemoConfig) -> Arc<Self> {
        let (shutdown, _) = watch::channel(false);
        Arc::new(Shared {
            limiter: RateLimiter::new(config.rate_limit),
            config,
            started: Instant::now(),
            stall_until: AtomicU64::new(0),
            shutdown,
            ws: crate::ws::WsCounters::default(),
        })
    }

    /// Ends every injected wait and lets the server drain. Idempotent.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once [`Shared::begin_shutdown`] was called.
    pub(crate) fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            // The sender lives in `self`, which outlives the server; an error cannot happen
            // while anyone still serves, and would mean "stop" anyway.
            let _ = rx.wait_for(|&stop| stop).await;
        }
    }

    /// Sees [`Shared::begin_shutdown`]; for connections that outlive a request (WebSocket).
    pub(crate) fn shutdown_receiver(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The WebSocket endpoints' counters.
    pub(crate) fn ws_counters(&self) -> &crate::ws::WsCounters {
        &self.ws
    }

    fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps until `deadline`, or less if the server shuts down meanwhile.
    pub(crate) async fn sleep_until(&self, deadline: Instant) {
        let mut rx = self.shutdown.subscribe();
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            _ = rx.wait_for(|&stop| stop) => {}
        }
    }

    /// Waits while a stall is in force; re-reads the end so an extended stall holds too.
    async fn wait_out_stall(&self) {
        loop {
            let until = self.stall_until.load(Ordering::Acquire);
            if until == 0 {
                return;
            }
            let deadline = self.started + Duration::from_nanos(until);
            if Instant::now() >= deadline || self.is_shutting_down() {
                return;
            }
            self.sleep_until(deadline).await;
        }
    }

    fn nanos_since_start(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Builds the full router over `shared`. Served with `into_make_service_with_connect_info`,
/// the rate limiter can fall back to the peer address.
pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let outbound = post(outbound_call).route_layer(middleware::from_fn_with_state(shared.clone(), limit));
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/api/v1/tools", get(list_tools))
        .route("/api/v1/tools/{name}", get(get_tool))
        .route("/auth/login", post(login))
        .route("/api/v1/me", get(me))
        .route("/calls/outbound", outbound)
        .route("/status/{code}", get(status).post(status))
        .route("/bytes/{n}", get(bytes))
        .route("/echo", post(echo))
        .route(STALL_PATH, post(stall))
        .route("/ws/echo", get(crate::ws::echo))
        .route("/ws/chat", get(crate::ws::chat))
        .route("/sse/tokens", get(crate::sse::tokens))
        .route("/sse/events", get(crate::sse::events))
        .route("/v1/chat/completions", post(crate::sse::chat_completions))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BYTES))
        // Outermost, so injected latency, failures and stalls apply to every route,
        // the fallback included, before anything else runs.
        .layer(middleware::from_fn_with_state(shared.clone(), chaos))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------
// Layers

/// The per-request knobs read from the query string by [`chaos`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct ChaosParams {
    delay: Duration,
    fail: f64,
    fail_status: StatusCode,
}

impl ChaosParams {
    /// Reads `delay`, `fail` and `fail_status` from a raw query without allocating.
    fn parse(query: Option<&str>) -> Result<Self, &'static str> {
        let mut params =
            ChaosParams { delay: Duration::ZERO, fail: 0.0, fail_status: StatusCode::INTERNAL_SERVER_ERROR };
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "delay" => {
                    let delay = parse_duration(value).ok_or("delay must be a duration like 50ms or 1.5s")?;
                    params.delay = delay.min(MAX_WAIT);
                }
                "fail" => {
                    params.fail = value
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or("fail must be a fraction between 0 and 1")?;
                }
                "fail_status" => {
                    params.fail_status = value
                        .parse::<u16>()
                        .ok()
                        .filter(|code| (200..=599).contains(code))
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .ok_or("fail_status must be a status code from 200 to 599")?;
                }
                _ => {}
            }
        }
        Ok(params)
    }

    fn should_fail(&self) -> bool {
        self.fail > 0.0 && rand::random::<f64>() < self.fail
    }
}

/// Global latency, per-request delay, failure injection and stalls, in that order, before
/// the handler; a stall that begins while the handler runs holds the response too.
async fn chaos(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let received = std::time::Instant::now();
    let params = match ChaosParams::parse(req.uri().query()) {
        Ok(params) => params,
        Err(detail) => return error_detail(StatusCode::BAD_REQUEST, "invalid_query", detail),
    };
    let is_stall_control = req.uri().path() == STALL_PATH;
    if !is_stall_control {
        shared.wait_out_stall().await;
    }
    let wait = shared.config.latency.sample().min(MAX_WAIT) + params.delay;
    if !wait.is_zero() {
        shared.sleep_until(Instant::now() + wait).await;
        if !is_stall_control {
            shared.wait_out_stall().await;
        }
    }
    if params.should_fail() {
        let body = json!({"error": "injected_failure", "status": params.fail_status.as_u16()});
        return (params.fail_status, axum::Json(body)).into_response();
    }
    let mut response = next.run(req).await;
    if !is_stall_control {
        shared.wait_out_stall().await;
    }
    server_timing(&mut response, received);
    response
}

/// `Server-Timing: app;dur=12.345`: how long the demo held the request (injected latency
/// included), in milliseconds, as a real service reports its processing time: a value for a
/// plan to extract into a custom metric.
fn server_timing(response: &mut Response, received: std::time::Instant) {
    let ms = received.elapsed().as_secs_f64() * 1e3;
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={ms:.3}")) {
        response.headers_mut().insert(HeaderName::from_static("server-timing"), value);
    }
}

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The per-client rate limit in front of `POST /calls/outbound`.
async fn limit(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let decision = shared.limiter.check(client_key(&req), Instant::now());
    let mut response = if decision.is_allowed {
        next.run(req).await
    } else {
        let body = json!({"error": "rate_limited", "retry_after": decision.reset_secs});
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, decision.reset_secs.into());
        response
    };
    insert_limit_headers(response.headers_mut(), decision);
    response
}

fn insert_limit_headers(headers: &mut HeaderMap, decision: Decision) {
    let limit = HeaderValue::from(decision.limit);
    let remaining = HeaderValue::from(decision.remaining);
    let reset = HeaderValue::from(decision.reset_secs);
    headers.insert(X_RATELIMIT_LIMIT, limit.clone());
    headers.insert(X_RATELIMIT_REMAINING, remaining.clone());
    headers.insert(X_RATELIMIT_RESET, reset.clone());
    headers.insert(RATELIMIT_LIMIT, limit);
    headers.insert(RATELIMIT_REMAINING, remaining);
    headers.insert(RATELIMIT_RESET, reset);
}

/// The client a request counts against: `x-client-id`, else the bearer token, else the peer.
fn client_key(req: &Request) -> ClientKey<'_> {
    let headers = req.headers();
    if let Some(id) = headers.get("x-client-id").and_then(|v| v.to_str().ok()) {
        if !id.is_empty() {
            return ClientKey::Named(id);
        }
    }
    if let Some(token) = bearer(headers) {
        return ClientKey::Named(token);
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => ClientKey::Ip(peer.ip()),
        None => ClientKey::Anonymous,
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

// ---------------------------------------------------------------------------------------
// Handlers

async fn index() -> &'static str {
    INDEX
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "service": "stampede-demo",
        "uptime": shared.started.elapsed().as_secs_f64(),
        "timestamp": clock::rfc3339(SystemTime::now()),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ToolsQuery {
    limit: Option<String>,
    q: Option<String>,
}

#[derive(Debug, Serialize)]
struct ToolList {
    tools: Vec<&'static Tool>,
    total: usize,
}

async fn list_tools(query: Result<Query<ToolsQuery>, axum::extract::rejection::QueryRejection>) -> Response {
    let Ok(Query(query)) = query else {
        return error_detail(StatusCode::BAD_REQUEST, "invalid_query", "malformed query string");
    };
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_TOOLS_LIMIT,
        Some(Ok(limit)) => limit.min(MAX_TOOLS_LIMIT),
        Some(Err(_)) => {
            let detail = "limit must be a non-negative integer";
            return error_detail(StatusCode::BAD_REQUEST, "invalid_query", detail);
        }
    };
    let needle = query.q.unwrap_or_default().to_lowercase();
    let matching = || catalog::TOOLS.iter().filter(|t| catalog::matches(t, &needle));
    let list = ToolList { total: matching().count(), tools: matching().take(limit).collect() };
    axum::Json(list).into_response()
}

async fn get_tool(Path(name): Path<String>) -> Response {
    match catalog::find(&name) {
        Some(tool) => axum::Json(tool).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found"),
    }
}

#[derive(Debug, Deserialize)]
struct Login {
    username: Option<String>,
    password: Option<String>,
}

/// A request body that is not the JSON a handler expects; answers 400.
struct InvalidJson(serde_json::Error);

impl IntoResponse for InvalidJson {
    fn into_response(self) -> Response {
        let detail = format!("body is not the expected json: {}", self.0);
        let body = json!({"error": "invalid_json", "detail": detail});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

/// Reads the body as JSON whatever its content type: load-test scripts often forget the header,
/// and the demo should answer the question they meant to ask.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, InvalidJson> {
    serde_json::from_slice(body).map_err(InvalidJson)
}

async fn login(body: Bytes) -> Response {
    let login: Login = match parse_json(&body) {
        Ok(login) => login,
        Err(invalid) => return invalid.into_response(),
    };
    let username = login.username.unwrap_or_default();
    let is_valid =
        auth::is_valid_username(&username) && login.password.as_deref() == Some(auth::DEMO_PASSWORD);
    if !is_valid {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let expires_at = clock::since_epoch(SystemTime::now()).as_secs() + auth::TOKEN_TTL_SECS;
    axum::Json(json!({
        "token": auth::issue(&username, expires_at),
        "token_type": "Bearer",
        "expires_in": auth::TOKEN_TTL_SECS,
        "user": {"username": username},
    }))
    .into_response()
}

async fn me(headers: HeaderMap) -> Response {
    let now = clock::since_epoch(SystemTime::now()).as_secs();
    let token = bearer(&headers);
    if let Some(username) = token.and_then(|t| auth::verify(t, now)) {
        return axum::Json(json!({"user": {"username": username}})).into_response();
    }
    let challenge = match token {
        Some(_) => r#"Bearer realm="stampede-demo", error="invalid_token""#,
        None => r#"Bearer realm="stampede-demo""#,
    };
    let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

#[derive(Debug, Deserialize)]
struct OutboundCall {
    to: Option<String>,
}

async fn outbound_call(body: Bytes) -> Response {
    let call: OutboundCall = match parse_json(&body) {
        Ok(call) => call,
        Err(invalid) => return invalid.into_response(),
    };
    let Some(to) = call.to.filter(|to| !to.trim().is_empty()) else {
        let body = json!({"error": "missing_field", "field": "to"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let call_id = format!("call_{:016x}", rand::random::<u64>());
    let body = json!({"call_id": call_id, "to": to, "status": "queued"});
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

async fn status(Path(code): Path<String>) -> Response {
    let Some(status) = code
        .parse::<u16>()
        .ok()
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
    else {
        let detail = "status must be a code from 200 to 599";
        return error_detail(StatusCode::BAD_REQUEST, "invalid_status", detail);
    };
    // These statuses must not carry a body (RFC 9110 §15.3.5, §15.3.6, §15.4.5).
    let is_bodiless = matches!(status.as_u16(), 204 | 205 | 304);
    if is_bodiless {
        return status.into_response();
    }
    let body = json!({"status": status.as_u16(), "reason": status.canonical_reason()});
    (status, axum::Json(body)).into_response()
}

async fn bytes(Path(n): Path<String>) -> Response {
    let Some(len) = n.parse::<usize>().ok().filter(|&len| len <= MAX_BYTES) else {
        let body = json!({"error": "invalid_size", "max": MAX_BYTES});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let content_type = HeaderValue::from_static("application/octet-stream");
    let body = Body::new(PatternBody { remaining: len });
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn echo(headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[derive(Debug, Deserialize)]
struct StallQuery {
    #[serde(rename = "for")]
    duration: Option<String>,
}

async fn stall(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<StallQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let duration = match query.map(|Query(q)| q.duration) {
        Ok(None) => Duration::from_secs(1),
        Ok(Some(text)) => match parse_duration(&text) {
            Some(duration) => duration.min(MAX_WAIT),
            None => {
                let detail = "for must be a duration like 2s";
                return error_detail(StatusCode::BAD_REQUEST, "invalid_query", detail);
            }
        },
        Err(_) => {
            return error_detail(StatusCode::BAD_REQUEST, "invalid_query", "malformed query string");
        }
    };
    let now = shared.nanos_since_start();
    let wanted = now.saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    // fetch_max: a shorter stall never cuts a longer one short.
    let until = shared.stall_until.fetch_max(wanted, Ordering::AcqRel).max(wanted);
    let left = Duration::from_nanos(until - now);
    let until_ms = clock::since_epoch(SystemTime::now() + left).as_millis();
    axum::Json(json!({"stalled_until_ms": until_ms})).into_response()
}

async fn not_found(uri: Uri) -> Response {
    let body = json!({"error": "not_found", "path": uri.path()});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

fn error(status: StatusCode, code: &'static str) -> Response {
    (status, axum::Json(json!({"error": code}))).into_response()
}

fn error_detail(status: StatusCode, code: &'static str, detail: &'static str) -> Response {
    (status, axum::Json(json!({"error": code, "detail": detail}))).into_response()
}

// ---------------------------------------------------------------------------------------
// A body of n bytes without allocating n bytes

/// Filler served by `/bytes/{n}` in slices; printable so it reads well in a terminal.
static PATTERN: [u8; 8192] = {
    let mut pattern = [0u8; 8192];
    let mut i = 0;
    while i < pattern.len() {
        pattern[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    pattern
};

/// Streams `remaining` bytes of [`PATTERN`] with an exact size hint, so the response carries a
/// `Content-Length` and no buffer of its size is ever allocated.
struct PatternBody {
    remaining: usize,
}

impl http_body::Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.remaining.min(PATTERN.len());
        self.remaining -= len;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&PATTERN[..len])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaos_params_parse_and_clamp() {
        let p = ChaosParams::parse(Some("x=1&delay=90s&fail=0.25&fail_status=502&q=a")).unwrap();
        assert_eq!(p.delay, MAX_WAIT);
        assert_eq!(p.fail, 0.25);
        assert_eq!(p.fail_status, StatusCode::BAD_GATEWAY);
        let none = ChaosParams::parse(None).unwrap();
        assert_eq!((none.delay, none.fail), (Duration::ZERO, 0.0));
        for bad in ["delay=soon", "fail=2", "fail=-0.1", "fail_status=99", "fail_status=x"] {
            assert!(ChaosParams::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
