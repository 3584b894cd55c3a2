//! Instrumented sockets for the connections whose I/O we do not drive ourselves.
//!
//! Two layers share one [`IoStats`]:
//!
//! * [`Counted`] sits directly on the TCP stream and counts *wire* bytes, so `data_sent` and
//!   `data_received` include headers, TLS records and the TLS handshake, as k6 reports them.
//!   It is under every TLS connection (our HTTP/1.1 reads the totals after each exchange)
//!   and under h2c.
//! * [`MeteredStream`] sits above TLS (on the plaintext) of an HTTP/2 connection and
//!   timestamps the first and last writes and the first read after a request is armed.
//!   Timestamping the plaintext rather than the wire keeps TLS 1.3 session tickets, which
//!   arrive after the handshake, from passing for the first byte of a response. Our
//!   HTTP/1.1 needs neither: it reads and writes in its own code and counts and timestamps
//!   there.
//!
//! Both are tokio `AsyncRead`/`AsyncWrite` adapters rather than hyper `rt::Read`/`rt::Write`
//! ones: the byte counter has to sit *below* TLS, and tokio-rustls speaks tokio's traits, so
//! one style serves both layers; hyper sees the top through `hyper_util::rt::TokioIo`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Duration, Instant};
use tokio_rustls::client::TlsStream;

/// Byte counters and per-request timestamps of one connection.
///
/// Atomics rather than `Cell`s because an HTTP/2 connection is driven by tasks hyper spawns,
/// possibly on another worker thread. All accesses are `Relaxed`: values are read after the
/// response completed, which hyper's own channels already order.
#[derive(Debug)]
pub(crate) struct IoStats {
    base: Instant,
    sent: AtomicU64,
    received: AtomicU64,
    // Nanoseconds since `base`, plus one; 0 means "not yet since the last arm".
    first_write: AtomicU64,
    last_write_before_read: AtomicU64,
    first_read: AtomicU64,
}

/// What [`IoStats::marks`] saw since the last [`IoStats::arm`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IoMarks {
    /// When the request was written completely (as far as the socket layer can tell).
    pub sent: Option<Instant>,
    /// When the first plaintext byte arrived.
    pub first_read: Option<Instant>,
}

impl IoStats {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(IoStats {
            base: Instant::now(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            first_write: AtomicU64::new(0),
            last_write_before_read: AtomicU64::new(0),
            first_read: AtomicU64::new(0),
        })
    }

    /// Wire bytes (sent, received) so far.
    pub(crate) fn bytes(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.received.load(Ordering::Relaxed))
    }

    /// Starts timestamping a new request.
    pub(crate) fn arm(&self) {
        self.first_write.store(0, Ordering::Relaxed);
        self.last_write_before_read.store(0, Ordering::Relaxed);
        self.first_read.store(0, Ordering::Relaxed);
    }

    /// The marks since the last arm. The end of sending is the later of the first write and
    /// the last write before the first read: on HTTP/1 the request is written before any
    /// response byte, so that is the last request write; on HTTP/2 the first read may be a
    /// SETTINGS frame that arrives before the request's HEADERS are written, and then the
    /// first write is the better estimate.
    pub(crate) fn marks(&self) -> IoMarks {
        let at = |v: u64| (v != 0).then(|| self.base + Duration::from_nanos(v - 1));
        let first_write = at(self.first_write.load(Ordering::Relaxed));
        let last_write = at(self.last_write_before_read.load(Ordering::Relaxed));
        IoMarks { sent: first_write.max(last_write), first_read: at(self.first_read.load(Ordering::Relaxed)) }
    }

    fn now(&self) -> u64 {
        // Saturates after ~584 years of connection life.
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1).saturating_add(1)
    }

    fn on_write(&self) {
        let now = self.now();
        if self.first_write.load(Ordering::Relaxed) == 0 {
            self.first_write.store(now, Ordering::Relaxed);
        }
        if self.first_read.load(Ordering::Relaxed) == 0 {
            self.last_write_before_read.store(now, Ordering::Relaxed);
        }
    }

    fn on_read(&self) {
        if self.first_read.load(Ordering::Relaxed) == 0 {
            self.first_read.store(self.now(), Ordering::Relaxed);
        }
    }
}

/// TCP with its wire bytes counted into the connection's [`IoStats`].
pub(crate) type Counted = stampede_proto::Counted<TcpStream, IoStats>;

impl stampede_proto::ByteCounter for IoStats {
    fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }
}

/// The plaintext stream hyper's HTTP/2 talks to: plain TCP or TLS, both counted underneath.
#[derive(Debug)]
pub(crate) enum Transport {
    /// `http://`.
    Plain(Counted),
    /// `https://`; boxed because the TLS state is large and the plain variant is the common one.
    Tls(Box<TlsStream<Counted>>),
}

/// Timestamps plaintext reads and writes for the sending/waiting/receiving split.
#[derive(Debug)]
pub(crate) struct MeteredStream {
    inner: Transport,
    stats: Arc<IoStats>,
}

impl MeteredStream {
    pub(crate) fn new(inner: Transport, stats: Arc<IoStats>) -> Self {
        MeteredStream { inner, stats }
    }
}

macro_rules! with_transport {
    ($self:ident, $io:ident => $e:expr) => {
        match &mut $self.inner {
            Transport::Plain($io) => {
                let $io = Pin::new($io);
                $e
            }
            Transport::Tls(tls) => {
                let $io = Pin::new(&mut **tls);
                $e
            }
        }
    };
}

impl AsyncRead for MeteredStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let res = with_transport!(this, io => io.poll_read(cx, buf));
        if buf.filled().len() > before {
            this.stats.on_read();
        }
        res
    }
}

impl AsyncWrite for MeteredStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let res = with_transport!(this, io => io.poll_write(cx, buf));
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.stats.on_write();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let res = with_transport!(this, io => io.poll_write_vectored(cx, bufs));
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.stats.on_write();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Transport::Plain(io) => io.is_write_vectored(),
            Transport::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        with_transport!(this, io => io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        with_transport!(this, io => io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_empty_after_arm_and_order_writes_before_reads() {
        let stats = IoStats::new();
        stats.on_write();
        stats.on_read();
        stats.arm();
        let m = stats.marks();
        assert!(m.sent.is_none() && m.first_read.is_none());

        stats.on_write();
        stats.on_write();
        let sent = stats.marks().sent.expect("write mark");
        stats.on_read();
        // A write after the first read (an HTTP/2 WINDOW_UPDATE, say) must not move `sent`
        // past the first byte.
        stats.on_write();
        let m = stats.marks();
        let first_read = m.first_read.expect("read mark");
        assert!(m.sent.expect("sent") >= sent);
        assert!(m.sent.expect("sent") <= first_read);
    }
}
