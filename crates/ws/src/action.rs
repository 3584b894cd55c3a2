//! A compiled ws step and running it once for a VU.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::USER_AGENT;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use rustls::pki_types::ServerName;
use serde_json::Value;
use serde_json_path::JsonPath;
use stampede_metrics::{MetricId, builtin};
use stampede_plan::template::Template;
use stampede_plan::{Check, WsAction as PlanAction, WsCondition, WsConnect, WsCorrelate, WsMessage, WsStep};
use stampede_proto::{
    Action, BoxFuture, CompileContext, FailureKind, Recorder, RenderError, Session, SessionSlot, StepOutcome,
    Vu,
};
use tokio::time::{Duration, Instant, Sleep};
use tokio_websockets::{ClientBuilder, Message};

use crate::matching::{Candidate, Correlations, key_at};
use crate::socket::{Endpoint, Incoming, MAX_PENDING, Pending, Shared, Socket};
use crate::tags::{TagCache, TagKey, TagSource};
use crate::{Error, WsProtocol};

const USER_AGENT_VALUE: &str = concat!("stampede/", env!("CARGO_PKG_VERSION"));

/// Headers the handshake writes itself; plan defaults naming them are not sent on upgrades.
const HANDSHAKE_HEADERS: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

/// One VU's WebSocket state: a slot per socket name, its tag cache and its step timer.
#[derive(Debug, Default)]
pub(crate) struct WsSession {
    sockets: Vec<Option<Socket>>,
    tags: TagCache,
    /// The step timeout, one timer per VU moved forward for each step (cheaper than
    /// registering a fresh tokio timer per step).
    timer: Option<Pin<Box<Sleep>>>,
    /// Where messages, URLs and header values with run-time values are rendered; kept so
    /// that rendering stops allocating once it has grown.
    text: String,
}

impl WsSession {
    /// Whether socket `index` is open and not ended by the server.
    fn is_open(&self, index: usize) -> bool {
        self.sockets.get(index).and_then(Option::as_ref).is_some_and(|s| s.end().is_none())
    }
}

/// What a compile needs from the protocol instance.
pub(crate) struct CompileEnv<'a> {
    pub index: usize,
    pub socket: usize,
    pub protocol: &'a WsProtocol,
}

/// A compiled ws step.
#[derive(Debug)]
pub(crate) struct WsAction {
    index: usize,
    slot: SessionSlot,
    /// The socket's index in the VU's session.
    socket: usize,
    name: String,
    kind: Kind,
    /// A receive's checks (empty for other actions).
    checks: Vec<Check>,
    timeout: Duration,
}

#[derive(Debug)]
enum Kind {
    Connect(Box<Connect>),
    Send(Box<Send>),
    Receive(Box<Receive>),
    Ping,
    Close { code: u16, reason: String },
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Connect(_) => "connect",
            Kind::Send(_) => "send",
            Kind::Receive(_) => "receive",
            Kind::Ping => "ping",
            Kind::Close { .. } => "close",
        }
    }
}

struct Connect {
    endpoint: Endpoint,
    handshake: ClientBuilder<'static>,
    subprotocols: Vec<String>,
    keep_open: bool,
    /// Set when the URL's path or query or a header value varies: then each connect builds
    /// its own handshake, and `handshake` is unused.
    templates: Option<ConnectTemplates>,
}

/// The run-time parts of a connect, and what its handshake is built from besides them.
#[derive(Debug)]
struct ConnectTemplates {
    /// The URL, if it varies (its origin is that of `uri`, fixed at load).
    url: Option<Template>,
    /// Header values that vary; they replace fixed fields of the same name.
    headers: Vec<(HeaderName, Template)>,
    /// The plan's target, which a relative URL joins.
    target: Option<Uri>,
    /// The URI when the URL is fixed.
    uri: Uri,
    /// Every fixed header field (defaults, the step's own, user agent, subprotocols).
    fixed: HeaderMap,
}

