//! Number formatting shared by the renderers.

/// Formats milliseconds the way k6 does: `850µs`, `12.34ms`, `1.52s`, `2m3s`.
pub fn format_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".to_string();
    }
    if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.2}ms")
    } else if ms < 60_000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        let secs = (ms / 1000.0).round() as u64;
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

/// Formats a byte count with SI units: `512 B`, `1.2 kB`, `35 MB`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{v:.0} {}", UNITS[0]) } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(format_ms(0.5), "500µs");
        assert_eq!(format_ms(12.344), "12.34ms");
        assert_eq!(format_ms(1520.0), "1.52s");
        assert_eq!(format_ms(123_000.0), "2m3s");
    }

    #[test]
    fn bytes_use_si_units() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1234.0), "1.2 kB");
        assert_eq!(format_bytes(35_000_000.0), "35.0 MB");
    }
}
