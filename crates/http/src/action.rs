//! A compiled HTTP step and running it once for a VU.

use std::net::IpAddr;
use std::pin::Pin;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::uri::{Authority, Scheme as UriScheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use http_body_util::{BodyExt, Full};
use rustls::pki_types::ServerName;
use stampede_metrics::builtin;
use stampede_plan::{Body, Check, Extract, HttpStep, RateLimitPolicy, ResponseStream, StatusSet};
use stampede_proto::{
    Action, BoxFuture, CompileContext, FailureKind, Recorder, SessionSlot, StepOutcome, Vu,
};
use tokio::time::{Duration, Instant, Sleep};

use crate::Error;
use crate::check::{self, Response};
use crate::conn::{ConnPool, H2Conn, Link, Origin, ReqBody, Scheme};
use crate::cookie::{CookieJar, Destination};
use crate::dynamic::{Dynamic, NotSent, Rendered};
use crate::extract;
use crate::failure::{AttemptFailure, Progress, classify_hyper};
use crate::h1::H1Request;
use crate::ratelimit::{Limited, Retrying, TOO_MANY_REQUESTS};
use crate::stream::{BodySink, StreamScanner, StreamStats};
use crate::tags::{TagCache, TagKey, TagSource};
use crate::timeline::{Phase, Timeline};
use crate::tls::TlsConfigs;

/// A VU keeps its body buffer between requests up to this capacity; a larger one (after
/// checking a big response) is released, so per-VU memory stays in kilobytes.
const RETAINED_BODY_CAPACITY: usize = 64 * 1024;

const USER_AGENT_VALUE: &str = concat!("stampede/", env!("CARGO_PKG_VERSION"));

/// One VU's HTTP state: its connections, a reusable body buffer, its tag cache and its
/// request timer.
#[derive(Debug, Default)]
pub(crate) struct HttpSession {
    pool: ConnPool,
    body: Vec<u8>,
    tags: TagCache,
    /// Finds and times the events of streamed responses (`stream:`); reused.
    stream: StreamScanner,
    /// The per-request timeout, one timer per VU moved forward for each request: pushing a
    /// registered tokio timer later is one atomic operation, where a fresh timer per request
    /// takes the timer driver's lock to register and again to cancel.
    timer: Option<Pin<Box<Sleep>>>,
    /// The response's header fields, when a check, an extraction or the jar reads them.
    head: Vec<u8>,
    /// The VU's cookies (`defaults.cookies`, on by default).
    jar: CookieJar,
    /// A request head with the jar's `cookie` field, rebuilt per request that sends cookies.
    request_head: Vec<u8>,
    /// Which checks (then extractions) passed, for the request at hand.
    passed: Vec<bool>,
    /// Formats extracted values.
    scratch: String,
    /// The request as rendered for this VU, for steps with run-time values.
    rendered: Rendered,
}

/// Every request records its own figures; closing its connections leaves nothing to record.
impl stampede_proto::Session for HttpSession {}

/// A compiled HTTP step: everything a request needs, computed once at plan load.
#[derive(Debug)]
pub(crate) struct HttpAction {
    index: usize,
    slot: SessionSlot,
    name: String,
    method: Method,
    origin: Origin,
    /// The request as HTTP/1.1 sends it, serialized.
    h1: H1Request,
    /// The absolute URI, from which HTTP/2 takes `:scheme` and `:authority`.
    uri_absolute: Uri,
    headers_h2: HeaderMap,
    body: Bytes,
    checks: Vec<Check>,
    /// The `check` tag of each check, then `extract <name>` for each extraction.
    check_names: Vec<String>,
    keep_body: bool,
    /// Keep the response's header fields (header checks and extractions, the cookie jar, a
    /// 429's `Retry-After`).
    keep_head: bool,
    /// A failed check fails the request.
    checks_fail_request: bool,
    extract: Vec<Extract>,
    /// Use the VU's cookie jar, and empty it at each new iteration if `.1`.
    cookies: Option<bool>,
    /// The step sets its own `Cookie` header, which is sent as written: the jar's cookies are
    /// not added (two `Cookie` fields are not allowed), though what it answers is still stored.
    own_cookie: bool,
    /// Host (lowercase) and path the jar matches cookies against.
    cookie_host: String,
    cookie_path: String,
    expected: StatusSet,
    timeout: Duration,
    /// Read the body as a stream of events.
    stream: Option<ResponseStream>,
    /// Safe to resend when a reused connection turns out to have been closed by the server.
    idempotent: bool,
    /// The parts rendered per request, when the step has run-time values.
    dynamic: Option<Box<Dynamic>>,
    /// What a 429 does (`rate_limit:`); always `Count` when the step expects 429 itself.
    rate_limit: RateLimitPolicy,
}

/// What a compile needs from the protocol instance.
pub(crate) struct CompileEnv<'a> {
    pub index: usize,
    pub tls: &'a TlsConfigs,
}

