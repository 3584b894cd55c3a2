//! The demo's typed configuration and the parsers for its command-line forms.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What the demo service does to every request, on top of what the request asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemoConfig {
    /// Latency added to every request, before the handler runs.
    pub latency: Latency,
    /// The per-client limit on `POST /calls/outbound`.
    pub rate_limit: RateLimit,
}

/// A latency drawn uniformly from `mean - jitter ..= mean + jitter` (clamped at zero).
///
/// Parsed from `"20ms"`, `"20ms±5ms"`, `"20ms+-5ms"` or `"0"`; the default is no latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// The centre of the distribution.
    pub mean: Duration,
    /// Half the width of the distribution.
    pub jitter: Duration,
}

impl Latency {
    /// Whether this latency never delays anything, so callers can skip the timer.
    pub fn is_zero(&self) -> bool {
        self.mean.is_zero() && self.jitter.is_zero()
    }

    /// Draws one latency from the distribution.
    pub fn sample(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.mean;
        }
        let low = self.mean.saturating_sub(self.jitter);
        let high = self.mean.saturating_add(self.jitter);
        // Nanoseconds in a u64 cover 584 years, far past any latency worth injecting.
        let low_ns = u64::try_from(low.as_nanos()).unwrap_or(u64::MAX);
        let high_ns = u64::try_from(high.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(low_ns..=high_ns))
    }
}

impl FromStr for Latency {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::Latency(input.to_owned());
        let text = input.trim();
        let (mean, jitter) = match text.split_once('±').or_else(|| text.split_once("+-")) {
            Some((mean, jitter)) => (mean, Some(jitter)),
            None => (text, None),
        };
        let mean = parse_duration(mean).ok_or_else(invalid)?;
        let jitter = match jitter {
            Some(jitter) => parse_duration(jitter).ok_or_else(invalid)?,
            None => Duration::ZERO,
        };
        Ok(Latency { mean, jitter })
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", DurationText(self.mean))?;
        if !self.jitter.is_zero() {
            write!(f, "±{}", DurationText(self.jitter))?;
        }
        Ok(())
    }
}

/// At most `requests` requests per client in each window of length `per`.
///
/// Parsed from `"20/s"`, `"10/min"` or `"100/15m"`; the default is 20 per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub requests: u32,
    /// The window's length.
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { requests: 20, per: Duration::from_secs(1) }
    }
}

impl FromStr for RateLimit {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseError::RateLimit(input.to_owned());
        let (requests, period) = input.trim().split_once('/').ok_or_else(invalid)?;
        let requests: u32 = requests.trim().parse().map_err(|_| invalid())?;
        let period = period.trim();
        // "10/min" names a unit alone; "100/15m" is a full duration.
        let per = match unit_seconds(period) {
            Some(seconds) => Duration::from_secs(seconds),
            None => parse_duration(period).ok_or_else(invalid)?,
        };
        if requests == 0 || per.is_zero() {
            return Err(invalid());
        }
        Ok(RateLimit { requests, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 if self.per.subsec_nanos() == 0 => write!(f, "{}/s", self.requests),
            60 if self.per.subsec_nanos() == 0 => write!(f, "{}/min", self.requests),
            3600 if self.per.subsec_nanos() == 0 => write!(f, "{}/h", self.requests),
            _ => write!(f, "{}/{}", self.requests, DurationText(self.per)),
        }
    }
}

/// Why a latency or rate-limit string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input is not `MEAN` or `MEAN±JITTER`.
    #[error("invalid latency {0:?}: expected a duration or mean±jitter, like 20ms, 1.5s or 20ms±5ms")]
    Latency(String),
    /// The input is not `REQUESTS/PERIOD`.
    #[error(
        "invalid rate limit {0:?}: expected requests/period with requests above zero, like 20/s, 10/min or 100/15m"
    )]
    RateLimit(String),
}

/// Parses `"0"` or a non-negative decimal with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `min`,
/// `h`), such as `"50ms"` or `"1.5s"`. Returns `None` for anything else.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).filter(|&at| at > 0)?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        _ => unit_seconds(unit)? as f64,
    };
    Duration::try_from_secs_f64(value * seconds_per_unit).ok()
}