impl ConnectTemplates {
    /// The handshake for this connect, its varying parts rendered for `vu` through `text`.
    fn handshake(&self, vu: &mut Vu, text: &mut String) -> Result<ClientBuilder<'static>, NotSent> {
        let uri = match &self.url {
            Some(url) => {
                text.clear();
                vu.render(url, text).map_err(NotSent::Render)?;
                resolve_url(text, self.target.as_ref()).map_err(|_| NotSent::Invalid)?
            }
            None => self.uri.clone(),
        };
        let mut handshake = crate::socket::handshake(uri);
        for (name, value) in &self.fixed {
            handshake = handshake.add_header(name.clone(), value.clone()).map_err(|_| NotSent::Invalid)?;
        }
        for (name, value) in &self.headers {
            text.clear();
            vu.render(value, text).map_err(NotSent::Render)?;
            let value = HeaderValue::from_str(text).map_err(|_| NotSent::Invalid)?;
            handshake = handshake.add_header(name.clone(), value).map_err(|_| NotSent::Invalid)?;
        }
        Ok(handshake)
    }
}

/// Why a step with run-time values did not go out.
#[derive(Debug)]
enum NotSent {
    /// A template could not be rendered.
    Render(RenderError),
    /// The rendered URL or a header value is not valid HTTP (an extracted value with a space
    /// in a path, a line break in a header).
    Invalid,
}

