//! gRPC over TLS: a connector that opens TCP and runs the rustls handshake itself, handed to
//! tonic with [`Endpoint::connect_with_connector`](tonic::transport::Endpoint).
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
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Why a TLS connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// No TCP connection (refused, unreachable, no such host).
    #[error("connect: {0}")]
    Tcp(std::io::Error),
    /// The TLS handshake failed (untrusted certificate, wrong name, no common protocol).
    #[error("tls handshake: {0}")]
    Handshake(std::io::Error),
    /// The endpoint's URI has no host or port (tonic always passes the endpoint's own).
    #[error("no host and port in {0}")]
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

/// Connects TCP to the endpoint's host and port and runs the TLS handshake with `config`,
/// sending `name` as SNI and verifying the certificate against it (unless the config skips
/// verification).
#[derive(Debug, Clone)]
pub(crate) struct TlsConnector {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) name: ServerName<'static>,
}

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<TlsStream<TcpStream>>, ConnectError>> + Send>>;

impl tonic::codegen::Service<Uri> for TlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = ConnectError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> ConnectFuture {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let name = self.name.clone();
        Box::pin(async move {
            let (Some(host), Some(port)) = (uri.host(), uri.port_u16()) else {
                return Err(ConnectError::Address(uri));
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let tcp = TcpStream::connect((host, port)).await.map_err(ConnectError::Tcp)?;
            // Small frames (a unary call is a few hundred bytes): Nagle would delay them.
            let _ = tcp.set_nodelay(true);
            let tls = connector.connect(name, tcp).await.map_err(ConnectError::Handshake)?;
            Ok(TokioIo::new(tls))
        })
    }
}
