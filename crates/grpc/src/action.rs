//! A compiled grpc step and its run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::uri::PathAndQuery;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use stampede_metrics::{Registry, builtin};
use stampede_plan::{CheckKind, GrpcStep};
// The gRPC code names, by code: one list, the plan's, which validates them.
use stampede_plan::GRPC_CODES as CODE_NAMES;
use stampede_proto::{
    BoxFuture, FailureKind, RenderError, SessionSlot, StepOutcome, StepTags, TagCache, TagKey, TagSetBuilder,
    Vu,
};
use tokio::time::Instant;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::Error;
use crate::codec::DynamicCodec;
use crate::connect::{ConnectError, PlainConnector, TlsConnector, TlsTarget, Totals, Wire};
use crate::reflection::ReflectionError;

/// What [`GrpcAction::compile`] needs from the protocol.
#[derive(Debug)]
pub(crate) struct CompileEnv {
    pub(crate) index: usize,
    pub(crate) target: usize,
    pub(crate) uri: String,
    /// The client configuration of an `https://` target.
    pub(crate) tls: Option<Arc<ClientConfig>>,
    pub(crate) slot: SessionSlot,
}

/// Plaintext (h2c) or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `host:port` or `http://`.
    Plain,
    /// `https://`.
    Tls,
}

/// Where a step connects.
#[derive(Debug)]
pub(crate) struct Target {
    /// `scheme://host:port`.
    pub(crate) uri: String,
    pub(crate) scheme: Scheme,
}

/// The URI to connect to: the step's target (`host:port` means plaintext) or the plan's.
pub(crate) fn target(step: Option<&str>, plan: Option<&http::Uri>) -> Result<Target, Error> {
    let uri = match (step, plan) {
        (Some(t), _) if t.contains("://") => t.to_string(),
        (Some(t), _) => format!("http://{t}"),
        (None, Some(p)) => {
            let authority = p.authority().ok_or(Error::Target(p.to_string(), "it has no host"))?;
            format!("{}://{authority}", p.scheme_str().unwrap_or("http"))
        }
        (None, None) => return Err(Error::Target(String::new(), "give `target:` or a plan target")),
    };
    let parsed: http::Uri = uri.parse().map_err(|_| Error::Target(uri.clone(), "not host:port or a URL"))?;
    let scheme = match parsed.scheme_str() {
        Some("http") => Scheme::Plain,
        Some("https") => Scheme::Tls,
        _ => return Err(Error::Target(uri, "use host:port, http://host:port or https://host:port")),
    };
    if parsed.host().is_none() {
        return Err(Error::Target(uri, "it has no host"));
    }
    Ok(Target { uri, scheme })
}

/// The tonic endpoint of `uri`, and for TLS where the handshake goes. tonic is given the
/// `http://` form with an `https://` origin (see the `connect` module).
fn endpoint(uri: &str, tls: Option<Arc<ClientConfig>>, deadline: Duration) -> Result<Connect, Error> {
    let invalid = || Error::Target(uri.to_string(), "not a valid URI");
    let Some(config) = tls else {
        let endpoint = Endpoint::from_shared(uri.to_string()).map_err(|_| invalid())?;
        return Ok(Connect { endpoint: endpoint.connect_timeout(deadline), tls: None });
    };
    let parsed: http::Uri = uri.parse().map_err(|_| invalid())?;
    let authority = parsed.authority().ok_or_else(invalid)?;
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Error::Target(uri.to_string(), "the host is not a valid TLS server name"))?;
    // tonic needs a port to dial: https's default when the URL has none.
    let port = authority.port_u16().unwrap_or(443);
    let endpoint = Endpoint::from_shared(format!("http://{}:{port}", authority.host()))
        .map_err(|_| invalid())?
        .origin(parsed)
        .connect_timeout(deadline);
    Ok(Connect { endpoint, tls: Some(TlsTarget { config, name }) })
}

/// How a step opens its channel.
#[derive(Debug)]
struct Connect {
    endpoint: Endpoint,
    tls: Option<TlsTarget>,
}