impl HttpAction {
    pub(crate) fn compile(
        step: &HttpStep,
        cx: &CompileContext<'_>,
        env: CompileEnv<'_>,
    ) -> Result<Self, Error> {
        let defaults = &cx.plan.defaults;
        let uri = resolve_url(&step.url, cx.plan.target.as_ref())?;
        let origin = origin_of(&uri, env.tls, defaults)?;
        if uri.authority().is_some_and(|a| HeaderValue::from_str(host_port(a)).is_err()) {
            return Err(Error::InvalidUrl {
                url: uri.to_string(),
                reason: "host is not a valid header value",
            });
        }

        let (body, content_type) = match &step.body {
            None => (Bytes::new(), None),
            Some(Body::Json(value)) => (
                Bytes::from(serde_json::to_vec(value).map_err(|e| Error::Body(e.to_string()))?),
                Some("application/json"),
            ),
            Some(Body::Raw(text)) => (Bytes::from(text.clone()), None),
            Some(Body::Form(pairs)) => {
                (Bytes::from(form_urlencode(pairs)), Some("application/x-www-form-urlencoded"))
            }
        };

        // Step headers replace plan defaults of the same name, and are appended in order
        // among themselves so that a step can send a header twice.
        let mut headers = HeaderMap::new();
        let varying = step.dynamic.as_ref().map_or(&[][..], |d| &d.headers[..]);
        for (name, value) in &defaults.headers {
            if !step.headers.iter().any(|(n, _)| n == name) && !varying.iter().any(|(n, _)| n == name) {
                headers.append(name.clone(), value.clone());
            }
        }
        for (name, value) in &step.headers {
            headers.append(name.clone(), value.clone());
        }
        // A header the step sets at run time replaces the automatic one too.
        let varies = |name: &HeaderName| varying.iter().any(|(n, _)| n == name);
        if !headers.contains_key(USER_AGENT) && !varies(&USER_AGENT) {
            headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        if let Some(ct) = content_type {
            if !headers.contains_key(CONTENT_TYPE) && !varies(&CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
        }
        let own_cookie = headers.contains_key(http::header::COOKIE) || varies(&http::header::COOKIE);
        let dynamic = match &step.dynamic {
            Some(d) => {
                Some(Box::new(Dynamic::new(d, &uri, headers.clone()).ok_or_else(|| Error::InvalidUrl {
                    url: uri.to_string(),
                    reason: "its run-time part is not in the path or query",
                })?))
            }
            None => None,
        };
        // A request with run-time values is written per request; the compiled one then only
        // says how to read the response, and needs no body.
        let h1_body = if dynamic.is_some() { Bytes::new() } else { body.clone() };
        let h1 = H1Request::new(&step.method, &uri, &headers, &h1_body);
        let mut headers_h2 = headers;
        remove_connection_fields(&mut headers_h2);

        let cookie_host = uri.host().unwrap_or("").to_ascii_lowercase();
        let cookie_path = uri.path().to_string();
        Ok(HttpAction {
            index: env.index,
            slot: cx.slot,
            name: step.name.clone(),
            method: step.method.clone(),
            origin,
            h1,
            uri_absolute: uri,
            headers_h2,
            body,
            keep_body: step.checks.iter().any(|c| c.kind.needs_body())
                || step.extract.iter().any(|e| e.source.needs_body()),
            // Always, since any response may be a 429 whose `Retry-After` is read from it:
            // a copy of a few hundred bytes into a buffer the VU reuses.
            keep_head: true,
            check_names: step
                .checks
                .iter()
                .map(|c| c.name.clone())
                .chain(step.extract.iter().map(|e| format!("extract {}", e.name)))
                .collect(),
            checks: step.checks.clone(),
            checks_fail_request: step.checks_fail_request,
            extract: step.extract.clone(),
            cookies: defaults.cookies.then_some(defaults.reset_cookies_each_iteration),
            own_cookie,
            cookie_host,
            cookie_path,
            expected: step.expected_status.clone(),
            timeout: step.timeout,
            stream: step.stream,
            idempotent: step.method.is_idempotent(),
            dynamic,
            // A step that expects 429 (testing the limiter itself) wants to see it, not retry.
            rate_limit: if step.expected_status.contains(TOO_MANY_REQUESTS) {
                RateLimitPolicy::Count
            } else {
                step.rate_limit
            },
        })
    }

    /// The HTTP/2 request for one attempt. Cloning the compiled parts is cheap
    /// (reference-counted bytes) except the header map, which hyper takes by value.
    /// `None` if a rendered request cannot be expressed in the `http` types (not sent).
    fn request_h2(&self, cookie: Option<&[u8]>, rendered: Option<&Rendered>) -> Option<Request<ReqBody>> {
        let (uri, headers) = match (rendered, &self.dynamic) {
            (Some(r), Some(d)) => {
                let (uri, mut headers) = d.h2_parts(r, &self.uri_absolute)?;
                remove_connection_fields(&mut headers);
                (uri, headers)
            }
            _ => (self.uri_absolute.clone(), self.headers_h2.clone()),
        };
        let body = rendered.and_then(|r| r.body.clone()).unwrap_or_else(|| self.body.clone());
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = self.method.clone();
        *req.version_mut() = Version::HTTP_2;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        if let Some(value) = cookie.and_then(|c| HeaderValue::from_bytes(c).ok()) {
            req.headers_mut().append(http::header::COOKIE, value);
        }
        Some(req)
    }

    /// One attempt. `retrying` says how far a 429 retry loop has got: an attempt that will be
    /// retried skips its checks and extractions, which belong to the answer that stands.
    async fn run_once(&self, vu: &mut Vu, retrying: &Retrying) -> StepOutcome {
        let start = Instant::now();
        // Rendered before the session is borrowed (rendering reads the VU), into buffers the
        // session keeps between requests.
        let mut rendered = None;
        if let Some(dynamic) = &self.dynamic {
            let mut buffers = std::mem::take(&mut vu.session(self.slot, HttpSession::default).rendered);
            let result = dynamic.render(vu, &mut buffers);
            match result {
                Ok(()) => rendered = Some(buffers),
                Err(why) => {
                    vu.session(self.slot, HttpSession::default).rendered = buffers;
                    return self.not_sent(vu, why);
                }
            }
        }
        // Taken out for the request (a move, no allocation), so that extraction can set
        // variables while the session is borrowed; put back at the end.
        let mut vars = std::mem::take(&mut vu.vars);
        let iteration = vu.iteration;
        // Cheap reference-count bumps, so the session can be borrowed alongside.
        let identity = vu.identity().tags.clone();
        let group = vu.group.clone();
        let scheduled_at = vu.scheduled_at;
        let (session, recorder) = vu.session_and_recorder(self.slot, HttpSession::default);
        let HttpSession {
            pool,
            body,
            tags,
            stream,
            timer,
            head,
            jar,
            request_head,
            passed,
            scratch,
            rendered: rendered_buffers,
        } = session;

        let deadline = stampede_proto::deadline_after(start, self.timeout);
        let timer = match timer {
            Some(timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        let mut t = Timeline::new(start);
        body.clear();
        let scanner = match self.stream {
            Some(format) => {
                stream.reset(format);
                Some(&mut *stream)
            }
            None => None,
        };
        head.clear();
        let secure = self.uri_absolute.scheme() == Some(&UriScheme::HTTPS);
        // A rendered URL's own path, for the jar's path matching (a copy: the rendered request
        // is written below while the jar still needs the path).
        let rendered_path = match (&self.cookies, rendered.as_ref().and_then(Rendered::path)) {
            (Some(_), Some(path)) => Some(path.to_string()),
            _ => None,
        };
        let path = rendered_path.as_deref().unwrap_or(&self.cookie_path);
        let destination = Destination { host: &self.cookie_host, path, secure };
        let cookie = match self.cookies {
            Some(reset) => {
                if reset {
                    jar.reset_on_new_iteration(iteration);
                }
                if self.own_cookie { None } else { jar.header_for(destination, std::time::SystemTime::now()) }
            }
            None => None,
        };
        if let (Some(r), Some(d)) = (&mut rendered, &self.dynamic) {
            d.write_h1(r, &self.method, (&self.uri_absolute, &self.body), cookie);
        }
        let h1_head = match &rendered {
            Some(r) => Some(&r.head[..]),
            None => cookie.map(|value| {
                self.h1.head_with_field(b"cookie", value, request_head);
                &request_head[..]
            }),
        };
        let exchange = Exchange {
            pool: &mut *pool,
            body: &mut *body,
            head: self.keep_head.then_some(&mut *head),
            stream: scanner,
            t: &mut t,
            request: (h1_head, cookie),
            rendered: rendered.as_ref(),
        };
        let finished = tokio::select! {
            biased;
            result = self.exchange(exchange) => Some(result),
            () = timer.as_mut() => None,
        };
        let result = finished.unwrap_or_else(|| {
            // The connection is mid-request; HTTP/1 cannot reuse it, and a fresh one is
            // the predictable choice for HTTP/2 too.
            if let Some(mut conn) = pool.remove(&self.origin) {
                t.add_bytes(conn.take_bytes());
            }
            Err(FailureKind::Timeout)
        });
        let end = Instant::now();
        t.finish(end);

        let (status, mut failure) = match result {
            Ok(status) if self.expected.contains(status) => (Some(status), None),
            // Rate limited: its own class (see `ratelimit`), never a failure.
            Ok(TOO_MANY_REQUESTS) => (Some(TOO_MANY_REQUESTS), None),
            Ok(status) => (Some(status), Some(FailureKind::Status(status))),
            Err(kind) => (None, Some(kind)),
        };
        let kept: &[u8] = if status.is_some() { body } else { &[] };
        let kept_head: &[u8] = if status.is_some() { head } else { &[] };
        if status.is_some() && self.cookies.is_some() {
            let now = std::time::SystemTime::now();
            for (_, value) in check::fields(kept_head).filter(|(n, _)| n.eq_ignore_ascii_case(b"set-cookie"))
            {
                jar.store(value, destination, now);
            }
        }
        let mut response = Response::new(status, kept_head, kept, t.duration());
        passed.clear();
        let retried = status == Some(TOO_MANY_REQUESTS) && retrying.will_retry(self.rate_limit, kept_head);
        if !retried {
            check::evaluate(&self.checks, &mut response, |_, ok| passed.push(ok));
            if failure.is_none() && self.checks_fail_request && passed.contains(&false) {
                failure = Some(FailureKind::Check);
            }
            extract::run(&self.extract, &mut response, (&mut vars, scratch), |_, ok| passed.push(ok));
        }
        let source = TagSource {
            identity: &identity,
            name: &self.name,
            method: self.method.as_str(),
            checks: &self.check_names,
        };
        let key = TagKey { status: status.unwrap_or(0), failure, group };
        let registry = recorder.registry();
        let tags = tags.get(self.index, key, |key| source.intern(key, registry));
        record(recorder, &t, (tags.step, failure.is_some()), end);
        // A stream cut short (a timeout, a reset) still reports the events it delivered.
        if let Some(format) = self.stream.filter(|_| status.is_some() || stream.stats.events > 0) {
            let streamed = Streamed { stats: &stream.stats, format, start, receiving: t.receiving, end };
            record_stream(recorder, tags.step, streamed);
        }
        if let Some(scheduled) = scheduled_at {
            // Open models: the response time from the iteration's scheduled start, so that a
            // stall of the target cannot hide (no coordinated omission).
            let latency = end.saturating_duration_since(scheduled);
            recorder.record_at(builtin::HTTP_REQ_LATENCY, tags.step, end, ms(latency));
        }
        for (i, &ok) in passed.iter().enumerate() {
            recorder.record_at(builtin::CHECKS, tags.checks[i], end, f64::from(u8::from(ok)));
        }
        if let Some(r) = rendered {
            *rendered_buffers = r;
        }
        if body.capacity() > RETAINED_BODY_CAPACITY {
            *body = Vec::new();
        }

        vu.vars = vars;
        vu.last_status = status;
        StepOutcome { failed: failure.is_some(), status }
    }

    /// A request that could not be built for this VU (a variable no step set yet, a value
    /// that is not valid in a URL or header): counted as failed with `error:variable`, without
    /// durations, since nothing was sent. A data source that ran out halts the VU instead, and
    /// counts nothing.
    fn not_sent(&self, vu: &mut Vu, why: NotSent) -> StepOutcome {
        if matches!(why, NotSent::Render(stampede_proto::RenderError::Exhausted(_))) {
            return StepOutcome { failed: true, status: None };
        }
        let tags = self.request_tags(vu, 0, Some(FailureKind::Variable));
        vu.recorder().record(builtin::HTTP_REQ_FAILED, tags, 1.0);
        vu.last_status = None;
        StepOutcome { failed: true, status: None }
    }

    /// The 429 `run_once` just got: its tags (as a request that did not fail) and the
    /// `Retry-After` in the head it kept. Only called after a 429, so the tag set is a hit in
    /// the VU's cache.
    fn limited(&self, vu: &mut Vu) -> Limited {
        let tags = self.request_tags(vu, TOO_MANY_REQUESTS, None);
        let head = &vu.session(self.slot, HttpSession::default).head;
        let retry_after = crate::ratelimit::retry_after_in_head(head, std::time::SystemTime::now());
        Limited { tags, retry_after }
    }

    /// The tag set of this step's request samples with `status` and `failure`, from the VU's
    /// cache (a hit after the first time).
    fn request_tags(
        &self,
        vu: &mut Vu,
        status: u16,
        failure: Option<FailureKind>,
    ) -> stampede_metrics::TagSetId {
        let identity = vu.identity().tags.clone();
        let group = vu.group.clone();
        let (session, recorder) = vu.session_and_recorder(self.slot, HttpSession::default);
        let source = TagSource {
            identity: &identity,
            name: &self.name,
            method: self.method.as_str(),
            checks: &self.check_names,
        };
        let key = TagKey { status, failure, group };
        let registry = recorder.registry();
        session.tags.get(self.index, key, |key| source.intern(key, registry)).step
    }

    /// Connects if needed, sends, reads the whole response. On a transport failure the
    /// connection is dropped. A failure on a *reused* connection before any response byte
    /// (the server closed it while idle: the keep-alive race every client has) is retried once
    /// on a fresh connection, if the request is idempotent or was not written at all.
    async fn exchange(&self, x: Exchange<'_>) -> Result<u16, FailureKind> {
        let Exchange { pool, body, mut head, mut stream, t, request, rendered } = x;
        let (h1_head, cookie) = request;
        let mut retried = false;
        loop {
            let conn = pool.checkout(&self.origin, t).await?;
            let reused = conn.used;
            conn.used = true;
            let failure = match &mut conn.link {
                Link::H1(h1) => {
                    let sink = self.sink(body, stream.as_deref_mut(), head.as_deref_mut());
                    match h1.exchange(&self.h1, h1_head, sink, t).await {
                        Ok(outcome) => {
                            if !outcome.reusable {
                                pool.remove(&self.origin);
                            }
                            return Ok(outcome.status);
                        }
                        Err(failure) => failure,
                    }
                }
                Link::H2(h2) => {
                    if reused {
                        t.attach(h2.stats.clone());
                        t.set_first_byte_from_reads(false);
                    }
                    let sink = self.sink(body, stream.as_deref_mut(), head.as_deref_mut());
                    match self.send_h2(h2, (sink, cookie, rendered), t).await {
                        Ok(status) => return Ok(status),
                        Err(failure) => failure,
                    }
                }
            };
            if let Some(mut dead) = pool.remove(&self.origin) {
                t.add_bytes(dead.take_bytes());
            }
            let retry = !retried
                && reused
                && failure.kind == FailureKind::Reset
                && failure.progress < Progress::Received
                && (self.idempotent || failure.progress == Progress::NotWritten);
            if !retry {
                return Err(failure.kind);
            }
            retried = true;
            t.enter_now(Phase::Blocked);
        }
    }

    /// Where this request's body goes: kept when a check needs it, scanned when streamed.
    fn sink<'a>(
        &self,
        body: &'a mut Vec<u8>,
        stream: Option<&'a mut StreamScanner>,
        head: Option<&'a mut Vec<u8>>,
    ) -> BodySink<'a> {
        BodySink { keep: if self.keep_body { Some(body) } else { None }, stream, head }
    }

    async fn send_h2(
        &self,
        conn: &mut H2Conn,
        sink: (BodySink<'_>, Option<&[u8]>, Option<&Rendered>),
        t: &mut Timeline,
    ) -> Result<u16, AttemptFailure> {
        let (mut body, cookie, rendered) = sink;
        let fail =
            |progress: Progress| move |e: hyper::Error| AttemptFailure { kind: classify_hyper(&e), progress };
        conn.ready().await.map_err(fail(Progress::NotWritten))?;
        let request = self
            .request_h2(cookie, rendered)
            .ok_or(AttemptFailure { kind: FailureKind::Variable, progress: Progress::NotWritten })?;
        t.start_sending();
        let response = conn.send(request).await.map_err(|e| {
            let progress = match t.marks().sent {
                None => Progress::NotWritten,
                Some(_) => Progress::Written,
            };
            fail(progress)(e)
        })?;
        t.sync_io(Instant::now(), true);

        let status = response.status().as_u16();
        if body.wants_head() {
            for (name, value) in response.headers() {
                body.field(name.as_str().as_bytes(), value.as_bytes());
            }
        }
        let mut incoming = response.into_body();
        let mut at = t.mark();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(fail(Progress::Received))?;
            if let Some(data) = frame.data_ref() {
                // Frame by frame, as they arrive: a streamed body's events are timed here.
                if body.is_streaming() {
                    at = Instant::now();
                }
                body.data(data, at);
            }
        }
        body.finish(if body.is_streaming() { Instant::now() } else { at });
        Ok(status)
    }
}

impl Action for HttpAction {
    fn run<'a>(&'a self, vu: &'a mut Vu) -> BoxFuture<'a, StepOutcome> {
        Box::pin(async move {
            let mut retrying = Retrying::default();
            loop {
                let outcome = self.run_once(vu, &retrying).await;
                if outcome.status != Some(TOO_MANY_REQUESTS) {
                    return outcome;
                }
                let limited = self.limited(vu);
                let Some(wait) = retrying.after_429(self.rate_limit, limited, vu.recorder()) else {
                    return outcome;
                };
                // When the VU is stopped this future is dropped, and the wait with it.
                tokio::time::sleep(wait).await;
                retrying.waited(wait, limited.tags, vu.recorder());
            }
        })
    }
}

/// HTTP/1.1's connection-specific fields, which HTTP/2 forbids.
fn remove_connection_fields(headers: &mut HeaderMap) {
    for name in ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"] {
        headers.remove(HeaderName::from_static(name));
    }
}

/// The parts of a VU's session an exchange works on.
struct Exchange<'a> {
    pool: &'a mut ConnPool,
    body: &'a mut Vec<u8>,
    /// Where the response's header fields go, if kept.
    head: Option<&'a mut Vec<u8>>,
    stream: Option<&'a mut StreamScanner>,
    t: &'a mut Timeline,
    /// The HTTP/1.1 head to send instead of the compiled one, and the `cookie` value
    /// HTTP/2 adds, when the jar has cookies for this request.
    request: (Option<&'a [u8]>, Option<&'a [u8]>),
    /// The rendered parts of a request with run-time values.
    rendered: Option<&'a Rendered>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Records the request's samples (all but checks) at `end`. `outcome` is the tag set and
/// whether the request failed.
fn record(recorder: &mut Recorder, t: &Timeline, outcome: (stampede_metrics::TagSetId, bool), end: Instant) {
    let (tags, failed) = outcome;
    let samples = [
        (builtin::HTTP_REQS, 1.0),
        (builtin::HTTP_REQ_FAILED, f64::from(u8::from(failed))),
        (builtin::HTTP_REQ_DURATION, ms(t.duration())),
        (builtin::HTTP_REQ_BLOCKED, ms(t.blocked)),
        (builtin::HTTP_REQ_CONNECTING, ms(t.connecting)),
        (builtin::HTTP_REQ_TLS_HANDSHAKING, ms(t.tls_handshaking)),
        (builtin::HTTP_REQ_SENDING, ms(t.sending)),
        (builtin::HTTP_REQ_WAITING, ms(t.waiting)),
        (builtin::HTTP_REQ_RECEIVING, ms(t.receiving)),
        (builtin::DATA_SENT, t.bytes_sent as f64),
        (builtin::DATA_RECEIVED, t.bytes_received as f64),
    ];
    for (metric, value) in samples {
        recorder.record_at(metric, tags, end, value);
    }
}

/// A streamed response, as its samples need it.
struct Streamed<'a> {
    /// What the scanner found.
    stats: &'a StreamStats,
    format: ResponseStream,
    /// When the request started (time to first event and token count from here).
    start: Instant,
    /// From the first byte to the end of the body: the stream's duration.
    receiving: Duration,
    end: Instant,
}

