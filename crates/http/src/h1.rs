//! HTTP/1.1, driven by the VU's own task: the connection is a socket and a read buffer in the
//! VU's session, a request is one write of bytes serialized at compile time, and the response
//! is parsed straight out of the read buffer. No spawned task, no channel, no per-request
//! allocation. See the crate doc for why (measured) and what it costs.

mod parse;
mod request;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use stampede_proto::FailureKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

pub(crate) use parse::Received;
pub(crate) use request::{H1Request, Head, write_fields};

use crate::failure::{AttemptFailure, Progress, classify_io};
use crate::io::{Counted, IoStats};
use crate::stream::BodySink;
use crate::timeline::{Phase, Timeline};
use parse::{MAX_HEAD_BYTES, Receiver};

/// A connection's read buffer starts at this size, which holds any ordinary response head
/// (4 KiB, as Go's bufio: with 10,000 VUs every KiB here is 10 MB).
const INITIAL_READ_BUFFER: usize = 4 * 1024;

/// While a body fills every read, the buffer doubles up to this size, so a large download is
/// read in few system calls.
const MAX_BODY_READ_BUFFER: usize = 64 * 1024;

/// A buffer grown beyond this (by a huge response head) is released after the response, so
/// per-VU memory stays in kilobytes.
const RETAINED_READ_BUFFER: usize = 64 * 1024;

/// The socket under an HTTP/1.1 connection.
#[derive(Debug)]
pub(crate) enum Stream {
    /// `http://`: wire bytes are counted in [`H1Conn`] as they are written and read.
    Plain(TcpStream),
    /// `https://` with ALPN `http/1.1` (or none): wire bytes are counted below TLS, in
    /// `Counted`, so they include records and the handshake.
    Tls(Box<TlsStream<Counted>>, Arc<IoStats>),
}

/// Received bytes not yet used: `data[pos..filled]`. The buffer is empty between responses.
#[derive(Debug)]
struct ReadBuffer {
    data: Vec<u8>,
    pos: usize,
    filled: usize,
}

impl ReadBuffer {
    fn new() -> Self {
        ReadBuffer { data: vec![0; INITIAL_READ_BUFFER], pos: 0, filled: 0 }
    }

    fn unused(&self) -> &[u8] {
        &self.data[self.pos..self.filled]
    }

    fn is_empty(&self) -> bool {
        self.pos == self.filled
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.filled {
            // The common case: everything was used, the next read starts at the front again.
            self.pos = 0;
            self.filled = 0;
        }
    }

    /// Room for the next read: moves unused bytes to the front, or grows the buffer (up to
    /// what a response head may take) when it is full of them. Empty only when a head is
    /// larger than that, which the receiver rejects before asking for more.
    fn spare(&mut self) -> &mut [u8] {
        if self.filled == self.data.len() {
            if self.pos > 0 {
                self.data.copy_within(self.pos..self.filled, 0);
                self.filled -= self.pos;
                self.pos = 0;
            } else if self.data.len() < MAX_HEAD_BYTES {
                let len = (self.data.len() * 2).min(MAX_HEAD_BYTES);
                self.data.resize(len, 0);
            }
        }
        &mut self.data[self.filled..]
    }

    /// Records a read of `n` bytes into a spare area of `spare` bytes.
    fn filled_by(&mut self, n: usize, spare: usize) {
        self.filled += n;
        // A read that filled everything suggests more is waiting: read more at a time.
        if n == spare && self.data.len() < MAX_BODY_READ_BUFFER {
            let len = (self.data.len() * 2).min(MAX_BODY_READ_BUFFER);
            self.data.resize(len, 0);
        }
    }

    /// After a response: gives back memory a huge head made the buffer grow by.
    fn settle(&mut self) {
        if self.is_empty() && self.data.len() > RETAINED_READ_BUFFER {
            self.data = vec![0; INITIAL_READ_BUFFER];
        }
    }
}

/// What a response did to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The final status.
    pub status: u16,
    /// Whether the connection may carry the next request: neither side asked to close, the
    /// body did not run to the close, and the server sent nothing beyond the response.
    pub reusable: bool,
}

