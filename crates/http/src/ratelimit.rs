//! 429 Too Many Requests, seen from the client: reading `Retry-After`, deciding whether and how
//! long to wait before sending a request again (`rate_limit:` in the plan), and the samples that
//! make rate limiting visible apart from failures.
//!
//! A 429 is never a failure: it is recorded as a request (`http_reqs`, durations) and counted
//! in `http_rate_limited`, with `http_retry_after_present` saying whether it carried a usable
//! `Retry-After`. Under `rate_limit: count` that is all (plus the wait it asked for, in
//! `http_rate_limit_wait`); under `retry` the step waits and sends again, each attempt a
//! request of its own, each wait in `http_rate_limit_wait` and each retry in
//! `http_rate_limit_retries`.
//!
//! The wait itself is a plain `tokio::time::sleep` in the action's future: when the VU is
//! stopped, the future is dropped and the wait with it. Nothing here outlives one run of the
//! step, so there is nothing to clean up.

use std::time::{Duration, SystemTime};

use stampede_metrics::{TagSetId, builtin};
use stampede_plan::{RateLimitPolicy, RetryPolicy};
use stampede_proto::Recorder;

/// The status this module is about.
pub(crate) const TOO_MANY_REQUESTS: u16 = 429;

/// A 429 as the retry decision needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limited {
    /// The tags of the request that got it (name, method, `status:429`).
    pub tags: TagSetId,
    /// What its `Retry-After` asked for; `None` when it had none, or one that cannot be read.
    pub retry_after: Option<Duration>,
}

/// The retries of one run of a step: how many so far and how long they waited in all.
#[derive(Debug, Default)]
pub(crate) struct Retrying {
    retries: u32,
    waited: Duration,
}

/// The longest `Retry-After` recorded under `count`.
const MAX_RECORDED_WAIT: Duration = Duration::from_secs(24 * 3600);

impl Retrying {
    /// Records a 429's samples and says how long to wait before sending the request again, or
    /// `None` to let the 429 stand (policy `count`, retries or budget spent).
    pub(crate) fn after_429(
        &mut self,
        policy: RateLimitPolicy,
        limited: Limited,
        recorder: &mut Recorder,
    ) -> Option<Duration> {
        recorder.record(builtin::HTTP_RATE_LIMITED, limited.tags, 1.0);
        let present = f64::from(u8::from(limited.retry_after.is_some()));
        recorder.record(builtin::HTTP_RETRY_AFTER_PRESENT, limited.tags, present);
        match policy {
            RateLimitPolicy::Count => {
                if let Some(asked) = limited.retry_after {
                    // A server asking for years is recorded as a day: the trend's other
                    // figures stay readable, and the max still says "far too long".
                    let asked = asked.min(MAX_RECORDED_WAIT);
                    recorder.record(builtin::HTTP_RATE_LIMIT_WAIT, limited.tags, ms(asked));
                }
                None
            }
            RateLimitPolicy::Retry(retry) => self.next_wait(&retry, limited.retry_after),
        }
    }

    /// Whether a 429 whose head is `head` will be retried (what [`Self::after_429`] will
    /// decide), so that the attempt can leave checks and extractions to the next one.
    pub(crate) fn will_retry(&self, policy: RateLimitPolicy, head: &[u8]) -> bool {
        match policy {
            RateLimitPolicy::Count => false,
            RateLimitPolicy::Retry(retry) => {
                self.next_wait(&retry, retry_after_in_head(head, SystemTime::now())).is_some()
            }
        }
    }

    /// The wait before the next retry under `policy`, if one is allowed.
    fn next_wait(&self, policy: &RetryPolicy, retry_after: Option<Duration>) -> Option<Duration> {
        if self.retries >= policy.retries.get() {
            return None;
        }
        let wait =
            retry_after.unwrap_or_else(|| RetryPolicy::fallback_wait(self.retries)).min(policy.max_wait);
        // A wait that would overrun the budget is not started: waiting only part of what the
        // server asked would most likely earn another 429.
        (self.waited.saturating_add(wait) <= policy.budget).then_some(wait)
    }