/// Records a streamed response's samples at its end, with the request's tags.
fn record_stream(recorder: &mut Recorder, tags: stampede_metrics::TagSetId, streamed: Streamed<'_>) {
    let Streamed { stats, format, start, receiving, end } = streamed;
    let mut put = |metric, value| recorder.record_at(metric, tags, end, value);
    put(builtin::STREAM_EVENTS, stats.events as f64);
    put(builtin::STREAM_EVENTS_PER_RESPONSE, stats.events as f64);
    put(builtin::STREAM_DURATION, ms(receiving));
    if let Some(first) = stats.first_event {
        put(builtin::STREAM_TIME_TO_FIRST_EVENT, ms(first.saturating_duration_since(start)));
    }
    for gap in stats.event_gaps.ms() {
        put(builtin::STREAM_EVENT_GAP, gap);
    }
    if format != ResponseStream::OpenAiChat {
        return;
    }
    put(builtin::LLM_OUTPUT_TOKENS, stats.tokens as f64);
    put(builtin::LLM_OUTPUT_TOKENS_PER_RESPONSE, stats.tokens as f64);
    if let Some(first) = stats.first_token {
        put(builtin::LLM_TIME_TO_FIRST_TOKEN, ms(first.saturating_duration_since(start)));
    }
    for gap in stats.token_gaps.ms() {
        put(builtin::LLM_INTER_TOKEN_LATENCY, gap);
    }
    if let Some(rate) = stats.tokens_per_second() {
        put(builtin::LLM_TOKENS_PER_SECOND, rate);
    }
}

