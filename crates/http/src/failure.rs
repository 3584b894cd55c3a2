//! Mapping transport errors to [`FailureKind`]s by their type and kind, never by message.

use std::error::Error as StdError;
use std::io;

use stampede_proto::FailureKind;

/// Where an I/O error happened matters for what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// Plain TCP: invalid data cannot come from the socket itself.
    Plain,
    /// Under TLS: rustls reports its errors as `InvalidData`.
    Tls,
}

/// An I/O error after the connection was established.
pub(crate) fn classify_io(err: &io::Error, layer: Layer) -> FailureKind {
    use io::ErrorKind as K;
    match err.kind() {
        K::TimedOut => FailureKind::Timeout,
        K::InvalidData if layer == Layer::Tls => FailureKind::Tls,
        K::InvalidData => FailureKind::Protocol,
        K::ConnectionRefused => FailureKind::Connect,
        _ => FailureKind::Reset,
    }
}

/// A hyper error from a request, a response body or an HTTP/2 handshake.
pub(crate) fn classify_hyper(err: &hyper::Error, layer: Layer) -> FailureKind {
    if err.is_timeout() {
        return FailureKind::Timeout;
    }
    if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        return FailureKind::Protocol;
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return classify_io(io, layer);
        }
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return classify_h2(h2, layer);
        }
        source = cause.source();
    }
    if err.is_user() {
        // A request hyper refused to send; as far as the target is concerned, the exchange
        // did not follow the protocol.
        return FailureKind::Protocol;
    }
    // Incomplete message, closed or canceled connection, aborted body: the peer went away.
    FailureKind::Reset
}

fn classify_h2(err: &h2::Error, layer: Layer) -> FailureKind {
    if let Some(io) = err.get_io() {
        return classify_io(io, layer);
    }
    match err.reason() {
        Some(
            h2::Reason::PROTOCOL_ERROR
            | h2::Reason::COMPRESSION_ERROR
            | h2::Reason::FRAME_SIZE_ERROR
            | h2::Reason::FLOW_CONTROL_ERROR
            | h2::Reason::HTTP_1_1_REQUIRED,
        ) => FailureKind::Protocol,
        // REFUSED_STREAM, CANCEL, INTERNAL_ERROR, a GOAWAY mid-request: the stream was reset.
        _ => FailureKind::Reset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds_map_by_layer() {
        let bad = io::Error::new(io::ErrorKind::InvalidData, "x");
        assert_eq!(classify_io(&bad, Layer::Tls), FailureKind::Tls);
        assert_eq!(classify_io(&bad, Layer::Plain), FailureKind::Protocol);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify_io(&reset, Layer::Plain), FailureKind::Reset);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(classify_io(&eof, Layer::Tls), FailureKind::Reset);
    }

    #[test]
    fn h2_reasons_map_to_protocol_or_reset() {
        let proto = h2::Error::from(h2::Reason::PROTOCOL_ERROR);
        assert_eq!(classify_h2(&proto, Layer::Plain), FailureKind::Protocol);
        let refused = h2::Error::from(h2::Reason::REFUSED_STREAM);
        assert_eq!(classify_h2(&refused, Layer::Plain), FailureKind::Reset);
    }
}