/// What a step rendered before it runs.
enum Prepared {
    /// Nothing varies (or a kept socket is open, and the connect has nothing to do).
    Fixed,
    /// A send's message.
    Message(Message),
    /// A connect's handshake.
    Handshake(Box<ClientBuilder<'static>>),
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("endpoint", &self.endpoint)
            .field("subprotocols", &self.subprotocols)
            .field("keep_open", &self.keep_open)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Send {
    outgoing: Outgoing,
    /// The message as JSON, if it is fixed and JSON: where correlation values come from.
    json: Option<Value>,
    correlations: Arc<Correlations>,
    /// The fixed message's correlation keys, one per registered path; computed on first run.
    keys: OnceLock<Arc<[Option<u64>]>>,
}

/// A send's message.
#[derive(Debug)]
enum Outgoing {
    /// Serialized once, at load: each send clones it (a reference-count bump).
    Fixed(Message),
    /// A text frame rendered per send (run-time values).
    Template(Template),
}

impl Send {
    /// The correlation keys of `message`, which this step just sent: those of the fixed
    /// message, computed once; a rendered message's are computed from it, per send, and
    /// only when some `receive` correlates.
    fn keys(&self, paths: &[JsonPath], message: &Message) -> Arc<[Option<u64>]> {
        match &self.outgoing {
            Outgoing::Fixed(_) => self
                .keys
                .get_or_init(|| {
                    paths.iter().map(|path| self.json.as_ref().and_then(|doc| key_at(path, doc))).collect()
                })
                .clone(),
            Outgoing::Template(_) => {
                let doc = serde_json::from_slice::<Value>(message.as_payload()).ok();
                paths.iter().map(|path| doc.as_ref().and_then(|doc| key_at(path, doc))).collect()
            }
        }
    }
}

#[derive(Debug)]
struct Receive {
    conditions: Vec<WsCondition>,
    correlate: Option<Correlate>,
}

#[derive(Debug)]
enum Correlate {
    /// By the value at the path registered under `index` in [`Correlations`].
    Json {
        index: usize,
        path: JsonPath,
    },
    Next,
}

/// Whether a step did anything (a `connect` finding its kept socket open does not).
#[derive(Debug, PartialEq, Eq)]
enum Done {
    Did,
    Nothing,
}

/// What a step measured, recorded once its tags are known.
#[derive(Debug, Default)]
struct Record {
    connecting: Option<Duration>,
    opened: bool,
    /// The session of a socket that ended during the step.
    session: Option<Duration>,
    sent: bool,
    received: u64,
    rtt: Option<Duration>,
    ping: Option<Duration>,
    bytes: (u64, u64),
    status: Option<u16>,
    /// A receive's message, with its JSON if it was parsed, for the checks.
    matched: Option<(Incoming, Option<Option<Value>>)>,
}

impl Record {
    fn add_bytes(&mut self, (sent, received): (u64, u64)) {
        self.bytes.0 += sent;
        self.bytes.1 += received;
    }

    /// Records what a retired socket left: its session time, messages no step read, bytes.
    fn record_remains(&self, mut record: impl FnMut(MetricId, f64)) {
        if let Some(d) = self.session {
            record(builtin::WS_SESSION_DURATION, ms(d));
        }
        if self.received > 0 {
            record(builtin::WS_MSGS_RECEIVED, self.received as f64);
        }
        if self.bytes.0 > 0 {
            record(builtin::DATA_SENT, self.bytes.0 as f64);
        }
        if self.bytes.1 > 0 {
            record(builtin::DATA_RECEIVED, self.bytes.1 as f64);
        }
    }
}

impl Session for WsSession {
    /// The VU stopped with sockets still open (`keep_open`, or no `close` step): their
    /// session time and the messages that arrived since the last step are recorded, under the
    /// tags of the last step that used each, before the sockets say goodbye.
    fn end(&mut self, recorder: &mut Recorder) {
        for slot in &mut self.sockets {
            let Some(tags) = slot.as_ref().map(|s| s.tags) else { continue };
            let mut rec = Record::default();
            retire(slot, &mut rec);
            rec.record_remains(|metric, value| recorder.record(metric, tags, value));
        }
    }
}

impl WsAction {
    pub(crate) fn compile(
        step: &WsStep,
        cx: &CompileContext<'_>,
        env: CompileEnv<'_>,
    ) -> Result<Self, Error> {
        let correlations = &env.protocol.correlations;
        let mut checks = Vec::new();
        let kind = match &step.action {
            PlanAction::Connect(connect) => {
                Kind::Connect(Box::new(compile_connect(connect, cx, env.protocol)?))
            }
            PlanAction::Send(message) => {
                let (outgoing, json) = match message {
                    WsMessage::Text(text) => {
                        (Outgoing::Fixed(Message::text(text.clone())), serde_json::from_str(text).ok())
                    }
                    WsMessage::Binary(bytes) => {
                        (Outgoing::Fixed(Message::binary(bytes.clone())), serde_json::from_slice(bytes).ok())
                    }
                    WsMessage::Json(value) => {
                        (Outgoing::Fixed(Message::text(value.to_string())), Some(value.clone()))
                    }
                    WsMessage::Template(template) => (Outgoing::Template(template.clone()), None),
                };
                Kind::Send(Box::new(Send {
                    outgoing,
                    json,
                    correlations: correlations.clone(),
                    keys: OnceLock::new(),
                }))
            }
            PlanAction::Receive(receive) => {
                checks = receive.checks.clone();
                let correlate = receive.correlate.as_ref().map(|c| match c {
                    WsCorrelate::Next => Correlate::Next,
                    WsCorrelate::Json { source, path } => {
                        Correlate::Json { index: correlations.register(source, path), path: path.clone() }
                    }
                });
                Kind::Receive(Box::new(Receive { conditions: receive.conditions.clone(), correlate }))
            }
            PlanAction::Ping => Kind::Ping,
            PlanAction::Close(close) => Kind::Close { code: close.code, reason: close.reason.clone() },
        };
        Ok(WsAction {
            index: env.index,
            slot: cx.slot,
            socket: env.socket,
            name: step.name.clone(),
            kind,
            checks,
            timeout: step.timeout,
        })
    }

    /// Renders what varies in this step for `vu`, before the step borrows the session
    /// (rendering reads the VU), through the buffer the session keeps.
    fn prepare(&self, vu: &mut Vu) -> Result<Prepared, NotSent> {
        let session = vu.session(self.slot, WsSession::default);
        let varies = match &self.kind {
            Kind::Send(send) => matches!(send.outgoing, Outgoing::Template(_)),
            // A kept socket that is open is reused: nothing is sent, nothing rendered.
            Kind::Connect(c) => c.templates.is_some() && !(c.keep_open && session.is_open(self.socket)),
            _ => false,
        };
        if !varies {
            return Ok(Prepared::Fixed);
        }
        let mut text = std::mem::take(&mut session.text);
        let prepared = match &self.kind {
            Kind::Send(send) => match &send.outgoing {
                Outgoing::Template(template) => {
                    text.clear();
                    vu.render(template, &mut text).map_err(NotSent::Render).map(|()| {
                        // The frame owns its payload: one copy per send, of the exact size.
                        Prepared::Message(Message::text(Bytes::copy_from_slice(text.as_bytes())))
                    })
                }
                Outgoing::Fixed(_) => Ok(Prepared::Fixed),
            },
            Kind::Connect(c) => match &c.templates {
                Some(t) => t.handshake(vu, &mut text).map(|h| Prepared::Handshake(Box::new(h))),
                None => Ok(Prepared::Fixed),
            },
            _ => Ok(Prepared::Fixed),
        };
        vu.session(self.slot, WsSession::default).text = text;
        prepared
    }

    /// A step whose run-time values could not be rendered: it fails with
    /// [`FailureKind::Variable`] (tag `error:variable`) without touching the socket. A data
    /// source that ran out halts the VU instead, and that is not a failure of the target.
    fn not_sent(&self, vu: &mut Vu, why: NotSent) -> StepOutcome {
        if matches!(why, NotSent::Render(RenderError::Exhausted(_))) {
            return StepOutcome { failed: true, status: None };
        }
        let identity = vu.identity().tags.clone();
        let group = vu.group.clone();
        let (session, recorder) = vu.session_and_recorder(self.slot, WsSession::default);
        let source =
            TagSource { identity: &identity, name: &self.name, kind: self.kind.name(), checks: &self.checks };
        let key = TagKey { status: (), failure: Some(FailureKind::Variable), group };
        let registry = recorder.registry();
        let tags = session.tags.get(self.index, key, |key| source.intern(key, registry));
        recorder.record(builtin::WS_FAILED, tags.step, 1.0);
        StepOutcome { failed: true, status: None }
    }

    async fn run_once(&self, vu: &mut Vu) -> StepOutcome {
        let prepared = match self.prepare(vu) {
            Ok(p) => p,
            Err(why) => return self.not_sent(vu, why),
        };
        // Cheap reference-count bumps, so the session can be borrowed alongside.
        let identity = vu.identity().tags.clone();
        let group = vu.group.clone();
        let (session, recorder) = vu.session_and_recorder(self.slot, WsSession::default);
        let WsSession { sockets, tags, timer, text: _ } = session;
        if sockets.len() <= self.socket {
            sockets.resize_with(self.socket + 1, || None);
        }
        let slot = &mut sockets[self.socket];
        let deadline = stampede_proto::deadline_after(Instant::now(), self.timeout);
        let timer = match timer {
            Some(timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        let mut rec = Record::default();
        let result = match &self.kind {
            Kind::Connect(connect) => {
                let handshake = match &prepared {
                    Prepared::Handshake(h) => h,
                    _ => &connect.handshake,
                };
                connect_step((connect, handshake), slot, timer, &mut rec).await
            }
            Kind::Send(send) => {
                let message = match (prepared, &send.outgoing) {
                    (Prepared::Message(m), _) => m,
                    (_, Outgoing::Fixed(m)) => m.clone(),
                    // `prepare` renders every templated message.
                    (_, Outgoing::Template(_)) => return StepOutcome { failed: true, status: None },
                };
                send_step((send, message), slot, timer, &mut rec).await
            }
            Kind::Receive(receive) => receive_step(receive, slot, timer, &mut rec).await,
            Kind::Ping => ping_step(slot, timer, &mut rec).await,
            Kind::Close { code, reason } => close_step((*code, reason), slot, timer, &mut rec).await,
        };
        if result == Ok(Done::Nothing) {
            return StepOutcome::default();
        }
        if let Some(socket) = slot {
            rec.add_bytes(socket.take_bytes());
        }
        let end = Instant::now();
        let failure = result.err();

        let source =
            TagSource { identity: &identity, name: &self.name, kind: self.kind.name(), checks: &self.checks };
        let registry = recorder.registry();
        let key = TagKey { status: (), failure, group };
        let tags = tags.get(self.index, key, |key| source.intern(key, registry));
        let t = tags.step;
        let mut record = |metric, value: f64| recorder.record_at(metric, t, end, value);
        if let Some(d) = rec.connecting {
            record(builtin::WS_CONNECTING, ms(d));
        }
        if rec.opened {
            record(builtin::WS_SESSIONS, 1.0);
        }
        if rec.sent {
            record(builtin::WS_MSGS_SENT, 1.0);
        }
        if let Some(d) = rec.rtt {
            record(builtin::WS_MSG_RTT, ms(d));
        }
        if let Some(d) = rec.ping {
            record(builtin::WS_PING, ms(d));
        }
        record(builtin::WS_FAILED, f64::from(u8::from(failure.is_some())));
        rec.record_remains(&mut record);
        if let Some(socket) = slot {
            socket.tags = t;
        }
        if !self.checks.is_empty() {
            match rec.matched.take() {
                Some((message, json)) => {
                    let mut candidate = Candidate::with_json(&message.payload, json);
                    candidate.check(&self.checks, |i, passed| {
                        recorder.record_at(builtin::CHECKS, tags.checks[i], end, f64::from(u8::from(passed)));
                    });
                }
                // No message: there is nothing to pass.
                None => {
                    for &check in &tags.checks {
                        recorder.record_at(builtin::CHECKS, check, end, 0.0);
                    }
                }
            }
        }
        StepOutcome { failed: failure.is_some(), status: rec.status }
    }
}

impl Action for WsAction {
    fn run<'a>(&'a self, vu: &'a mut Vu) -> BoxFuture<'a, StepOutcome> {
        Box::pin(self.run_once(vu))
    }
}

type Timer = Pin<Box<Sleep>>;

/// Takes the socket out of its slot: records its session duration and the messages and bytes
/// it still held. Dropping it says goodbye to the server if it is still open.
fn retire(slot: &mut Option<Socket>, rec: &mut Record) {
    let Some(mut socket) = slot.take() else { return };
    let ended = socket.end().map_or_else(Instant::now, |e| e.at);
    rec.session = Some(ended.saturating_duration_since(socket.opened_at));
    {
        let mut inbox = socket.shared.inbox();
        rec.received += inbox.drain();
    }
    rec.add_bytes(socket.take_bytes());
}

/// The open socket of the slot; a socket the server ended is retired and its failure
/// returned; no socket is a `Connect` failure (never opened, or closed).
fn live<'s>(slot: &'s mut Option<Socket>, rec: &mut Record) -> Result<&'s mut Socket, FailureKind> {
    match slot.as_ref().map(Socket::end) {
        None => Err(FailureKind::Connect),
        Some(Some(end)) => {
            retire(slot, rec);
            Err(end.failure())
        }
        Some(None) => slot.as_mut().ok_or(FailureKind::Connect),
    }
}

async fn connect_step(
    (connect, handshake): (&Connect, &ClientBuilder<'static>),
    slot: &mut Option<Socket>,
    timer: &mut Timer,
    rec: &mut Record,
) -> Result<Done, FailureKind> {
    if let Some(socket) = slot {
        if connect.keep_open && socket.end().is_none() {
            return Ok(Done::Nothing);
        }
        retire(slot, rec);
    }
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let opened = tokio::select! {
        biased;
        opened = Socket::open(&connect.endpoint, handshake, &connect.subprotocols, shared.clone()) => opened,
        () = timer.as_mut() => Err(FailureKind::Timeout),
    };
    match opened {
        Ok(socket) => {
            rec.connecting = Some(socket.opened_at - start);
            rec.opened = true;
            rec.status = Some(101);
            *slot = Some(socket);
            Ok(Done::Did)
        }
        Err(kind) => {
            if let FailureKind::Status(code) = kind {
                rec.status = Some(code);
            }
            let counted = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            rec.add_bytes((counted(&shared.bytes_sent), counted(&shared.bytes_received)));
            Err(kind)
        }
    }
}

async fn send_step(
    (send, message): (&Send, Message),
    slot: &mut Option<Socket>,
    timer: &mut Timer,
    rec: &mut Record,
) -> Result<Done, FailureKind> {
    let socket = live(slot, rec)?;
    let sent_at = Instant::now();
    let paths = send.correlations.paths();
    // Kept for the correlation keys of a rendered message (a reference-count bump).
    let sent = (!paths.is_empty()).then(|| message.clone());
    let written = tokio::select! {
        biased;
        written = socket.send(message) => written,
        () = timer.as_mut() => Err(FailureKind::Timeout),
    };
    if let Err(kind) = written {
        // A write that failed or stopped halfway leaves the stream unusable.
        retire(slot, rec);
        return Err(kind);
    }
    rec.sent = true;
    if let Some(message) = sent {
        let keys = send.keys(paths, &message);
        if keys.iter().any(Option::is_some) {
            if socket.pending.len() >= MAX_PENDING {
                socket.pending.pop_front();
            }
            socket.pending.push_back(Pending { sent_at, keys });
        }
    }
    socket.last_send = Some(sent_at);
    Ok(Done::Did)
}

/// How a wait on the inbox ended.
enum Wait {
    Matched(Incoming, Option<Option<Value>>),
    Ended(FailureKind),
}

async fn receive_step(
    receive: &Receive,
    slot: &mut Option<Socket>,
    timer: &mut Timer,
    rec: &mut Record,
) -> Result<Done, FailureKind> {
    let Some(socket) = slot.as_mut() else { return Err(FailureKind::Connect) };
    let outcome = loop {
        let (next, end) = {
            let mut inbox = socket.shared.inbox();
            rec.received += std::mem::take(&mut inbox.overflowed);
            (inbox.pop(), inbox.end)
        };
        if let Some(message) = next {
            rec.received += 1;
            if let Some(json) = accept(receive, socket, &message, rec) {
                break Wait::Matched(message, json);
            }
            continue;
        }
        // Messages that came before the end were all looked at: now the end counts.
        if let Some(end) = end {
            break Wait::Ended(end.failure());
        }
        tokio::select! {
            biased;
            () = socket.shared.notify.notified() => {}
            () = timer.as_mut() => return Err(FailureKind::Timeout),
        }
    };
    match outcome {
        Wait::Matched(message, json) => {
            rec.matched = Some((message, json));
            Ok(Done::Did)
        }
        Wait::Ended(kind) => {
            retire(slot, rec);
            Err(kind)
        }
    }
}

/// Whether `message` is the one `receive` waits for; if so, pairs it with the send it answers
/// (recording the round trip) and returns its JSON if it was parsed.
fn accept(
    receive: &Receive,
    socket: &mut Socket,
    message: &Incoming,
    rec: &mut Record,
) -> Option<Option<Option<Value>>> {
    let mut candidate = Candidate::new(&message.payload);
    if !candidate.satisfies(&receive.conditions) {
        return None;
    }
    match &receive.correlate {
        None => {}
        Some(Correlate::Next) => {
            if let Some(sent_at) = socket.last_send.take_if(|sent_at| *sent_at <= message.at) {
                rec.rtt = Some(message.at - sent_at);
            }
        }
        Some(Correlate::Json { index, path }) => {
            let key = candidate.json().and_then(|doc| key_at(path, doc))?;
            let found = socket.pending.iter().position(|p| {
                p.sent_at <= message.at && p.keys.get(*index).copied().flatten() == Some(key)
            })?;
            let pending = socket.pending.remove(found)?;
            rec.rtt = Some(message.at - pending.sent_at);
            if socket.last_send == Some(pending.sent_at) {
                socket.last_send = None;
            }
        }
    }
    Some(candidate.into_json())
}

async fn ping_step(
    slot: &mut Option<Socket>,
    timer: &mut Timer,
    rec: &mut Record,
) -> Result<Done, FailureKind> {
    let socket = live(slot, rec)?;
    socket.ping_seq += 1;
    let seq = socket.ping_seq;
    let sent_at = Instant::now();
    let ping = Message::ping(Bytes::copy_from_slice(&seq.to_be_bytes()));
    let written = tokio::select! {
        biased;
        written = socket.send(ping) => written,
        () = timer.as_mut() => Err(FailureKind::Timeout),
    };
    if let Err(kind) = written {
        retire(slot, rec);
        return Err(kind);
    }
    let ended = loop {
        let (pong, end) = {
            let inbox = socket.shared.inbox();
            (inbox.pong, inbox.end)
        };
        if let Some((answered, at)) = pong {
            if answered == seq {
                rec.ping = Some(at.saturating_duration_since(sent_at));
                return Ok(Done::Did);
            }
        }
        if let Some(end) = end {
            break end;
        }
        tokio::select! {
            biased;
            () = socket.shared.notify.notified() => {}
            () = timer.as_mut() => return Err(FailureKind::Timeout),
        }
    };
    retire(slot, rec);
    Err(ended.failure())
}

async fn close_step(
    (code, reason): (u16, &str),
    slot: &mut Option<Socket>,
    timer: &mut Timer,
    rec: &mut Record,
) -> Result<Done, FailureKind> {
    let Some(socket) = slot.as_mut() else { return Ok(Done::Nothing) };
    let mut result = Ok(Done::Did);
    if socket.end().is_none() {
        let written = tokio::select! {
            biased;
            written = socket.send_close(code, reason) => written,
            () = timer.as_mut() => Err(FailureKind::Timeout),
        };
        // The server answers with its own close frame, then the stream ends.
        result = match written {
            Ok(()) => loop {
                if socket.end().is_some() {
                    break Ok(Done::Did);
                }
                tokio::select! {
                    biased;
                    () = socket.shared.notify.notified() => {}
                    () = timer.as_mut() => break Err(FailureKind::Timeout),
                }
            },
            Err(kind) => Err(kind),
        };
    }
    retire(slot, rec);
    result
}

fn compile_connect(
    connect: &WsConnect,
    cx: &CompileContext<'_>,
    protocol: &WsProtocol,
) -> Result<Connect, Error> {
    let defaults = &cx.plan.defaults;
    let uri = resolve_url(&connect.url, cx.plan.target.as_ref())?;
    let invalid = |reason: &'static str| Error::InvalidUrl { url: uri.to_string(), reason };
    let secure = uri.scheme_str() == Some("wss");
    let host = uri.host().ok_or_else(|| invalid("no host"))?.trim_start_matches('[').trim_end_matches(']');
    let tls = if secure {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| invalid("host is not a valid tls server name"))?;
        Some((name, protocol.tls(defaults.insecure_skip_tls_verify)?))
    } else {
        None
    };
    let endpoint = Endpoint {
        host: host.to_string(),
        port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
        ip: host.parse::<IpAddr>().ok(),
        tls,
    };

    // Plan defaults first, then the step's own headers, which replace them by name.
    let mut headers = HeaderMap::new();
    for (name, value) in &defaults.headers {
        if !HANDSHAKE_HEADERS.contains(&name.as_str()) {
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &connect.headers {
        headers.insert(name.clone(), value.clone());
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    if !connect.subprotocols.is_empty() {
        let offered = HeaderValue::from_str(&connect.subprotocols.join(", "))
            .map_err(|_| Error::Header("sec-websocket-protocol".into()))?;
        headers.insert(http::header::SEC_WEBSOCKET_PROTOCOL, offered);
    }
    for (name, _) in &connect.dynamic_headers {
        if HANDSHAKE_HEADERS.contains(&name.as_str()) {
            return Err(Error::Header(name.to_string()));
        }
    }
    let varies = connect.url_template.is_some() || !connect.dynamic_headers.is_empty();
    let templates = varies.then(|| ConnectTemplates {
        url: connect.url_template.clone(),
        headers: connect.dynamic_headers.clone(),
        target: cx.plan.target.clone(),
        uri: uri.clone(),
        fixed: headers.clone(),
    });
    let mut handshake = crate::socket::handshake(uri.clone());
    for (name, value) in headers {
        let Some(name) = name else { continue };
        handshake = handshake.add_header(name.clone(), value).map_err(|_| Error::Header(name.to_string()))?;
    }
    Ok(Connect {
        endpoint,
        handshake,
        subprotocols: connect.subprotocols.clone(),
        keep_open: connect.keep_open,
        templates,
    })
}

/// Resolves a step URL to a `ws://` or `wss://` URI: absolute URLs as they are (`http` read
/// as `ws`, `https` as `wss`), paths relative to the plan's target, whose path is kept as a
/// prefix (`target: http://h/api` + `/ws` → `ws://h/api/ws`).
fn resolve_url(url: &str, target: Option<&Uri>) -> Result<Uri, Error> {
    let invalid = |reason: &'static str| Error::InvalidUrl { url: url.to_string(), reason };
    let joined = if url.starts_with('/') {
        let target = target.ok_or_else(|| Error::NoTarget(url.to_string()))?;
        let scheme = target.scheme_str().ok_or_else(|| invalid("the plan target has no scheme"))?;
        let authority = target.authority().ok_or_else(|| invalid("the plan target has no host"))?;
        let prefix = target.path().trim_end_matches('/');
        format!("{scheme}://{authority}{prefix}{url}")
    } else {
        url.to_string()
    };
    let uri: Uri = joined.parse().map_err(|_| invalid("not a valid url"))?;
    let scheme = match uri.scheme_str() {
        Some("ws" | "http") => "ws",
        Some("wss" | "https") => "wss",
        _ => return Err(invalid("use a ws, wss, http or https url")),
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    let mut parts = uri.into_parts();
    parts.scheme = Some(scheme.parse().map_err(|_| invalid("not a valid url"))?);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    Uri::from_parts(parts).map_err(|_| invalid("not a valid url"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_to_ws_schemes_keeping_the_target_path() {
        let target: Uri = "http://127.0.0.1:8080/api/".parse().unwrap();
        let r = |u| resolve_url(u, Some(&target)).unwrap().to_string();
        assert_eq!(r("/ws/chat?delay=5ms"), "ws://127.0.0.1:8080/api/ws/chat?delay=5ms");
        let secure: Uri = "https://h".parse().unwrap();
        assert_eq!(resolve_url("/x", Some(&secure)).unwrap().to_string(), "wss://h/x");
        assert_eq!(r("https://other:9/y"), "wss://other:9/y");
        assert_eq!(r("ws://other"), "ws://other/");
        assert!(matches!(resolve_url("/x", None), Err(Error::NoTarget(_))));
        assert!(matches!(resolve_url("ftp://h/", None), Err(Error::InvalidUrl { .. })));
    }
}
