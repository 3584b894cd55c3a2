//! Durations as k6 and Go write them: `500ms`, `10s`, `1m30s`, `1.5s`, `2h`, `250us`.

use std::time::Duration;

/// Units, longest spelling first so that `ms` is not read as `m` followed by `s`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a duration: one or more `<number><unit>` parts (`1m30s`), where the number may have
/// a fraction (`1.5s`) and the unit is one of `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`.
///
/// A bare number is an error (is `30` seconds or milliseconds?), except `0`, which means the
/// same in every unit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("expected a duration like 500ms or 1m30s, found an empty string".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("duration `{s}` is negative"));
    }
    if s.parse::<f64>().is_ok() {
        return Err(format!("duration `{s}` has no unit; add one, e.g. {s}s or {s}ms"));
    }
    let mut nanos: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(format!("expected a duration like 500ms or 1m30s, found `{s}`"));
        }
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!("duration `{s}` ends without a unit; add one, e.g. {s}s")
            } else {
                format!("unknown unit `{unit}` in duration `{s}`; expected one of: ns, us, ms, s, m, h, d")
            });
        };
        nanos = nanos
            .checked_add(scaled(number, scale).ok_or_else(|| too_long(s))?)
            .ok_or_else(|| too_long(s))?;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long(s))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

fn too_long(s: &str) -> String {
    format!("duration `{s}` is too long")
}

/// `number` (digits, optionally with one `.`) times `scale` nanoseconds, computed in integers so
/// that `0.1s` is exactly 100 ms; fraction digits beyond nanosecond precision are dropped.
fn scaled(number: &str, scale: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut total = int.checked_mul(scale)?;
    let mut place = scale;
    for digit in frac.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        total = total.checked_add(u128::from(digit - b'0') * place)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn accepts_k6_spellings() {
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("10s"), Ok(ms(10_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_duration("0.1s"), Ok(ms(100)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
    }

    #[test]
    fn rejects_bare_numbers_and_unknown_units() {
        let err = parse_duration("30").unwrap_err();
        assert!(err.contains("no unit"), "{err}");
        assert!(parse_duration("1.5").unwrap_err().contains("no unit"));
        let err = parse_duration("5x").unwrap_err();
        assert!(err.contains("unknown unit `x`"), "{err}");
        assert!(parse_duration("1m30").unwrap_err().contains("without a unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("1..5s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10 s").is_err());
        assert!(parse_duration("99999999999999999999999h").is_err());
    }
}
