//! `wss://`: a TLS WebSocket echo server with a self-signed certificate, built here from
//! tokio-rustls and tokio-websockets' server side.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use stampede_metrics::builtin;
use tokio::net::TcpListener;

use crate::support::{Harness, bounded, failed};

/// Serves a TLS WebSocket echo on 127.0.0.1:0; the task ends with the test's runtime.
async fn wss_echo_server() -> SocketAddr {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let Ok((_, mut ws)) = tokio_websockets::ServerBuilder::new().accept(tls).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn wss_works_when_told_to_trust_the_certificate_and_fails_tls_otherwise() {
    bounded(async {
        let addr = wss_echo_server().await;
        let flow = format!(
            r#"  - ws: {{ connect: "wss://{addr}/echo", timeout: 5s }}
  - ws: {{ send: over tls }}
  - ws: {{ receive: {{ match: {{ contains: over tls }}, timeout: 5s }} }}
  - ws: {{ close: {{}}, timeout: 5s }}
"#
        );
        let target = format!("http://{addr}");
        let mut trusting =
            Harness::try_new(&target, "defaults: { insecure_skip_tls_verify: true }\n", &flow).unwrap();
        assert_eq!(failed(&trusting.iteration().await), [false; 4]);
        let s = trusting.samples();
        assert_eq!(s.values(builtin::WS_CONNECTING).len(), 1);
        assert_eq!(s.values(builtin::WS_SESSION_DURATION).len(), 1);

        let mut verifying = Harness::new(&target, &flow);
        let outcomes = verifying.iteration().await;
        assert_eq!(failed(&outcomes), [true, true, true, false]);
        let s = verifying.samples();
        let errors: Vec<Option<String>> =
            s.by_tag(builtin::WS_FAILED, "error").into_iter().map(|(e, _)| e).collect();
        assert_eq!(errors[0].as_deref(), Some("tls"), "an unknown issuer fails the handshake");
    })
    .await;
}