impl Connect {
    /// Opens a channel whose connection counts its bytes into `wire` (as do the connections
    /// tonic reopens for it later).
    async fn channel(&self, wire: Arc<Wire>) -> Result<Channel, FailureKind> {
        let connected = match &self.tls {
            None => self.endpoint.connect_with_connector(PlainConnector { wire }).await,
            Some(target) => {
                self.endpoint.connect_with_connector(TlsConnector { target: target.clone(), wire }).await
            }
        };
        connected
            .map_err(|e| if ConnectError::is_handshake(&e) { FailureKind::Tls } else { FailureKind::Connect })
    }
}

/// What a call needs from the method's descriptors.
#[derive(Debug)]
struct Resolved {
    path: PathAndQuery,
    codec: DynamicCodec,
    /// The encoded request messages: exactly one unless the method streams requests.
    requests: Arc<[Bytes]>,
    /// The method takes a request stream (client- or bidi-streaming).
    is_client_streaming: bool,
    /// The request type, to encode messages rendered per call.
    input: prost_reflect::MessageDescriptor,
}

/// Finds `method` (`package.Service/Method`) in `pool` and encodes `messages` for it, except
/// those `varies` marks (rendered and encoded per call; their entry stays empty).
fn resolve(
    pool: &DescriptorPool,
    method: &str,
    messages: (&[serde_json::Value], &[bool]),
) -> Result<Resolved, Error> {
    let (messages, varies) = messages;
    let (service, name) = method.split_once('/').ok_or_else(|| Error::NoMethod(method.to_string()))?;
    let descriptor = pool
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == name))
        .ok_or_else(|| Error::NoMethod(method.to_string()))?;
    let is_client_streaming = descriptor.is_client_streaming();
    if !is_client_streaming && messages.len() != 1 {
        return Err(Error::NotClientStreaming(method.to_string()));
    }
    let input = descriptor.input();
    let requests = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            if varies.get(i).copied().unwrap_or(false) {
                return Ok(Bytes::new());
            }
            DynamicMessage::deserialize(input.clone(), message)
                .map(|m| Bytes::from(m.encode_to_vec()))
                .map_err(|e| Error::Message { ty: input.full_name().to_string(), message: e.to_string() })
        })
        .collect::<Result<_, _>>()?;
    let path = PathAndQuery::try_from(format!("/{service}/{name}"))
        .map_err(|_| Error::NoMethod(method.to_string()))?;
    Ok(Resolved {
        path,
        codec: DynamicCodec { output: descriptor.output() },
        requests,
        is_client_streaming,
        input,
    })
}

/// The request stream of a client- or bidi-streaming call: `requests` in order, `interval`
/// apart, each counted in `sent` as tonic takes it to encode (so a call cut short by its
/// deadline or by the server counts only what left).
fn request_stream(
    requests: Arc<[Bytes]>,
    interval: Option<Duration>,
    sent: Arc<AtomicU64>,
) -> impl Stream<Item = Bytes> + Send + 'static {
    futures_util::stream::unfold(0usize, move |i| {
        let next = requests.get(i).cloned();
        let sent = sent.clone();
        async move {
            let message = next?;
            if let Some(pause) = interval.filter(|_| i > 0) {
                tokio::time::sleep(pause).await;
            }
            sent.fetch_add(1, Ordering::Relaxed);
            Some((message, i + 1))
        }
    })
}

/// The status code of a call whose deadline passed.
const DEADLINE_EXCEEDED: u8 = 4;

/// A compiled grpc step.
#[derive(Debug)]
pub(crate) struct GrpcAction {
    index: usize,
    target: usize,
    slot: SessionSlot,
    connect: Connect,
    name: String,
    method: String,
    /// The method's path, codec and encoded request: known at compile time from a .proto
    /// file, or fetched by reflection at the first call (then shared by every VU).
    resolved: tokio::sync::OnceCell<Arc<Resolved>>,
    /// Why reflection can never resolve the method, once the server said so: later calls
    /// fail at once, without asking again (the reason is printed once).
    refused: std::sync::OnceLock<String>,
    /// The requests as written, kept for reflection (converted once the type is known).
    messages: Vec<serde_json::Value>,
    /// The pause between streamed request messages.
    interval: Option<Duration>,
    metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
    /// Which of `messages` are rendered per call.
    varies: Vec<bool>,
    /// Messages and metadata with run-time values.
    dynamic: Option<Box<stampede_plan::GrpcDynamic>>,
    deadline: Duration,
    /// Expected status codes (default: OK only).
    expected: Vec<u8>,
    /// `check: { status: ... }` is a check too, as on http steps: its name (`status is OK`),
    /// first of the step's checks.
    status_check: Option<String>,
    checks: Vec<stampede_plan::Check>,
}

