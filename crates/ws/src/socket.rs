//! One open WebSocket: opening it (DNS, TCP, TLS, upgrade), the reader task and its inbox,
//! writing, and closing.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use stampede_metrics::TagSetId;
use stampede_proto::FailureKind;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_websockets::{ClientBuilder, CloseCode, Limits, Message, Payload, WebSocketStream};

/// Most messages a socket's inbox holds; beyond it the oldest are dropped (and still counted
/// as received). Bounds a VU's memory when its flow sends without receiving.
pub const INBOX_CAPACITY: usize = 1024;

/// Most payload bytes a socket's inbox holds, whatever the count: a server streaming large
/// frames at a VU that does not read cannot grow it past this.
pub const INBOX_BYTES: usize = 16 << 20;

/// The largest message a socket accepts (the sum of its frames). A larger one ends the socket
/// as `too_large`, with close code 1009, instead of being buffered (the library's default
/// would let one message take 64 MiB per VU).
pub const MAX_MESSAGE: usize = 16 << 20;

/// How long a socket dropped while open (the VU stopped) may take to say goodbye.
const GOODBYE: Duration = Duration::from_secs(1);

/// A handshake for `uri` with this crate's limits ([`MAX_MESSAGE`]).
pub(crate) fn handshake(uri: http::Uri) -> ClientBuilder<'static> {
    ClientBuilder::from_uri(uri).limits(Limits::default().max_payload_len(Some(MAX_MESSAGE)))
}

/// Where and how to connect, computed when the plan compiles.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Host to resolve (without brackets).
    pub host: String,
    pub port: u16,
    /// The host when it is an IP literal: no DNS.
    pub ip: Option<IpAddr>,
    /// Server name and configuration for `wss`.
    pub tls: Option<(ServerName<'static>, Arc<ClientConfig>)>,
}

/// A message that arrived, with when.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub at: Instant,
    pub payload: Payload,
}

/// How the reader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct End {
    pub at: Instant,
    /// `None`: closed cleanly (close handshake, or end of stream); else why it broke.
    pub failure: Option<FailureKind>,
}

impl End {
    /// The failure of a step that needed the socket and found it ended.
    pub(crate) fn failure(&self) -> FailureKind {
        self.failure.unwrap_or(FailureKind::Reset)
    }
}

/// What the reader hands the VU.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    messages: VecDeque<Incoming>,
    /// Payload bytes of `messages`.
    bytes: usize,
    /// Messages dropped because the inbox was full, not yet counted.
    pub overflowed: u64,
    /// The latest pong: its sequence number (our pings carry one) and arrival.
    pub pong: Option<(u64, Instant)>,
    pub end: Option<End>,
}

impl Inbox {
    /// Adds a message, dropping the oldest (counted in `overflowed`) while the inbox would
    /// hold more than [`INBOX_CAPACITY`] messages or [`INBOX_BYTES`] bytes.
    fn push(&mut self, message: Incoming) {
        let len = message.payload.len();
        while !self.messages.is_empty()
            && (self.messages.len() >= INBOX_CAPACITY || self.bytes + len > INBOX_BYTES)
        {
            self.pop();
            self.overflowed += 1;
        }
        self.bytes += len;
        self.messages.push_back(message);
    }

    /// The oldest message.
    pub(crate) fn pop(&mut self) -> Option<Incoming> {
        let message = self.messages.pop_front()?;
        self.bytes -= message.payload.len();
        Some(message)
    }

    /// Empties the inbox; returns how many messages it held, dropped ones included.
    pub(crate) fn drain(&mut self) -> u64 {
        let n = self.messages.len() as u64 + std::mem::take(&mut self.overflowed);
        self.messages.clear();
        self.bytes = 0;
        n
    }
}

/// State shared by the VU and the socket's reader task.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    inbox: Mutex<Inbox>,
    /// Wakes the VU when the inbox changed. One waiter (the VU), so a notification that comes
    /// while it is not waiting is kept as a permit and not lost.
    pub notify: Notify,
    /// Wire bytes, TLS and handshake included.
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
}