/// One HTTP/1.1 connection of a VU.
#[derive(Debug)]
pub(crate) struct H1Conn {
    stream: Stream,
    buf: ReadBuffer,
    /// Plain TCP: wire bytes (sent, received) since the last [`H1Conn::take_bytes`]. TLS:
    /// the `IoStats` totals already taken.
    bytes: (u64, u64),
    /// An exchange started and did not finish (its future was dropped: a timeout, or the
    /// VU was stopped): the connection is mid-response and cannot be reused.
    in_flight: bool,
}

impl H1Conn {
    /// A connection over `stream`. Bytes a TLS stream counted so far (the handshake) were
    /// charged already.
    pub(crate) fn new(stream: Stream) -> Self {
        let bytes = match &stream {
            Stream::Plain(_) => (0, 0),
            Stream::Tls(_, stats) => stats.bytes(),
        };
        H1Conn { stream, buf: ReadBuffer::new(), bytes, in_flight: false }
    }

    /// Wire bytes (sent, received) since the last call, the TLS handshake included.
    pub(crate) fn take_bytes(&mut self) -> (u64, u64) {
        match &self.stream {
            Stream::Plain(_) => std::mem::take(&mut self.bytes),
            Stream::Tls(_, stats) => {
                let (sent, received) = stats.bytes();
                let taken = std::mem::replace(&mut self.bytes, (sent, received));
                (sent.saturating_sub(taken.0), received.saturating_sub(taken.1))
            }
        }
    }

    /// Whether an idle connection can take the next request: no exchange was abandoned on it
    /// and the server has neither closed it nor sent anything unasked. No task watches an
    /// idle connection, so this looks at the socket without waiting: on plain TCP it costs no
    /// system call when tokio already knows the socket has nothing to read, which is the
    /// steady state (a read that did not fill the buffer clears tokio's readiness).
    pub(crate) fn is_reusable(&mut self) -> bool {
        if self.in_flight {
            return false;
        }
        let spare = &mut self.buf.data[self.buf.filled..];
        match &mut self.stream {
            Stream::Plain(tcp) => match tcp.try_read(spare) {
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                Ok(n) => {
                    self.bytes.1 += n as u64;
                    false
                }
            },
            Stream::Tls(tls, _) => {
                // Also consumes TLS 1.3 session tickets that arrived since the last response.
                let mut cx = Context::from_waker(Waker::noop());
                let mut read = ReadBuf::new(spare);
                matches!(Pin::new(&mut **tls).poll_read(&mut cx, &mut read), Poll::Pending)
            }
        }
    }

    /// Sends `req` and reads the whole response, passing the body's bytes to `body` (kept up
    /// to the check limit, scanned for events as they arrive). Charges the phases to `t`
    /// (sending from the last mark, waiting from the last written byte, receiving from the
    /// first byte read) and the wire bytes too.
    /// `head`, when given, replaces the request's own head (see [`H1Request::head_with_field`]).
    pub(crate) async fn exchange(
        &mut self,
        req: &H1Request,
        head: Option<&[u8]>,
        body: BodySink<'_>,
        t: &mut Timeline,
    ) -> Result<Outcome, AttemptFailure> {
        self.in_flight = true;
        let result = self.send_and_receive(req, head, body, t).await;
        t.add_bytes(self.take_bytes());
        let received = result?;
        let reusable = received.keep_alive && !req.closes && self.buf.is_empty();
        if reusable {
            self.in_flight = false;
            self.buf.settle();
        }
        Ok(Outcome { status: received.status, reusable })
    }

    async fn send_and_receive(
        &mut self,
        req: &H1Request,
        head: Option<&[u8]>,
        mut body: BodySink<'_>,
        t: &mut Timeline,
    ) -> Result<Received, AttemptFailure> {
        let mark = t.mark();
        t.enter(Phase::Sending, mark);
        let (own_head, tail) = req.parts();
        let head = head.unwrap_or(own_head);
        if let Err((e, written)) = self.write_request(head, tail).await {
            let progress = if written { Progress::Written } else { Progress::NotWritten };
            return Err(AttemptFailure { kind: classify_io(&e), progress });
        }
        t.enter(Phase::Waiting, Instant::now());

        let mut rx = Receiver::new(req.answering);
        let mut progress = Progress::Written;
        loop {
            let n = self.read().await.map_err(|e| AttemptFailure { kind: classify_io(&e), progress })?;
            if n == 0 {
                let received = rx.at_eof().ok_or(AttemptFailure { kind: FailureKind::Reset, progress })?;
                body.finish(Instant::now());
                return Ok(received);
            }
            let first = progress == Progress::Written;
            // A streamed body's events are timed by the read that brought them; other
            // responses read the clock only at the first byte.
            let at = if first || body.is_streaming() { Instant::now() } else { t.mark() };
            if first {
                progress = Progress::Received;
                t.enter(Phase::Receiving, at);
            }
            let advance = rx
                .advance(self.buf.unused(), |data| body.data(data, at))
                .map_err(|_| AttemptFailure { kind: FailureKind::Protocol, progress })?;
            if let Some(range) = rx.take_head().filter(|_| body.wants_head()) {
                body.raw_head(&self.buf.unused()[range]);
            }
            self.buf.consume(advance.used);
            if let Some(received) = advance.done {
                body.finish(at);
                return Ok(received);
            }
        }
    }