impl GrpcAction {
    /// Compiles the step; without `pool` (reflection), the method is resolved at first use.
    pub(crate) fn compile(
        step: &GrpcStep,
        pool: Option<&DescriptorPool>,
        env: CompileEnv,
    ) -> Result<Self, Error> {
        let resolved = tokio::sync::OnceCell::new();
        let varies: Vec<bool> = match &step.dynamic {
            Some(d) => d.messages.iter().map(Option::is_some).collect(),
            None => Vec::new(),
        };
        if let Some(pool) = pool {
            let _ = resolved.set(Arc::new(resolve(pool, &step.method, (&step.messages, &varies))?));
        }
        let connect = endpoint(&env.uri, env.tls, step.deadline)?;
        let metadata = step
            .metadata
            .iter()
            .map(|(k, v)| {
                let key = AsciiMetadataKey::from_bytes(k.as_bytes());
                let value = AsciiMetadataValue::try_from(v.as_str());
                match (key, value) {
                    (Ok(k), Ok(v)) => Ok((k, v)),
                    _ => {
                        Err(Error::Message { ty: "metadata".into(), message: format!("invalid entry {k:?}") })
                    }
                }
            })
            .collect::<Result<_, _>>()?;
        let expected = if step.status.is_empty() {
            vec![0]
        } else {
            step.status
                .iter()
                .filter_map(|s| CODE_NAMES.iter().position(|n| n == s).map(|i| i as u8))
                .collect()
        };
        Ok(GrpcAction {
            index: env.index,
            target: env.target,
            slot: env.slot,
            connect,
            name: step.name.clone(),
            method: step.method.clone(),
            resolved,
            refused: std::sync::OnceLock::new(),
            messages: step.messages.clone(),
            interval: step.interval,
            metadata,
            varies,
            dynamic: step.dynamic.clone(),
            deadline: step.deadline,
            expected,
            status_check: (!step.status.is_empty())
                .then(|| format!("status is {}", step.status.join(" or "))),
            checks: step.checks.clone(),
        })
    }

