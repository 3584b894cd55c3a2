//! The phases of one request and how long each took.
//!
//! A request moves forward through phases; each transition charges the time since the last one
//! to the phase being left. Whatever phase is current when the request ends (normally,
//! by failure or by timeout) is charged up to the end, so a request that timed out while
//! connecting shows its time under `http_req_connecting`, as a person reading the numbers
//! would expect.

use std::sync::Arc;

use tokio::time::{Duration, Instant};

use crate::io::{IoMarks, IoStats};

/// A phase of a request, named after the metric its time goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// DNS, waiting for a connection to be ready, the HTTP handshake.
    Blocked,
    /// TCP connect.
    Connecting,
    /// TLS handshake.
    TlsHandshaking,
    /// Writing the request.
    Sending,
    /// Waiting for the first byte of the response.
    Waiting,
    /// Reading the response after its first byte.
    Receiving,
}

/// The connection a request currently uses, and its byte counters when it was attached.
#[derive(Debug)]
struct Attached {
    stats: Arc<IoStats>,
    base: (u64, u64),
    first_byte_from_reads: bool,
}

/// Per-phase durations of one request, plus wire bytes.
#[derive(Debug)]
pub(crate) struct Timeline {
    phase: Phase,
    mark: Instant,
    io: Option<Attached>,
    pub blocked: Duration,
    pub connecting: Duration,
    pub tls_handshaking: Duration,
    pub sending: Duration,
    pub waiting: Duration,
    pub receiving: Duration,
    /// Wire bytes written, connection setup and a retried first attempt included.
    pub bytes_sent: u64,
    /// Wire bytes read.
    pub bytes_received: u64,
}

