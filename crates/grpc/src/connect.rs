//! Opening a channel's connection: our own connectors, handed to tonic with
//! [`Endpoint::connect_with_connector`](tonic::transport::Endpoint), for plaintext and TLS.
//!
//! Both put [`Counted`](stampede_proto::Counted) directly on the TCP stream, feeding the
//! connection's [`Wire`] counters, so that `data_sent` / `data_received` are wire bytes: HTTP/2
//! framing, and for TLS the records and the handshake, as for http and ws. tonic's own
//! connector (`Endpoint::connect`) would hide the TCP stream from us.
//!
//! Why not tonic's own TLS (`tls-ring`)? It cannot skip verification, which
//! `insecure_skip_tls_verify` needs, and it would build a second rustls configuration next to
//! the one every other protocol shares (`stampede_http::client_tls_config`: the ring provider,
//! the webpki roots). Doing the handshake here also tells a TLS failure from a refused
//! connection by type ([`ConnectError`]), not by its message.
//!
//! tonic sees an `http://` endpoint whose origin is `https://`: requests carry
//! `:scheme: https`, and tonic never tries TLS of its own (with its TLS features enabled by
//! some other crate of the build, an `https://` endpoint without its TLS config is refused).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// No TCP connection (refused, unreachable, no such host).
    #[error("connect: {0}")]
    Tcp(std::io::Error),
    /// The TLS handshake failed (untrusted certificate, wrong name, no common protocol).
    #[error("tls handshake: {0}")]
    Handshake(std::io::Error),
    /// The endpoint's URI has no host (tonic always passes the endpoint's own).
    #[error("no host in {0}")]
    Address(Uri),
}

impl ConnectError {
    /// Whether `err` or one of its sources is a failed handshake.
    pub(crate) fn is_handshake(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut source = Some(err);
        while let Some(e) = source {
            if matches!(e.downcast_ref::<ConnectError>(), Some(ConnectError::Handshake(_))) {
                return true;
            }
            source = e.source();
        }
        false
    }
}

/// Bytes moved over one channel's connection (and the connections tonic reopens in its place)
/// since it was opened.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Wire {
    /// The bytes counted so far.
    pub(crate) fn totals(&self) -> Totals {
        Totals { sent: self.sent.load(Ordering::Relaxed), received: self.received.load(Ordering::Relaxed) }
    }
}

impl stampede_proto::ByteCounter for Wire {
    fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }
}

/// A reading of a [`Wire`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) sent: u64,
    pub(crate) received: u64,
}

impl Totals {
    /// What was counted between `before` and `self`.
    pub(crate) fn since(self, before: Totals) -> Totals {
        Totals {
            sent: self.sent.saturating_sub(before.sent),
            received: self.received.saturating_sub(before.received),
        }
    }
}

/// TCP with its bytes counted into the connection's [`Wire`].
type Counted = stampede_proto::Counted<TcpStream, Wire>;

/// Connects TCP to `uri`'s host and port (`default_port` if it has none), counted into `wire`.
async fn tcp(uri: &Uri, default_port: u16, wire: Arc<Wire>) -> Result<Counted, ConnectError> {
    let Some(host) = uri.host() else {
        return Err(ConnectError::Address(uri.clone()));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(default_port);
    let tcp = TcpStream::connect((host, port)).await.map_err(ConnectError::Tcp)?;
    // Small frames (a unary call is a few hundred bytes): Nagle would delay them. tonic's
    // own connector sets it too.
    let _ = tcp.set_nodelay(true);
    Ok(Counted::new(tcp, wire))
}

type ConnectFuture<T> = Pin<Box<dyn Future<Output = Result<TokioIo<T>, ConnectError>> + Send>>;

/// Connects plain TCP (h2c) to the endpoint's host and port, counted into `wire`.
#[derive(Debug, Clone)]
pub(crate) struct PlainConnector {
    pub(crate) wire: Arc<Wire>,
}

impl tonic::codegen::Service<Uri> for PlainConnector {
    type Response = TokioIo<Counted>;
    type Error = ConnectError;
    type Future = ConnectFuture<Counted>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let wire = self.wire.clone();
        Box::pin(async move { Ok(TokioIo::new(tcp(&uri, 80, wire).await?)) })
    }
}

/// Where a TLS connection goes: the client configuration and the name sent as SNI and
/// verified against the certificate (unless the config skips verification).
#[derive(Debug, Clone)]
pub(crate) struct TlsTarget {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) name: ServerName<'static>,
}

/// Connects TCP to the endpoint's host and port, counted into `wire`, and runs the TLS
/// handshake of `target` over it (so the handshake's bytes are counted too).
#[derive(Debug, Clone)]
pub(crate) struct TlsConnector {
    pub(crate) target: TlsTarget,
    pub(crate) wire: Arc<Wire>,
}

impl tonic::codegen::Service<Uri> for TlsConnector {
    type Response = TokioIo<TlsStream<Counted>>;
    type Error = ConnectError;
    type Future = ConnectFuture<TlsStream<Counted>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.target.config.clone());
        let name = self.target.name.clone();
        let wire = self.wire.clone();
        Box::pin(async move {
            let tcp = tcp(&uri, 443, wire).await?;
            let tls = connector.connect(name, tcp).await.map_err(ConnectError::Handshake)?;
            Ok(TokioIo::new(tls))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_since_an_earlier_reading_are_the_difference() {
        let wire = Wire::default();
        stampede_proto::ByteCounter::add_sent(&wire, 100);
        let before = wire.totals();
        stampede_proto::ByteCounter::add_sent(&wire, 20);
        stampede_proto::ByteCounter::add_received(&wire, 7);
        assert_eq!(wire.totals().since(before), Totals { sent: 20, received: 7 });
        // A reading from another wire (never the case) saturates instead of wrapping.
        assert_eq!(Totals::default().since(before), Totals::default());
    }
}