/// Resolves a step URL: absolute `http(s)://` URLs as they are, anything else relative to the
/// plan's target, whose path is kept as a prefix (`target: http://h/api` + `/users` →
/// `http://h/api/users`, as Locust's `host` works).
pub(crate) fn resolve_url(url: &str, target: Option<&Uri>) -> Result<Uri, Error> {
    let invalid = |reason: &'static str| Error::InvalidUrl { url: url.to_string(), reason };
    let has_scheme = url.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let uri: Uri = if has_scheme {
        url.parse().map_err(|_| invalid("not a valid url"))?
    } else {
        let target = target.ok_or_else(|| Error::NoTarget(url.to_string()))?;
        let scheme = target.scheme_str().ok_or_else(|| invalid("the plan target has no scheme"))?;
        let authority = target.authority().ok_or_else(|| invalid("the plan target has no host"))?;
        let prefix = target.path().trim_end_matches('/');
        let sep = if url.starts_with('/') || url.starts_with('?') || url.is_empty() { "" } else { "/" };
        let path = if prefix.is_empty() && url.is_empty() { "/" } else { url };
        format!("{scheme}://{authority}{prefix}{sep}{path}")
            .parse()
            .map_err(|_| invalid("not a valid url once joined to the plan target"))?
    };
    match uri.scheme() {
        Some(s) if *s == UriScheme::HTTP || *s == UriScheme::HTTPS => {}
        Some(s) => return Err(Error::Scheme(s.to_string())),
        None => return Err(invalid("no scheme")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(uri)
}

fn origin_of(uri: &Uri, tls: &TlsConfigs, defaults: &stampede_plan::Defaults) -> Result<Origin, Error> {
    let invalid = |reason: &'static str| Error::InvalidUrl { url: uri.to_string(), reason };
    let scheme = if uri.scheme() == Some(&UriScheme::HTTPS) { Scheme::Https } else { Scheme::Http };
    let host = uri.host().ok_or_else(|| invalid("no host"))?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    });
    // Only host and port identify the connection: credentials in the URL do not.
    let authority: Authority = match uri.port() {
        Some(p) => format!("{}:{}", uri.host().unwrap_or(host), p.as_str()),
        None => uri.host().unwrap_or(host).to_string(),
    }
    .parse()
    .map_err(|_| invalid("invalid host"))?;
    let tls = match scheme {
        Scheme::Http => None,
        Scheme::Https => {
            let name = ServerName::try_from(host.to_string())
                .map_err(|_| invalid("host is not a valid tls server name"))?;
            let config = tls.get(defaults.insecure_skip_tls_verify, defaults.http_version)?;
            Some((name, config))
        }
    };
    Ok(Origin {
        scheme,
        authority,
        host: host.into(),
        port,
        ip: host.parse::<IpAddr>().ok(),
        tls,
        version: defaults.http_version,
    })
}