/// Seconds in one of the coarse units a rate period may name on its own.
fn unit_seconds(unit: &str) -> Option<u64> {
    match unit {
        "s" | "sec" | "second" => Some(1),
        "m" | "min" | "minute" => Some(60),
        "h" | "hour" => Some(3600),
        _ => None,
    }
}

/// Formats a duration in the same shorthand the parsers accept, so values round-trip.
struct DurationText(Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let nanos = d.as_nanos();
        if nanos == 0 {
            f.write_str("0")
        } else if nanos % 3_600_000_000_000 == 0 {
            write!(f, "{}h", nanos / 3_600_000_000_000)
        } else if nanos % 60_000_000_000 == 0 {
            write!(f, "{}m", nanos / 60_000_000_000)
        } else if nanos % 1_000_000_000 == 0 {
            write!(f, "{}s", d.as_secs())
        } else if nanos % 1_000_000 == 0 {
            write!(f, "{}ms", nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            write!(f, "{}us", nanos / 1_000)
        } else {
            write!(f, "{nanos}ns")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latency_forms() {
        let cases = [
            ("20ms", ms(20), ms(0)),
            ("20ms±5ms", ms(20), ms(5)),
            ("0", ms(0), ms(0)),
            ("1.5s", ms(1500), ms(0)),
            (" 20ms+-5ms ", ms(20), ms(5)),
            ("2m±1s", Duration::from_secs(120), ms(1000)),
            ("250us", Duration::from_micros(250), ms(0)),
        ];
        for (input, mean, jitter) in cases {
            let got: Latency = input.parse().unwrap();
            assert_eq!(got, Latency { mean, jitter }, "input {input:?}");
        }
    }

    #[test]
    fn latency_rejects_junk_with_clear_text() {
        for input in ["", "20", "ms", "-5ms", "20ms±", "±5ms", "20 parsecs", "1e3ms", "5ms±x"] {
            let err = input.parse::<Latency>().unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("invalid latency"), "{input:?}: {text}");
            assert_eq!(text, text.to_lowercase(), "error text is lowercase");
        }
    }

    #[test]
    fn latency_sample_stays_in_range() {
        let latency: Latency = "20ms±5ms".parse().unwrap();
        for _ in 0..1000 {
            let d = latency.sample();
            assert!(d >= ms(15) && d <= ms(25), "{d:?}");
        }
        let wide: Latency = "1ms±5ms".parse().unwrap();
        for _ in 0..1000 {
            assert!(wide.sample() <= ms(6));
        }
        assert_eq!("7ms".parse::<Latency>().unwrap().sample(), ms(7));
    }

    #[test]
    fn rate_limit_forms() {
        let cases = [
            ("20/s", 20, Duration::from_secs(1)),
            ("10/min", 10, Duration::from_secs(60)),
            ("100/15m", 100, Duration::from_secs(900)),
            ("5/500ms", 5, ms(500)),
            ("1/h", 1, Duration::from_secs(3600)),
        ];
        for (input, requests, per) in cases {
            let got: RateLimit = input.parse().unwrap();
            assert_eq!(got, RateLimit { requests, per }, "input {input:?}");
            assert_eq!(got.to_string().parse::<RateLimit>().unwrap(), got);
        }
        assert_eq!(RateLimit::default().to_string(), "20/s");
    }

    #[test]
    fn rate_limit_rejects_junk() {
        for input in ["", "20", "/s", "0/s", "20/0", "20/fortnight", "-1/s", "x/s"] {
            let err = input.parse::<RateLimit>().unwrap_err();
            assert!(err.to_string().starts_with("invalid rate limit"), "{input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for input in ["20ms", "20ms±5ms", "0", "1500ms", "2m±1s", "250us"] {
            let latency: Latency = input.parse().unwrap();
            assert_eq!(latency.to_string().parse::<Latency>().unwrap(), latency);
        }
    }
}