impl Shared {
    /// The inbox, locked; never held across an await.
    pub(crate) fn inbox(&self) -> MutexGuard<'_, Inbox> {
        // A panic while holding this lock cannot leave the inbox inconsistent.
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Stream = WebSocketStream<Conn>;

/// An open socket, owned by one VU.
#[derive(Debug)]
pub(crate) struct Socket {
    sink: Option<SplitSink<Stream, Message>>,
    reader: Option<JoinHandle<()>>,
    pub shared: Arc<Shared>,
    pub opened_at: Instant,
    /// Sent messages waiting for a correlated reply, oldest first.
    pub pending: VecDeque<Pending>,
    /// The latest send not yet answered, for `correlate: next`.
    pub last_send: Option<Instant>,
    /// Wire bytes already recorded.
    pub reported: (u64, u64),
    /// The tags of the last step that used the socket: what it still holds when its VU
    /// stops (unread messages, session time) is recorded under them.
    pub tags: TagSetId,
    pub ping_seq: u64,
}

/// A sent message awaiting its reply.
#[derive(Debug)]
pub(crate) struct Pending {
    pub sent_at: Instant,
    /// Hashes of the message's value at each correlation path (see `matching`).
    pub keys: Arc<[Option<u64>]>,
}

/// Most sends remembered per socket for correlation; older ones are forgotten.
pub(crate) const MAX_PENDING: usize = 256;

impl Socket {
    /// Opens a socket: resolve, connect, TLS, upgrade; then starts its reader. `shared`
    /// counts the bytes even of a failed attempt.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        handshake: &ClientBuilder<'static>,
        subprotocols: &[String],
        shared: Arc<Shared>,
    ) -> Result<Socket, FailureKind> {
        let addr = match endpoint.ip {
            Some(ip) => SocketAddr::new(ip, endpoint.port),
            None => tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
                .await
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or(FailureKind::Dns)?,
        };
        let tcp = TcpStream::connect(addr).await.map_err(|e| match classify_io(&e) {
            FailureKind::Reset => FailureKind::Connect,
            other => other,
        })?;
        // Small messages: Nagle would hold them back by up to 40 ms.
        let _ = tcp.set_nodelay(true);
        let counted = Counted::new(tcp, shared.clone());
        let conn = match &endpoint.tls {
            None => Conn::Plain(counted),
            Some((name, config)) => {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls =
                    connector.connect(name.clone(), counted).await.map_err(|e| match classify_io(&e) {
                        FailureKind::Timeout => FailureKind::Timeout,
                        _ => FailureKind::Tls,
                    })?;
                Conn::Tls(Box::new(tls))
            }
        };
        let (stream, response) = handshake.connect_on(conn).await.map_err(|e| classify(&e))?;
        if let Some(chosen) = response.headers().get(http::header::SEC_WEBSOCKET_PROTOCOL) {
            // RFC 6455 §4.1: a subprotocol the client did not offer fails the connection.
            if !subprotocols.iter().any(|p| p.as_bytes() == chosen.as_bytes()) {
                return Err(FailureKind::Protocol);
            }
        }
        let opened_at = Instant::now();
        let (sink, stream) = stream.split();
        let reader = tokio::spawn(read(stream, shared.clone()));
        Ok(Socket {
            sink: Some(sink),
            reader: Some(reader),
            shared,
            opened_at,
            pending: VecDeque::new(),
            last_send: None,
            reported: (0, 0),
            tags: TagSetId::EMPTY,
            ping_seq: 0,
        })
    }

    /// Writes one message and flushes it.
    pub(crate) async fn send(&mut self, message: Message) -> Result<(), FailureKind> {
        let sink = self.sink.as_mut().ok_or(FailureKind::Reset)?;
        sink.send(message).await.map_err(|e| classify(&e))
    }

    /// When and how the reader ended, if it did.
    pub(crate) fn end(&self) -> Option<End> {
        self.shared.inbox().end
    }

    /// Starts the close handshake; wait for [`Socket::end`] to see it finish.
    pub(crate) async fn send_close(&mut self, code: u16, reason: &str) -> Result<(), FailureKind> {
        let code = CloseCode::try_from(code).unwrap_or(CloseCode::NORMAL_CLOSURE);
        let reason = if reason.len() <= 123 { reason } else { "" };
        self.send(Message::close(Some(code), reason)).await
    }

    /// Wire bytes not yet recorded, marked as recorded.
    pub(crate) fn take_bytes(&mut self) -> (u64, u64) {
        let sent = self.shared.bytes_sent.load(Ordering::Relaxed);
        let received = self.shared.bytes_received.load(Ordering::Relaxed);
        let delta = (sent.saturating_sub(self.reported.0), received.saturating_sub(self.reported.1));
        self.reported = (sent, received);
        delta
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let reader = self.reader.take();
        let sink = self.sink.take();
        let ended = self.shared.inbox().end;
        let (Some(mut reader), Some(mut sink)) = (reader, sink) else { return };
        // Needs the runtime; outside one (a test tearing down) the socket just closes.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            reader.abort();
            return;
        };
        if let Some(end) = ended {
            reader.abort();
            // Send what the stream queued as it ended (the answer to the peer's close, the
            // close a protocol error calls for); a message over the limit gets 1009 from us
            // when the library did not queue it.
            runtime.spawn(async move {
                let goodbye = async {
                    if end.failure == Some(FailureKind::TooLarge) {
                        let _ = sink.send(Message::close(Some(CloseCode::MESSAGE_TOO_BIG), "")).await;
                    }
                    let _ = sink.flush().await;
                };
                let _ = tokio::time::timeout(GOODBYE, goodbye).await;
            });
            return;
        }
        // Say goodbye rather than vanish: a server sees `1001 going away` instead of a reset.
        runtime.spawn(async move {
            let goodbye = async {
                let _ = sink.send(Message::close(Some(CloseCode::GOING_AWAY), "")).await;
                let _ = (&mut reader).await;
            };
            let _ = tokio::time::timeout(GOODBYE, goodbye).await;
            reader.abort();
        });
    }
}

