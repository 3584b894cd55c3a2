//! The live progress line: one line, redrawn once a second, cleared at the end.

use std::io::Write;

use stampede_engine::LiveStats;
use tokio::sync::watch;

/// Draws until the engine drops the sender (the run is over).
pub async fn draw(mut rx: watch::Receiver<LiveStats>) {
    let mut stdout = std::io::stdout();
    while rx.changed().await.is_ok() {
        let s = rx.borrow_and_update().clone();
        let total = s.planned.as_secs_f64();
        let elapsed = s.elapsed.as_secs_f64();
        let bar = bar(if total > 0.0 { elapsed / total } else { 0.0 }, 20);
        let p95 = s.p95_ms.map_or_else(|| "-".to_string(), stampede_report::format_ms);
        let line = format!(
            "\r  {bar} {:>5.0}s/{:.0}s  vus {:>5}  {:>8.1} req/s  errors {:>5.2}%  p95 {:>9}  iters {}{}",
            elapsed,
            total,
            s.vus,
            s.rps,
            s.error_rate * 100.0,
            p95,
            s.iterations,
            if s.failing_thresholds > 0 {
                format!("  ✗ {} thresholds", s.failing_thresholds)
            } else {
                String::new()
            }
        );
        let _ = write!(stdout, "{line}\x1b[K");
        let _ = stdout.flush();
    }
    let _ = write!(stdout, "\r\x1b[K");
    let _ = stdout.flush();
}

fn bar(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("[{}{}]", "█".repeat(filled), "░".repeat(width - filled))
}
