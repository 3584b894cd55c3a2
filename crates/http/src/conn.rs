//! Connections: establishing them (timed phase by phase) and caching them per VU.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::uri::Authority;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use stampede_plan::HttpVersion;
use stampede_proto::FailureKind;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::failure::classify_hyper;
use crate::h1::{H1Conn, Stream};
use crate::io::{Counted, IoStats, MeteredStream, Transport};
use crate::timeline::{Phase, Timeline};

/// Request body type of HTTP/2 requests: every body is fully serialized at compile time.
pub(crate) type ReqBody = Full<Bytes>;

/// At most this many origins are kept open per VU; a plan hitting more rotates through them.
const MAX_CONNS_PER_VU: usize = 8;

/// URL scheme of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

/// Everything needed to open a connection to one origin, resolved at compile time.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Host without IPv6 brackets, for DNS.
    pub host: Box<str>,
    pub port: u16,
    /// The host, when it is an IP literal (no DNS lookup then).
    pub ip: Option<IpAddr>,
    /// TLS: the SNI / verification name and the shared client configuration.
    pub tls: Option<(ServerName<'static>, Arc<ClientConfig>)>,
    pub version: HttpVersion,
}

/// An HTTP/2 connection: hyper's, driven by tasks it spawns.
pub(crate) struct H2Conn {
    sender: http2::SendRequest<ReqBody>,
    /// Byte counters and socket timestamps, shared with the connection's tasks.
    pub stats: Arc<IoStats>,
}

impl H2Conn {
    /// Waits until the connection can take a request.
    pub(crate) async fn ready(&mut self) -> hyper::Result<()> {
        self.sender.ready().await
    }

    /// Sends a request and waits for the response head.
    pub(crate) async fn send(
        &mut self,
        req: http::Request<ReqBody>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        self.sender.send_request(req).await
    }
}

/// The protocol a connection speaks.
pub(crate) enum Link {
    /// Our own HTTP/1.1, driven by the VU's task.
    H1(H1Conn),
    /// hyper's HTTP/2.
    H2(H2Conn),
}

/// One open connection of a VU.
pub(crate) struct Conn {
    scheme: Scheme,
    authority: Authority,
    pub link: Link,
    /// Whether a request was already sent on it (a failure on a reused connection may be the
    /// server having closed it while idle, which is worth one retry).
    pub used: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("authority", &self.authority)
            .field("h2", &matches!(self.link, Link::H2(_)))
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Whether the connection may take another request.
    fn is_usable(&mut self) -> bool {
        match &mut self.link {
            Link::H1(conn) => conn.is_reusable(),
            Link::H2(conn) => !conn.sender.is_closed(),
        }
    }

    /// Wire bytes not yet charged to a request (HTTP/2 charges them through the timeline).
    pub(crate) fn take_bytes(&mut self) -> (u64, u64) {
        match &mut self.link {
            Link::H1(conn) => conn.take_bytes(),
            Link::H2(_) => (0, 0),
        }
    }
}

/// A VU's open connections, keyed by (scheme, authority); usually a single entry.
#[derive(Debug, Default)]
pub(crate) struct ConnPool {
    conns: Vec<Conn>,
}

impl ConnPool {
    /// A usable connection to `origin`: the cached one, or a new one. Connection setup is
    /// charged to `t`; a dead cached connection is dropped and replaced.
    pub(crate) async fn checkout(
        &mut self,
        origin: &Origin,
        t: &mut Timeline,
    ) -> Result<&mut Conn, FailureKind> {
        if let Some(i) = self.position(origin) {
            if self.conns[i].is_usable() {
                return Ok(&mut self.conns[i]);
            }
            let mut dead = self.conns.swap_remove(i);
            t.add_bytes(dead.take_bytes());
        }
        let conn = connect(origin, t).await?;
        if self.conns.len() >= MAX_CONNS_PER_VU {
            self.conns.remove(0);
        }
        self.conns.push(conn);
        Ok(self.conns.last_mut().expect("just pushed"))
    }

    /// Takes the connection to `origin` out of the cache (after a failure, a timeout
    /// mid-request, or a response that ends the connection); dropping it closes it.
    pub(crate) fn remove(&mut self, origin: &Origin) -> Option<Conn> {
        let i = self.position(origin)?;
        Some(self.conns.swap_remove(i))
    }

    fn position(&self, origin: &Origin) -> Option<usize> {
        self.conns.iter().position(|c| c.scheme == origin.scheme && c.authority == origin.authority)
    }
}

/// Opens a connection: DNS (blocked), TCP connect (connecting), TLS (tls_handshaking), then
/// for HTTP/2 the HTTP handshake (blocked again, since the request cannot start yet).
async fn connect(origin: &Origin, t: &mut Timeline) -> Result<Conn, FailureKind> {
    let tcp = match origin.ip {
        Some(ip) => {
            t.enter_now(Phase::Connecting);
            TcpStream::connect(SocketAddr::new(ip, origin.port)).await.map_err(|_| FailureKind::Connect)?
        }
        None => {
            let addrs =
                tokio::net::lookup_host((&*origin.host, origin.port)).await.map_err(|_| FailureKind::Dns)?;
            t.enter_now(Phase::Connecting);
            let mut stream = Err(FailureKind::Dns);
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        stream = Ok(s);
                        break;
                    }
                    Err(_) => stream = Err(FailureKind::Connect),
                }
            }
            stream?
        }
    };
    // Requests are written in one go; Nagle would only delay the last segment.
    let _ = tcp.set_nodelay(true);

    let transport = match &origin.tls {
        None if origin.version != HttpVersion::Http2 => {
            t.enter_now(Phase::Blocked);
            return Ok(new_conn(origin, Link::H1(H1Conn::new(Stream::Plain(tcp)))));
        }
        None => {
            let stats = IoStats::new();
            t.attach(stats.clone());
            Transport::Plain(Counted::new(tcp, stats))
        }
        Some((name, config)) => {
            // Attached before the handshake, so that its bytes count even if it fails or
            // times out.
            let stats = IoStats::new();
            t.attach(stats.clone());
            t.enter_now(Phase::TlsHandshaking);
            // Any failure during the handshake (bad certificate, alert, peer hanging up
            // mid-handshake) is reported as a TLS failure.
            let tls = TlsConnector::from(config.clone())
                .connect(name.clone(), Counted::new(tcp, stats.clone()))
                .await
                .map_err(|_| FailureKind::Tls)?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
                t.enter_now(Phase::Blocked);
                // HTTP/1.1 counts its bytes itself, from here on.
                t.detach();
                return Ok(new_conn(origin, Link::H1(H1Conn::new(Stream::Tls(Box::new(tls), stats)))));
            }
            Transport::Tls(Box::new(tls))
        }
    };
    t.enter_now(Phase::Blocked);
    t.set_first_byte_from_reads(false);
    let stats = match &transport {
        Transport::Plain(c) => c.counter().clone(),
        Transport::Tls(tls) => tls.get_ref().0.counter().clone(),
    };
    let io = TokioIo::new(MeteredStream::new(transport, stats.clone()));
    let (sender, conn) =
        http2::Builder::new(TokioExecutor::new()).handshake(io).await.map_err(|e| classify_hyper(&e))?;
    // hyper spawns the HTTP/2 connection itself and one task per request; this future only
    // forwards requests to them. It ends when the `SendRequest` is dropped.
    tokio::spawn(conn);
    Ok(new_conn(origin, Link::H2(H2Conn { sender, stats })))
}

fn new_conn(origin: &Origin, link: Link) -> Conn {
    Conn { scheme: origin.scheme, authority: origin.authority.clone(), link, used: false }
}