/// The reader task: moves messages into the inbox until the stream ends.
async fn read(mut stream: SplitStream<Stream>, shared: Arc<Shared>) {
    let failure = loop {
        match stream.next().await {
            Some(Ok(message)) => {
                let at = Instant::now();
                if message.is_text() || message.is_binary() {
                    shared.inbox().push(Incoming { at, payload: message.into_payload() });
                } else if message.is_pong() {
                    let payload = message.as_payload();
                    let Ok(seq) = <[u8; 8]>::try_from(&payload[..]) else { continue };
                    shared.inbox().pong = Some((u64::from_be_bytes(seq), at));
                } else {
                    // Pings are answered by the stream itself; a close frame is followed by
                    // the end of the stream.
                    continue;
                }
                shared.notify.notify_one();
            }
            Some(Err(e)) => break Some(classify(&e)),
            None => break None,
        }
    };
    shared.inbox().end = Some(End { at: Instant::now(), failure });
    shared.notify.notify_one();
}

/// A tokio-websockets error as a failure kind, by variant.
pub(crate) fn classify(err: &tokio_websockets::Error) -> FailureKind {
    use tokio_websockets::Error as E;
    match err {
        E::Upgrade(tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status)) => {
            FailureKind::Status(*status)
        }
        E::Io(io) => classify_io(io),
        E::AlreadyClosed => FailureKind::Reset,
        E::PayloadTooLong { .. } => FailureKind::TooLarge,
        // Upgrade, protocol, payload-too-long and whatever later versions add: the peer did not
        // speak WebSocket as it should.
        _ => FailureKind::Protocol,
    }
}

/// An I/O error by kind; tokio-rustls wraps a TLS error (bad record, alert) as `InvalidData`
/// around a `rustls::Error`.
pub(crate) fn classify_io(err: &io::Error) -> FailureKind {
    use io::ErrorKind as K;
    match err.kind() {
        K::InvalidData if err.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => FailureKind::Tls,
        K::InvalidData | K::InvalidInput => FailureKind::Protocol,
        K::TimedOut => FailureKind::Timeout,
        K::ConnectionRefused => FailureKind::Connect,
        _ => FailureKind::Reset,
    }
}

/// TCP with its bytes counted into the socket's shared counters.
pub(crate) type Counted = stampede_proto::Counted<TcpStream, Shared>;

impl stampede_proto::ByteCounter for Shared {
    fn add_sent(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }

    fn add_received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }
}

/// Plain or TLS, below the WebSocket framing.
#[derive(Debug)]
pub(crate) enum Conn {
    Plain(Counted),
    Tls(Box<TlsStream<Counted>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_is_bounded_in_bytes_as_in_count() {
        let message = |len: usize| Incoming { at: Instant::now(), payload: Payload::from(vec![0u8; len]) };
        let mut inbox = Inbox::default();
        for _ in 0..10 {
            inbox.push(message(INBOX_BYTES / 4));
        }
        assert_eq!((inbox.messages.len(), inbox.overflowed), (4, 6));
        assert_eq!(inbox.bytes, INBOX_BYTES);
        // One message larger than the bound still gets in, alone.
        inbox.push(message(INBOX_BYTES + 1));
        assert_eq!((inbox.messages.len(), inbox.overflowed), (1, 10));
        assert_eq!(inbox.pop().map(|m| m.payload.len()), Some(INBOX_BYTES + 1));
        assert_eq!(inbox.bytes, 0);
        for _ in 0..INBOX_CAPACITY + 5 {
            inbox.push(message(1));
        }
        assert_eq!(inbox.messages.len(), INBOX_CAPACITY);
        assert_eq!(inbox.drain(), INBOX_CAPACITY as u64 + 15, "held and dropped");
        assert_eq!((inbox.bytes, inbox.overflowed), (0, 0));
    }

    #[test]
    fn errors_map_to_kinds_by_variant() {
        use tokio_websockets::Error as E;
        let refused = E::Upgrade(tokio_websockets::upgrade::Error::DidNotSwitchProtocols(403));
        assert_eq!(classify(&refused), FailureKind::Status(403));
        let bad_accept = E::Upgrade(tokio_websockets::upgrade::Error::WrongWebSocketAccept);
        assert_eq!(classify(&bad_accept), FailureKind::Protocol);
        assert_eq!(classify(&E::Io(io::ErrorKind::UnexpectedEof.into())), FailureKind::Reset);
        assert_eq!(classify(&E::Io(io::ErrorKind::ConnectionRefused.into())), FailureKind::Connect);
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(classify_io(&tls), FailureKind::Tls);
        assert_eq!(classify(&E::AlreadyClosed), FailureKind::Reset);
        assert_eq!(
            classify(&E::PayloadTooLong { len: 20 << 20, max_len: MAX_MESSAGE }),
            FailureKind::TooLarge
        );
    }
}