    async fn run_once(&self, vu: &mut Vu) -> StepOutcome {
        let start = Instant::now();
        let rendered = match &self.dynamic {
            Some(d) => match render(vu, d) {
                Ok(r) => Some(r),
                // The VU's data source ran out: it stops, nothing is counted.
                Err(Some(RenderError::Exhausted(_))) => return StepOutcome { failed: true, status: None },
                Err(_) => None,
            },
            None => None,
        };
        // A clone, not taken out: a call cut short (the run ending) leaves the VU its
        // connection, whose bytes then count towards the next call.
        let conn = vu.session(self.slot, Session::default).channels.get(self.target).cloned().flatten();
        let mut call = match (&self.dynamic, &rendered) {
            // A variable is not set, or rendered into an invalid metadata value: not sent.
            (Some(_), None) => Call { failure: Some(FailureKind::Variable), ..Call::default() },
            _ => {
                self.call(conn, stampede_proto::deadline_after(start, self.deadline), rendered.as_ref()).await
            }
        };
        let end = Instant::now();
        // The VU's calls on a channel are sequential, so what its connection moved since the
        // previous call belongs to this one: its frames, and HTTP/2 housekeeping (SETTINGS,
        // PING, WINDOW_UPDATE) sent or read in between, which is on the wire all the same.
        // A new connection's first call also has the preface and the TLS handshake.
        let (bytes, seen) = match &call.wire {
            Some((wire, before)) => {
                let now = wire.totals();
                (now.since(*before), now)
            }
            None => (Totals::default(), Totals::default()),
        };
        let session = vu.session(self.slot, Session::default);
        if session.channels.len() <= self.target {
            session.channels.resize(self.target + 1, None);
        }
        session.channels[self.target] = match (call.channel.take(), call.wire.take()) {
            (Some(channel), Some((wire, _)))
                if !matches!(call.failure, Some(FailureKind::Connect | FailureKind::Tls)) =>
            {
                Some(Conn { channel, wire, seen })
            }
            // Dropped: the next call reconnects, with new counters.
            _ => None,
        };
        let code = call.code;
        let failure = call.failure.or_else(|| match code {
            // Whoever noticed the deadline first, the client or the server, it is a timeout.
            Some(DEADLINE_EXCEEDED) if !self.expected.contains(&DEADLINE_EXCEEDED) => {
                Some(FailureKind::Timeout)
            }
            Some(c) if !self.expected.contains(&c) => Some(FailureKind::Status(u16::from(c))),
            _ => None,
        });
        let group = vu.group.clone();
        let identity = vu.identity().tags.clone();
        let (session, recorder) = vu.session_and_recorder(self.slot, Session::default);
        let key = TagKey { status: code, failure, group };
        let registry = recorder.registry();
        let tags = session.tags.get(self.index, key, |key| intern(self, key, &identity, registry));
        recorder.record_at(builtin::GRPC_REQS, tags.step, end, 1.0);
        recorder.record_at(builtin::GRPC_REQ_DURATION, tags.step, end, ms(end - start));
        recorder.record_at(builtin::GRPC_REQ_FAILED, tags.step, end, f64::from(u8::from(failure.is_some())));
        recorder.record_at(builtin::GRPC_STREAM_MSGS_RECEIVED, tags.step, end, call.messages as f64);
        if let Some(sent) = &call.sent {
            recorder.record_at(
                builtin::GRPC_STREAM_MSGS_SENT,
                tags.step,
                end,
                sent.load(Ordering::Relaxed) as f64,
            );
        }
        if let Some(first) = call.first {
            recorder.record_at(builtin::GRPC_TIME_TO_FIRST_MESSAGE, tags.step, first, ms(first - start));
        }
        // As for ws, only calls that moved bytes (one whose variable was not set never
        // reached the wire; a refused connection moved none).
        if bytes.sent > 0 {
            recorder.record_at(builtin::DATA_SENT, tags.step, end, bytes.sent as f64);
        }
        if bytes.received > 0 {
            recorder.record_at(builtin::DATA_RECEIVED, tags.step, end, bytes.received as f64);
        }
        let offset = usize::from(self.status_check.is_some());
        if offset == 1 {
            // As for http, a call that got no status at all passes no check.
            let passed = code.is_some_and(|c| self.expected.contains(&c));
            recorder.record_at(builtin::CHECKS, tags.checks[0], end, f64::from(u8::from(passed)));
        }
        if !self.checks.is_empty() {
            // The last response message as protobuf JSON, converted only if a JSON check
            // asks for it (outer `None`: not converted yet).
            let mut doc: Option<Option<serde_json::Value>> = None;
            for (i, check) in self.checks.iter().enumerate() {
                let passed = match &check.kind {
                    // As for http, a call that got no status at all passes no check.
                    CheckKind::Duration { op, bound } => code.is_some() && op.holds(end - start, *bound),
                    // The plan gives grpc steps only the JSON kinds besides: the others answer
                    // `None` and fail.
                    kind => {
                        let doc = doc.get_or_insert_with(|| {
                            call.last.as_ref().and_then(|m| serde_json::to_value(m).ok())
                        });
                        stampede_proto::check::json_check(kind, doc.as_ref()).unwrap_or(false)
                    }
                };
                recorder.record_at(
                    builtin::CHECKS,
                    tags.checks[offset + i],
                    end,
                    f64::from(u8::from(passed)),
                );
            }
        }
        let outcome = StepOutcome { failed: failure.is_some(), status: code.map(u16::from) };
        vu.last_status = outcome.status;
        outcome
    }

    /// Connects if needed and makes the call, reading every response message until the
    /// stream ends or `deadline` passes (what was received by then still counts).
    async fn call(&self, conn: Option<Conn>, deadline: Instant, rendered: Option<&Rendered>) -> Call {
        let mut out = Call::default();
        if tokio::time::timeout_at(deadline, self.exchange(conn, &mut out, rendered)).await.is_err() {
            // Our deadline passed: DEADLINE_EXCEEDED, as grpc clients report it, exactly as
            // when the server noticed first (it gets the same `grpc-timeout`).
            out.code = Some(DEADLINE_EXCEEDED);
        }
        out
    }

