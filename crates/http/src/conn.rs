//! Connections: establishing them (timed phase by phase) and caching them per VU.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::uri::Authority;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use stampede_plan::HttpVersion;
use stampede_proto::FailureKind;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::failure::classify_hyper;
use crate::io::{Counted, IoStats, MeteredStream, Transport};
use crate::timeline::{Phase, Timeline};

/// Request body type: every body is fully serialized at compile time.
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

enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// One open connection of a VU.
pub(crate) struct Conn {
    scheme: Scheme,
    authority: Authority,
    sender: Sender,
    pub stats: Arc<IoStats>,
    /// Whether a request was already sent on it (a failure on a reused connection may be the
    /// server having closed it while idle, which is worth one retry).
    pub used: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("authority", &self.authority)
            .field("h2", &self.is_h2())
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    /// Whether the connection may take another request: its task has not seen it closed.
    fn is_usable(&self) -> bool {
        match &self.sender {
            Sender::H1(sender) => !sender.is_closed(),
            Sender::H2(sender) => !sender.is_closed(),
        }
    }

    /// Waits until the connection can take a request.
    pub(crate) async fn ready(&mut self) -> hyper::Result<()> {
        match &mut self.sender {
            Sender::H1(sender) => sender.ready().await,
            Sender::H2(sender) => sender.ready().await,
        }
    }

    /// Sends a request and waits for the response head.
    pub(crate) async fn send(
        &mut self,
        req: http::Request<ReqBody>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        match &mut self.sender {
            Sender::H1(sender) => sender.send_request(req).await,
            Sender::H2(sender) => sender.send_request(req).await,
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
            self.conns.swap_remove(i);
        }
        let conn = connect(origin, t).await?;
        if self.conns.len() >= MAX_CONNS_PER_VU {
            self.conns.remove(0);
        }
        self.conns.push(conn);
        Ok(self.conns.last_mut().expect("just pushed"))
    }

    /// Drops the connection to `origin` (after a failure or a timeout mid-request).
    pub(crate) fn discard(&mut self, origin: &Origin) {
        if let Some(i) = self.position(origin) {
            self.conns.swap_remove(i);
        }
    }

    fn position(&self, origin: &Origin) -> Option<usize> {
        self.conns.iter().position(|c| c.scheme == origin.scheme && c.authority == origin.authority)
    }
}

/// Opens a connection: DNS (blocked), TCP connect (connecting), TLS (tls_handshaking), then
/// the HTTP handshake (blocked again, since the request cannot start yet).
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
    let stats = IoStats::new();
    t.attach(stats.clone());
    let counted = Counted::new(tcp, stats.clone());

    let (transport, h2) = match &origin.tls {
        None => (Transport::Plain(counted), origin.version == HttpVersion::Http2),
        Some((name, config)) => {
            t.enter_now(Phase::TlsHandshaking);
            // Any failure during the handshake (bad certificate, alert, peer hanging up
            // mid-handshake) is reported as a TLS failure.
            let tls = TlsConnector::from(config.clone())
                .connect(name.clone(), counted)
                .await
                .map_err(|_| FailureKind::Tls)?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            (Transport::Tls(Box::new(tls)), h2)
        }
    };
    t.enter_now(Phase::Blocked);
    t.set_first_byte_from_reads(!h2);

    let io = TokioIo::new(MeteredStream::new(transport, stats.clone()));
    // Each connection runs in a task of its own; see the crate doc for why (measured). The
    // task ends when the `SendRequest` is dropped (with the VU's session, or when a failed
    // connection is discarded) or when the server closes the connection.
    let sender = if h2 {
        let (sender, conn) =
            http2::Builder::new(TokioExecutor::new()).handshake(io).await.map_err(|e| classify_hyper(&e))?;
        // hyper also spawns the HTTP/2 connection itself and one task per request; this
        // future only forwards requests to them.
        tokio::spawn(conn);
        Sender::H2(sender)
    } else {
        let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(|e| classify_hyper(&e))?;
        tokio::spawn(conn);
        Sender::H1(sender)
    };
    Ok(Conn { scheme: origin.scheme, authority: origin.authority.clone(), sender, stats, used: false })
}
