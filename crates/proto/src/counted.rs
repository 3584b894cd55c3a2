//! Wire-byte counting for protocol connections.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where a [`Counted`] stream adds the bytes it moves. Implemented by each protocol's
/// per-connection state, which keeps its own atomics (`Relaxed` is enough: the counts are read
/// after the exchange they belong to).
pub trait ByteCounter: Send + Sync {
    /// `n` bytes were written to the wire.
    fn add_sent(&self, n: u64);
    /// `n` bytes were read from the wire.
    fn add_received(&self, n: u64);
}

/// A stream (usually TCP) whose bytes are counted as they cross it. It sits *below* TLS so
/// that `data_sent` / `data_received` include headers, TLS records and handshakes, as k6's do.
#[derive(Debug)]
pub struct Counted<S, C> {
    inner: S,
    counter: Arc<C>,
}

impl<S, C> Counted<S, C> {
    /// Counts `inner`'s bytes into `counter`.
    pub fn new(inner: S, counter: Arc<C>) -> Self {
        Counted { inner, counter }
    }

    /// The counter this stream feeds.
    pub fn counter(&self) -> &Arc<C> {
        &self.counter
    }
}

impl<S: AsyncRead + Unpin, C: ByteCounter> AsyncRead for Counted<S, C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            self.counter.add_received(n as u64);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin, C: ByteCounter> AsyncWrite for Counted<S, C> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.counter.add_sent(n as u64);
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            self.counter.add_sent(n as u64);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