    async fn exchange(&self, conn: Option<Conn>, out: &mut Call, rendered: Option<&Rendered>) {
        if self.refused.get().is_some() {
            out.failure = Some(FailureKind::Protocol);
            return;
        }
        let channel = match conn {
            Some(conn) => {
                out.wire = Some((conn.wire, conn.seen));
                conn.channel
            }
            None => {
                // New counters for a new connection, in `out` before connecting: the bytes of
                // an attempt that fails (a rejected certificate) or times out still count.
                let wire = Arc::new(Wire::default());
                out.wire = Some((wire.clone(), Totals::default()));
                match self.connect.channel(wire).await {
                    Ok(c) => c,
                    Err(kind) => {
                        out.failure = Some(kind);
                        return;
                    }
                }
            }
        };
        out.channel = Some(channel.clone());
        let resolved = self
            .resolved
            // Only a success is kept: a failed lookup is retried by the next call.
            .get_or_try_init(|| async {
                let service = self.method.split_once('/').map_or("", |(s, _)| s);
                let pool = crate::reflection::resolve(channel.clone(), service).await?;
                resolve(&pool, &self.method, (&self.messages, &self.varies))
                    .map(Arc::new)
                    .map_err(|e| ReflectionError::permanent(e.to_string()))
            })
            .await
            .cloned();
        let resolved = match resolved {
            Ok(r) => r,
            // The server has no reflection, or not this method: nothing to call.
            Err(e) => {
                if e.permanent && self.refused.set(e.reason.clone()).is_ok() {
                    eprintln!(
                        "stampede: grpc step {:?}: {}; its calls fail as error:protocol without asking again",
                        self.name, e.reason
                    );
                }
                out.failure = Some(FailureKind::Protocol);
                return;
            }
        };
        let requests = match rendered {
            Some(r) => match encode(&resolved, r) {
                Some(requests) => requests,
                // A rendered message that does not fit the request type.
                None => {
                    out.failure = Some(FailureKind::Variable);
                    return;
                }
            },
            None => resolved.requests.clone(),
        };
        let metadata = rendered.map_or(&[][..], |r| &r.metadata[..]);
        let mut grpc = tonic::client::Grpc::new(channel);
        if grpc.ready().await.is_err() {
            out.failure = Some(FailureKind::Connect);
            return;
        }
        let response = if resolved.is_client_streaming {
            let sent = Arc::new(AtomicU64::new(0));
            out.sent = Some(sent.clone());
            let stream = request_stream(requests, self.interval, sent);
            let request = self.request(stream, metadata);
            grpc.streaming(request, resolved.path.clone(), resolved.codec.clone()).await
        } else {
            let request = self.request(requests[0].clone(), metadata);
            grpc.server_streaming(request, resolved.path.clone(), resolved.codec.clone()).await
        };
        let mut stream = match response {
            Ok(r) => r.into_inner(),
            Err(status) => {
                out.code = Some(status.code() as u8);
                return;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    if out.first.is_none() {
                        out.first = Some(Instant::now());
                    }
                    out.messages += 1;
                    out.last = Some(message);
                }
                Ok(None) => {
                    out.code = Some(0);
                    break;
                }
                Err(status) => {
                    out.code = Some(status.code() as u8);
                    break;
                }
            }
        }
    }

    /// `body` with the step's deadline, its metadata and the metadata rendered for this call.
    fn request<T>(&self, body: T, rendered: &[(AsciiMetadataKey, AsciiMetadataValue)]) -> tonic::Request<T> {
        let mut request = tonic::Request::new(body);
        // `grpc-timeout` holds at most 8 digits of hours (tonic panics past that): a
        // deadline beyond thirty years is sent as thirty years, which is none all the same.
        request.set_timeout(self.deadline.min(Duration::from_secs(86_400 * 365 * 30)));
        for (k, v) in self.metadata.iter().chain(rendered) {
            request.metadata_mut().append(k.clone(), v.clone());
        }
        request
    }
}