    /// Records a wait that was completed, and the retry that follows it.
    pub(crate) fn waited(&mut self, wait: Duration, tags: TagSetId, recorder: &mut Recorder) {
        self.retries += 1;
        self.waited = self.waited.saturating_add(wait);
        recorder.record(builtin::HTTP_RATE_LIMIT_WAIT, tags, ms(wait));
        recorder.record(builtin::HTTP_RATE_LIMIT_RETRIES, tags, 1.0);
    }
}

/// The `Retry-After` of a response head kept as `name: value` lines, if it has a usable one.
pub(crate) fn retry_after_in_head(head: &[u8], now: SystemTime) -> Option<Duration> {
    crate::check::fields(head)
        .find(|(name, _)| name.eq_ignore_ascii_case(b"retry-after"))
        .and_then(|(_, value)| parse_retry_after(value, now))
}

/// Reads a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, or the obsolete forms), as a wait from `now`; a date in
/// the past is no wait. Anything else is `None`.
pub(crate) fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time".
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_rejects_garbage() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00
        let parse = |v: &str| parse_retry_after(v.as_bytes(), now);
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse("99999999999999999999999"), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:12 GMT"), Some(Duration::from_secs(12)));
        assert_eq!(parse("Wednesday, 21-Oct-15 07:29:00 GMT"), Some(Duration::from_secs(60)), "RFC 850");
        assert_eq!(parse("Wed Oct 21 07:28:05 2015"), Some(Duration::from_secs(5)), "asctime");
        assert_eq!(parse("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO), "past");
        for garbage in ["", "soon", "-5", "1.5", "12s", "0x10", "Wed, 32 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
        assert_eq!(parse_retry_after(b"\xff\xfe", now), None);
    }

    #[test]
    fn retry_after_is_found_in_a_kept_head_in_any_case() {
        let now = SystemTime::now();
        let head = b"content-type: application/json\r\nRetry-After: 7\r\n";
        assert_eq!(retry_after_in_head(head, now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after_in_head(b"x-retry-after-ms: 7\r\n", now), None);
        assert_eq!(retry_after_in_head(b"", now), None);
    }

    fn policy(retries: u32, max_wait_ms: u64, budget_ms: u64) -> RetryPolicy {
        RetryPolicy {
            retries: NonZeroU32::new(retries).unwrap(),
            max_wait: Duration::from_millis(max_wait_ms),
            budget: Duration::from_millis(budget_ms),
        }
    }

    /// The waits a run of a step would take when every attempt gets a 429 with `retry_after`.
    fn waits(policy: &RetryPolicy, retry_after: Option<Duration>) -> Vec<u64> {
        let mut state = Retrying::default();
        let mut out = Vec::new();
        while let Some(wait) = state.next_wait(policy, retry_after) {
            out.push(wait.as_millis() as u64);
            state.retries += 1;
            state.waited += wait;
        }
        out
    }

    #[test]
    fn waits_follow_retry_after_capped_by_max_wait_within_retries_and_budget() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(waits(&policy(3, 30_000, 60_000), secs(2)), [2000, 2000, 2000]);
        assert_eq!(waits(&policy(3, 1500, 60_000), secs(2)), [1500, 1500, 1500], "max_wait caps");
        assert_eq!(waits(&policy(10, 30_000, 5000), secs(2)), [2000, 2000], "a third would pass the budget");
        assert_eq!(waits(&policy(3, 30_000, 1000), secs(2)), Vec::<u64>::new(), "none fits");
        assert_eq!(waits(&policy(5, 30_000, 60_000), None), [1000, 2000, 4000, 8000, 16_000], "backoff");
        assert_eq!(waits(&policy(5, 3000, 60_000), None), [1000, 2000, 3000, 3000, 3000]);
        assert_eq!(waits(&policy(2, 30_000, 60_000), secs(0)), [0, 0]);
    }
}