/// Host and port of an authority, without credentials: what `host` carries.
fn host_port(authority: &Authority) -> &str {
    let authority = authority.as_str();
    authority.rsplit_once('@').map_or(authority, |(_, hp)| hp)
}

/// `application/x-www-form-urlencoded` as browsers produce it: unreserved bytes as is,
/// space as `+`, everything else percent-encoded.
fn form_urlencode(pairs: &[(String, String)]) -> String {
    use stampede_plan::template::escape_form;
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape_form(k, &mut out);
        out.push('=');
        escape_form(v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn relative_urls_join_the_target_keeping_its_path() {
        let t = target("http://api.local:8080/v1/");
        let r = |u| resolve_url(u, Some(&t)).unwrap().to_string();
        assert_eq!(r("/users?id=1"), "http://api.local:8080/v1/users?id=1");
        assert_eq!(r("users"), "http://api.local:8080/v1/users");
        let bare = target("https://h");
        assert_eq!(resolve_url("/", Some(&bare)).unwrap().to_string(), "https://h/");
        assert_eq!(resolve_url("", Some(&bare)).unwrap().to_string(), "https://h/");
        assert_eq!(resolve_url("https://other:9/x", Some(&t)).unwrap().to_string(), "https://other:9/x");
    }

    #[test]
    fn impossible_urls_are_errors() {
        assert!(matches!(resolve_url("/x", None), Err(Error::NoTarget(_))));
        assert!(matches!(resolve_url("ftp://h/x", None), Err(Error::Scheme(_))));
        assert!(resolve_url("http://", None).is_err());
        let t = target("http://h");
        assert!(resolve_url("/a b", Some(&t)).is_err());
    }

    #[test]
    fn form_bodies_are_percent_encoded() {
        let pairs =
            vec![("user name".to_string(), "a&b=c".to_string()), ("ü".to_string(), "x-y_z.*~".to_string())];
        assert_eq!(form_urlencode(&pairs), "user+name=a%26b%3Dc&%C3%BC=x-y_z.*%7E");
    }

    #[test]
    fn host_port_drops_credentials_and_keeps_the_port() {
        let uri = target("http://u:p@h:81/x");
        assert_eq!(host_port(uri.authority().unwrap()), "h:81");
        assert_eq!(host_port(target("http://[::1]/").authority().unwrap()), "[::1]");
    }
}