impl Timeline {
    pub(crate) fn new(start: Instant) -> Self {
        Timeline {
            phase: Phase::Blocked,
            mark: start,
            io: None,
            blocked: Duration::ZERO,
            connecting: Duration::ZERO,
            tls_handshaking: Duration::ZERO,
            sending: Duration::ZERO,
            waiting: Duration::ZERO,
            receiving: Duration::ZERO,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// The phase now in progress.
    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Leaves the current phase at `at` (clamped so time never runs backwards) for `next`.
    pub(crate) fn enter(&mut self, next: Phase, at: Instant) {
        let at = at.max(self.mark);
        let spent = at - self.mark;
        *self.bucket(self.phase) += spent;
        self.phase = next;
        self.mark = at;
    }

    /// Enters `next` now.
    pub(crate) fn enter_now(&mut self, next: Phase) {
        self.enter(next, Instant::now());
    }

    /// When the current phase began: a phase can start there without reading the clock.
    pub(crate) fn mark(&self) -> Instant {
        self.mark
    }

    /// Adds wire bytes (sent, received) counted outside an attached connection.
    pub(crate) fn add_bytes(&mut self, (sent, received): (u64, u64)) {
        self.bytes_sent += sent;
        self.bytes_received += received;
    }

    /// Uses `stats` for the request's bytes and socket timestamps from now on. Bytes of a
    /// connection attached before (a failed first attempt) are kept.
    pub(crate) fn attach(&mut self, stats: Arc<IoStats>) {
        self.settle_bytes();
        let base = stats.bytes();
        self.io = Some(Attached { stats, base, first_byte_from_reads: true });
    }

    /// Stops using the attached connection's counters, keeping the bytes seen so far (a TLS
    /// handshake that turned out to lead to HTTP/1.1, which counts its own bytes).
    pub(crate) fn detach(&mut self) {
        self.settle_bytes();
        self.io = None;
    }

    /// Whether the first plaintext read of the attached connection is the response's first
    /// byte: true for HTTP/1; false for HTTP/2, where it may be a connection-level frame and
    /// the arrival of the response head is used instead.
    pub(crate) fn set_first_byte_from_reads(&mut self, yes: bool) {
        if let Some(io) = &mut self.io {
            io.first_byte_from_reads = yes;
        }
    }

    /// Starts sending a request on the attached connection.
    pub(crate) fn start_sending(&mut self) {
        if let Some(io) = &self.io {
            io.stats.arm();
        }
        self.enter_now(Phase::Sending);
    }

    /// The socket marks of the attached connection since [`Timeline::start_sending`].
    pub(crate) fn marks(&self) -> IoMarks {
        self.io.as_ref().map(|io| io.stats.marks()).unwrap_or_default()
    }

    /// Advances through sending and waiting using what the socket layer observed, up to
    /// `limit`: the moment the response head was seen (`head_received`), or the end.
    pub(crate) fn sync_io(&mut self, limit: Instant, head_received: bool) {
        let marks = self.marks();
        let from_reads = self.io.as_ref().is_some_and(|io| io.first_byte_from_reads);
        if self.phase == Phase::Sending {
            if let Some(sent) = marks.sent.filter(|&t| t <= limit) {
                self.enter(Phase::Waiting, sent);
            } else if head_received {
                self.enter(Phase::Waiting, limit);
            }
        }
        if self.phase == Phase::Waiting {
            let first_byte = match marks.first_read.filter(|&t| t <= limit) {
                Some(t) if from_reads => Some(t),
                _ => head_received.then_some(limit),
            };
            if let Some(t) = first_byte {
                self.enter(Phase::Receiving, t);
            }
        }
    }

    /// Charges the current phase up to `end` and totals the bytes.
    pub(crate) fn finish(&mut self, end: Instant) {
        self.sync_io(end, false);
        let phase = self.phase;
        self.enter(phase, end);
        self.settle_bytes();
        self.io = None;
    }

    /// `http_req_duration`: sending + waiting + receiving.
    pub(crate) fn duration(&self) -> Duration {
        self.sending + self.waiting + self.receiving
    }

    fn settle_bytes(&mut self) {
        if let Some(io) = &mut self.io {
            let (sent, received) = io.stats.bytes();
            self.bytes_sent += sent.saturating_sub(io.base.0);
            self.bytes_received += received.saturating_sub(io.base.1);
            io.base = (sent, received);
        }
    }

    fn bucket(&mut self, phase: Phase) -> &mut Duration {
        match phase {
            Phase::Blocked => &mut self.blocked,
            Phase::Connecting => &mut self.connecting,
            Phase::TlsHandshaking => &mut self.tls_handshaking,
            Phase::Sending => &mut self.sending,
            Phase::Waiting => &mut self.waiting,
            Phase::Receiving => &mut self.receiving,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_charged_in_order_and_the_current_one_runs_to_the_end() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Timeline::new(t0);
        t.enter(Phase::Connecting, t0 + ms(1));
        t.enter(Phase::Blocked, t0 + ms(4));
        t.enter(Phase::Sending, t0 + ms(5));
        t.enter(Phase::Waiting, t0 + ms(6));
        t.enter(Phase::Receiving, t0 + ms(10));
        t.finish(t0 + ms(15));
        assert_eq!(t.blocked, ms(2));
        assert_eq!(t.connecting, ms(3));
        assert_eq!(t.sending, ms(1));
        assert_eq!(t.waiting, ms(4));
        assert_eq!(t.receiving, ms(5));
        assert_eq!(t.duration(), ms(10));
    }

    #[test]
    fn a_timeout_while_waiting_is_charged_to_waiting_and_time_never_runs_back() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Timeline::new(t0);
        t.enter(Phase::Sending, t0 + ms(2));
        // Without socket marks, a request that never saw a response head stays "waiting".
        t.sync_io(t0 + ms(50), false);
        assert_eq!(t.phase(), Phase::Sending);
        t.enter(Phase::Waiting, t0 + ms(1));
        t.finish(t0 + ms(100));
        assert_eq!(t.sending, Duration::ZERO, "clamped, not negative");
        assert_eq!(t.waiting, ms(98));
        assert_eq!(t.receiving, Duration::ZERO);
    }

    #[test]
    fn socket_marks_split_sending_waiting_and_receiving() {
        let stats = IoStats::new();
        let mut t = Timeline::new(Instant::now());
        t.attach(stats.clone());
        t.start_sending();
        let marks = t.marks();
        assert!(marks.sent.is_none());
        let head = Instant::now();
        t.sync_io(head, true);
        assert_eq!(t.phase(), Phase::Receiving);
        t.finish(Instant::now());
        assert!(t.duration() >= t.sending + t.waiting);
        assert_eq!((t.bytes_sent, t.bytes_received), (0, 0));
    }
}
