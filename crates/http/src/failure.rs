//! Mapping transport errors to [`FailureKind`]s by their type and kind, never by message.

use std::error::Error as StdError;
use std::io;

use stampede_proto::FailureKind;

/// How far an attempt got before it failed: decides whether it may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Progress {
    /// Not a byte of the request was written.
    NotWritten,
    /// The request was (at least partly) written, no response byte yet.
    Written,
    /// Response bytes arrived (HTTP/2: the response head).
    Received,
}

/// A transport failure of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttemptFailure {
    pub kind: FailureKind,
    pub progress: Progress,
}

/// An I/O error after the connection was established. hyper reports malformed bodies
/// (a bad chunk size) as `InvalidInput`/`InvalidData`, and tokio-rustls wraps a TLS error
/// (a bad record, an alert) as `InvalidData` around a `rustls::Error`, which tells them apart.
pub(crate) fn classify_io(err: &io::Error) -> FailureKind {
    use io::ErrorKind as K;
    match err.kind() {
        K::InvalidData if err.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => FailureKind::Tls,
        K::InvalidData | K::InvalidInput => FailureKind::Protocol,
        K::TimedOut => FailureKind::Timeout,
        K::ConnectionRefused => FailureKind::Connect,
        // Reset, aborted, broken pipe, unexpected EOF: the peer went away mid-exchange.
        _ => FailureKind::Reset,
    }
}

/// A hyper error from a request, a response body or an HTTP/2 handshake.
pub(crate) fn classify_hyper(err: &hyper::Error) -> FailureKind {
    if err.is_timeout() {
        return FailureKind::Timeout;
    }
    if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        return FailureKind::Protocol;
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return classify_io(io);
        }
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return classify_h2(h2);
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

fn classify_h2(err: &h2::Error) -> FailureKind {
    if let Some(io) = err.get_io() {
        return classify_io(io);
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
    fn io_errors_map_by_kind_and_inner_type() {
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(classify_io(&tls), FailureKind::Tls);
        let chunk = io::Error::new(io::ErrorKind::InvalidInput, "bad chunk size");
        assert_eq!(classify_io(&chunk), FailureKind::Protocol);
        let data = io::Error::new(io::ErrorKind::InvalidData, "bad encoding");
        assert_eq!(classify_io(&data), FailureKind::Protocol);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify_io(&reset), FailureKind::Reset);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(classify_io(&eof), FailureKind::Reset);
    }

    #[test]
    fn h2_reasons_map_to_protocol_or_reset() {
        let proto = h2::Error::from(h2::Reason::PROTOCOL_ERROR);
        assert_eq!(classify_h2(&proto), FailureKind::Protocol);
        let refused = h2::Error::from(h2::Reason::REFUSED_STREAM);
        assert_eq!(classify_h2(&refused), FailureKind::Reset);
    }
}