    /// Writes the head and the tail, as one system call when the socket takes it all. On
    /// failure, also says whether any byte was written.
    async fn write_request(&mut self, head: &[u8], tail: &[u8]) -> Result<(), (io::Error, bool)> {
        let total = head.len() + tail.len();
        let mut written = 0;
        while written < total {
            let result = if written < head.len() && !tail.is_empty() {
                let parts = [IoSlice::new(&head[written..]), IoSlice::new(tail)];
                match &mut self.stream {
                    Stream::Plain(tcp) => tcp.write_vectored(&parts).await,
                    Stream::Tls(tls, _) => tls.write_vectored(&parts).await,
                }
            } else {
                let rest =
                    if written < head.len() { &head[written..] } else { &tail[written - head.len()..] };
                match &mut self.stream {
                    Stream::Plain(tcp) => tcp.write(rest).await,
                    Stream::Tls(tls, _) => tls.write(rest).await,
                }
            };
            match result {
                Ok(0) => return Err((io::ErrorKind::WriteZero.into(), written > 0)),
                Ok(n) => {
                    written += n;
                    if let Stream::Plain(_) = self.stream {
                        self.bytes.0 += n as u64;
                    }
                }
                Err(e) => return Err((e, written > 0)),
            }
        }
        if let Stream::Tls(tls, _) = &mut self.stream {
            // rustls buffers records; the request is sent when they reach the socket.
            tls.flush().await.map_err(|e| (e, true))?;
        }
        Ok(())
    }

    /// Reads what is available into the buffer; 0 at end of stream.
    async fn read(&mut self) -> io::Result<usize> {
        let spare = self.buf.spare();
        let room = spare.len();
        if room == 0 {
            return Err(io::ErrorKind::InvalidData.into());
        }
        let n = match &mut self.stream {
            Stream::Plain(tcp) => {
                let n = tcp.read(spare).await?;
                self.bytes.1 += n as u64;
                n
            }
            Stream::Tls(tls, _) => match tls.read(spare).await {
                // A peer closing without close_notify ends a close-delimited body all the
                // same, as browsers treat it; other framings report it as cut short.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                other => other?,
            },
        };
        self.buf.filled_by(n, room);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_compacts_grows_and_settles() {
        let mut buf = ReadBuffer::new();
        let spare = buf.spare().len();
        assert_eq!(spare, INITIAL_READ_BUFFER);
        // A full read doubles the buffer for the next one.
        buf.filled_by(spare, spare);
        assert_eq!(buf.data.len(), 2 * INITIAL_READ_BUFFER);
        buf.consume(10);
        assert_eq!(buf.unused().len(), INITIAL_READ_BUFFER - 10);
        buf.consume(INITIAL_READ_BUFFER - 10);
        assert!(buf.is_empty());
        assert_eq!((buf.pos, buf.filled), (0, 0), "an empty buffer restarts at the front");

        // Unused bytes move to the front when the end is reached.
        let len = buf.data.len();
        buf.filled = len;
        buf.pos = len - 3;
        assert_eq!(buf.spare().len(), len - 3);
        assert_eq!((buf.pos, buf.filled), (0, 3));

        // A head filling the buffer makes it grow, up to the head limit, then settle back.
        buf.pos = 0;
        buf.filled = buf.data.len();
        while buf.data.len() < MAX_HEAD_BYTES {
            buf.spare();
            buf.filled = buf.data.len();
        }
        assert!(buf.spare().is_empty(), "no room beyond the head limit");
        buf.consume(buf.filled);
        buf.settle();
        assert_eq!(buf.data.len(), INITIAL_READ_BUFFER);
    }
}
