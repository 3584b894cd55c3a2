//! The per-VU sample buffer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use stampede_metrics::{MetricId, Registry, Sample, TagSetId};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

/// The sending half of the one bounded sample channel. Batches, not samples, cross it.
pub type BatchSender = mpsc::Sender<Vec<Sample>>;

/// How many samples a VU buffers before it hands a batch over (1.5 KiB: with 10,000 VUs the
/// buffers must stay small, and a batch still carries several requests).
const BATCH: usize = 64;
/// A buffer this full and still not accepted by the channel is dropped (and counted): 96 KiB
/// per VU at most, so a stalled collector cannot make 10,000 VUs eat the machine.
const MAX_BUFFERED: usize = 4 * 1024;
/// Flush at least this often so the live view and thresholds see recent data.
const MAX_AGE: Duration = Duration::from_millis(200);

/// Counters shared by all recorders of a run.
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Samples dropped because the channel stayed full (shown in the summary).
    pub dropped_samples: AtomicU64,
}

/// Buffers one VU's samples and hands them to the aggregator in batches. Never blocks the VU:
/// when the channel is full it keeps buffering, and past a bound it drops and counts.
#[derive(Debug)]
pub struct Recorder {
    buf: Vec<Sample>,
    epoch: Instant,
    last_flush: Instant,
    tx: BatchSender,
    registry: Arc<Registry>,
    stats: Arc<RecorderStats>,
}

impl Recorder {
    /// A recorder whose sample times count from `epoch`.
    pub fn new(epoch: Instant, tx: BatchSender, registry: Arc<Registry>, stats: Arc<RecorderStats>) -> Self {
        Recorder { buf: Vec::new(), epoch, last_flush: Instant::now(), tx, registry, stats }
    }

    /// The registry, to intern tag sets.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The run's epoch.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Microseconds from the epoch to `at`.
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Records a sample at `at`.
    pub fn record_at(&mut self, metric: MetricId, tags: TagSetId, at: Instant, value: f64) {
        let time = self.micros(at);
        if self.buf.capacity() == 0 {
            // Allocated on first use after a flush: an idle VU holds no buffer.
            self.buf.reserve_exact(BATCH);
        }
        self.buf.push(Sample { metric, tags, time, value });
        if self.buf.len() >= BATCH {
            self.flush();
        }
    }

    /// Records a sample now.
    pub fn record(&mut self, metric: MetricId, tags: TagSetId, value: f64) {
        self.record_at(metric, tags, Instant::now(), value);
    }

    /// Flushes if the buffer is older than the maximum age; call between steps.
    pub fn flush_if_due(&mut self) {
        if !self.buf.is_empty() && self.last_flush.elapsed() >= MAX_AGE {
            self.flush();
        }
    }

    /// Hands the buffered samples to the channel without waiting.
    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.buf);
        match self.tx.try_send(batch) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(batch)) => {
                if batch.len() >= MAX_BUFFERED {
                    self.stats.dropped_samples.fetch_add(batch.len() as u64, Ordering::Relaxed);
                } else {
                    self.buf = batch;
                }
            }
            // The aggregator is gone: the run is over, nothing more to keep.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Flushes and waits for room in the channel: used when a VU stops, so its last samples
    /// are not lost.
    pub async fn flush_final(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.buf);
        let _ = self.tx.send(batch).await;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Last chance for samples of a VU that was cancelled mid-iteration.
        if !self.buf.is_empty() {
            let batch = std::mem::take(&mut self.buf);
            if let Err(mpsc::error::TrySendError::Full(b)) = self.tx.try_send(batch) {
                self.stats.dropped_samples.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
        }
    }
}