/// A call's run-time parts, rendered for one VU: message JSON texts (for the messages that
/// vary) and metadata entries.
#[derive(Debug)]
struct Rendered {
    messages: Vec<Option<String>>,
    metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
}

/// Renders the call's templates; `Err(None)` when a rendered metadata value is not valid.
fn render(vu: &mut Vu, d: &stampede_plan::GrpcDynamic) -> Result<Rendered, Option<RenderError>> {
    let mut messages = Vec::with_capacity(d.messages.len());
    for template in &d.messages {
        let text = match template {
            Some(t) => {
                let mut out = String::new();
                vu.render(t, &mut out).map_err(Some)?;
                Some(out)
            }
            None => None,
        };
        messages.push(text);
    }
    let mut metadata = Vec::with_capacity(d.metadata.len());
    let mut text = String::new();
    for (key, template) in &d.metadata {
        text.clear();
        vu.render(template, &mut text).map_err(Some)?;
        let key = AsciiMetadataKey::from_bytes(key.as_bytes()).map_err(|_| None)?;
        let value = AsciiMetadataValue::try_from(text.as_str()).map_err(|_| None)?;
        metadata.push((key, value));
    }
    Ok(Rendered { messages, metadata })
}

/// The call's request messages: fixed ones as encoded at compile time, rendered ones encoded
/// now. `None` if a rendered one is not valid JSON for the request type.
fn encode(resolved: &Resolved, rendered: &Rendered) -> Option<Arc<[Bytes]>> {
    resolved
        .requests
        .iter()
        .enumerate()
        .map(|(i, fixed)| match rendered.messages.get(i) {
            Some(Some(text)) => {
                let mut de = serde_json::Deserializer::from_str(text);
                let message = DynamicMessage::deserialize(resolved.input.clone(), &mut de).ok()?;
                Some(Bytes::from(message.encode_to_vec()))
            }
            _ => Some(fixed.clone()),
        })
        .collect()
}

impl stampede_proto::Action for GrpcAction {
    fn run<'a>(&'a self, vu: &'a mut Vu) -> BoxFuture<'a, StepOutcome> {
        Box::pin(self.run_once(vu))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one call produced.
#[derive(Debug, Default)]
struct Call {
    channel: Option<Channel>,
    /// The counters of the connection used (or tried), and their reading before the call.
    wire: Option<(Arc<Wire>, Totals)>,
    failure: Option<FailureKind>,
    code: Option<u8>,
    first: Option<Instant>,
    messages: u64,
    /// Request messages sent, for a call that streams them.
    sent: Option<Arc<AtomicU64>>,
    last: Option<DynamicMessage>,
}

/// A VU's gRPC state: a channel per target and interned tag sets per action, so that a hot
/// call never interns tags.
#[derive(Debug, Default)]
struct Session {
    channels: Vec<Option<Conn>>,
    /// Keyed by the call's status code, if it got one.
    tags: TagCache<TagKey<Option<u8>>>,
}

/// Every call records its own figures and bytes; closing a channel leaves nothing to record.
impl stampede_proto::Session for Session {}

/// A VU's channel to a target and its byte counters.
#[derive(Debug, Clone)]
struct Conn {
    channel: Channel,
    wire: Arc<Wire>,
    /// The counters' reading after the previous call: the next call's bytes are those above.
    seen: Totals,
}

/// Builds and interns the tag sets of a call of `action` ending as `key`: a cache miss.
fn intern(
    action: &GrpcAction,
    key: &TagKey<Option<u8>>,
    identity: &[(Arc<str>, Arc<str>)],
    registry: &Registry,
) -> StepTags {
    let error = key.failure.map(|f| match f {
        FailureKind::Status(code) => format!("grpc_{code}"),
        other => other.tag().into_owned(),
    });
    let status = key.status.map(|c| CODE_NAMES.get(usize::from(c)).copied().unwrap_or("UNKNOWN"));
    let mut tags = TagSetBuilder::new(identity, &action.name).tag("method", &action.method);
    if let Some(status) = status {
        tags = tags.tag("status", status);
    }
    tags.group(&key.group).error(error.as_deref()).intern(
        action.status_check.iter().map(String::as_str).chain(action.checks.iter().map(|c| c.name.as_str())),
        registry,
    )
}
