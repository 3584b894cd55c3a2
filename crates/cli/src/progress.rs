//! The live progress line: one line, redrawn once a second, cleared at the end.

use std::io::Write;

use stampede_engine::{LiveProtocol, LiveStats};
use tokio::sync::watch;

/// Draws until the engine drops the sender (the run is over).
pub async fn draw(mut rx: watch::Receiver<LiveStats>) {
    let mut stdout = std::io::stdout();
    while rx.changed().await.is_ok() {
        let s = rx.borrow_and_update().clone();
        let total = s.planned.as_secs_f64();
        let elapsed = s.elapsed.as_secs_f64();
        let bar = bar(if total > 0.0 { elapsed / total } else { 0.0 }, 20);
        let line = format!(
            "\r  {bar} {:>5.0}s/{:.0}s  vus {:>5}{}  iters {}{}",
            elapsed,
            total,
            s.vus,
            protocols(&s.protocols),
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

/// One segment per protocol: just the figures when the plan uses one protocol (the common
/// case keeps the line short), each prefixed with its name when it mixes several.
fn protocols(protocols: &[LiveProtocol]) -> String {
    let named = protocols.len() > 1;
    let mut out = String::new();
    for p in protocols {
        let p95 = p.p95_ms.map_or_else(|| "-".to_string(), stampede_report::format_ms);
        let name = if named { format!("  {}", p.name) } else { String::new() };
        let rate = format!("{:.1} {}/s", p.per_second, p.unit);
        out.push_str(&format!("{name}  {rate:>12}  errors {:>5.2}%  p95 {p95:>9}", p.error_rate * 100.0));
    }
    out
}

fn bar(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("[{}{}]", "█".repeat(filled), "░".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(name: &'static str, unit: &'static str, per_second: f64) -> LiveProtocol {
        LiveProtocol { name, unit, count: 10, per_second, error_rate: 0.5, p95_ms: None }
    }

    #[test]
    fn one_protocol_shows_its_figures_several_are_named() {
        let one = protocols(&[live("ws", "msg", 12.0)]);
        assert!(one.contains("12.0 msg/s") && one.contains("50.00%") && !one.contains("ws"), "{one}");
        let mixed = protocols(&[live("http", "req", 3.0), live("grpc", "call", 4.0)]);
        assert!(mixed.contains("http") && mixed.contains("3.0 req/s"), "{mixed}");
        assert!(mixed.contains("grpc") && mixed.contains("4.0 call/s"), "{mixed}");
    }
}
