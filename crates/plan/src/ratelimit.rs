//! `rate_limit:`: what a `429 Too Many Requests` does to an http step, in `defaults:` and on a
//! step (the step's own value wins).
//!
//! A 429 is the server protecting itself, not the server failing, so it is its own class of
//! response: counted (`http_rate_limited`), never in `http_req_failed`. The plan chooses
//! whether the client also obeys it:
//!
//! ```yaml
//! defaults:
//!   rate_limit: count                 # the default: count 429s, do not retry
//! flow:
//!   - http:
//!       url: /calls/outbound
//!       rate_limit: { retry: 3, max_wait: 30s, budget: 60s }   # or just `retry` for these
//! ```
//!
//! With `retry`, a 429 waits what its `Retry-After` asks (seconds or an HTTP date), at most
//! `max_wait`, then sends the request again: at most `retry` times, and never waiting more than
//! `budget` in all for one run of the step. Without a usable `Retry-After` the wait backs off
//! exponentially from 1 s (1 s, 2 s, 4 s, …), also capped by `max_wait`.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::cx::{Cx, Fields, suggest};
use crate::yaml::{Node, Value};

/// The keys of `rate_limit: { ... }`.
pub(crate) const RETRY_KEYS: &[&str] = &["retry|retries", "max_wait", "budget"];

const EXPECTED: &str = "a rate limit policy: `count`, `retry`, or `{ retry: 3, max_wait: 30s, budget: 60s }`";

/// What a `429 Too Many Requests` does to an http step (`rate_limit:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitPolicy {
    /// `count`: the 429 is recorded as a request and counted as rate limited, never as failed;
    /// it is not retried.
    #[default]
    Count,
    /// `retry` or `{ retry, max_wait, budget }`: wait as `Retry-After` asks and send again.
    Retry(RetryPolicy),
}

/// How a step retries after a 429 (`rate_limit: { retry: 3, max_wait: 30s, budget: 60s }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// At most this many retries per run of the step (default 3).
    pub retries: NonZeroU32,
    /// The longest single wait, whatever `Retry-After` asks (default 30 s).
    pub max_wait: Duration,
    /// The most waiting in all for one run of the step (default 60 s): a wait that would go
    /// past it is not started, and the 429 stands.
    pub budget: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based) when the 429 gave no usable
    /// `Retry-After`: 1 s, 2 s, 4 s, … (capped by `max_wait` by the caller).
    pub fn fallback_wait(retry: u32) -> Duration {
        Duration::from_secs(1u64 << retry.min(20))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: NonZeroU32::new(3).expect("3 is not 0"),
            max_wait: Duration::from_secs(30),
            budget: Duration::from_secs(60),
        }
    }
}

/// An http step's `rate_limit:`, or the plan's default when it has none.
pub(crate) fn step_policy(
    cx: &mut Cx,
    f: &Fields<'_>,
    defaults: Option<&crate::model::Defaults>,
) -> Option<RateLimitPolicy> {
    match f.get("rate_limit") {
        Some(node) => rate_limit(cx, node),
        // Invalid defaults were reported where they were written.
        None => Some(defaults.map(|d| d.rate_limit).unwrap_or_default()),
    }
}

/// `count`, `retry`, or `{ retry: 3, max_wait: 30s, budget: 60s }` (each key optional).
pub(crate) fn rate_limit(cx: &mut Cx, node: &Node) -> Option<RateLimitPolicy> {
    match &node.value {
        Value::Str(s) if s == "count" => Some(RateLimitPolicy::Count),
        Value::Str(s) if s == "retry" => Some(RateLimitPolicy::Retry(RetryPolicy::default())),
        Value::Str(s) => {
            let mut msg = format!("unknown rate limit policy `{s}`; expected `count` or `retry`");
            if let Some(hint) = suggest(s, &["count", "retry"]) {
                msg.push_str(&format!("; did you mean `{hint}`?"));
            }
            cx.error(node.pos, msg);
            None
        }
        Value::Map(_) => retry(cx, node).map(RateLimitPolicy::Retry),
        _ => {
            cx.expected(node, EXPECTED);
            None
        }
    }
}

fn retry(cx: &mut Cx, node: &Node) -> Option<RetryPolicy> {
    let f = cx.fields(node, RETRY_KEYS, EXPECTED)?;
    let mut policy = RetryPolicy::default();
    let mut ok = true;
    if let Some(n) = f.get("retry") {
        if matches!(n.value, Value::UInt(0) | Value::Int(0)) {
            cx.error(n.pos, "`retry: 0` never retries; write `rate_limit: count` to only count 429s");
            ok = false;
        } else {
            match cx.positive_u32(n) {
                Some(r) => policy.retries = r,
                None => ok = false,
            }
        }
    }
    for (key, slot) in [("max_wait", &mut policy.max_wait), ("budget", &mut policy.budget)] {
        if let Some(n) = f.get(key) {
            match cx.positive_duration(n) {
                Some(d) => *slot = d,
                None => ok = false,
            }
        }
    }
    ok.then_some(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Plan, Step};

    fn load(src: &str) -> Result<Plan, Vec<String>> {
        crate::load_for_test(src)
    }

    fn policies(plan: &Plan) -> Vec<RateLimitPolicy> {
        plan.scenarios[0]
            .steps()
            .filter_map(|s| match s {
                Step::Http(h) => Some(h.rate_limit),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn count_is_the_default_and_steps_override_defaults() {
        let plan = load("vus: 1\nduration: 1s\nflow:\n  - http: { url: http://127.0.0.1:1/ }\n").unwrap();
        assert_eq!(plan.defaults.rate_limit, RateLimitPolicy::Count);
        assert_eq!(policies(&plan), [RateLimitPolicy::Count]);

        let src = "defaults: { rate_limit: { retry: 5, max_wait: 2s } }\nvus: 1\nduration: 1s\nflow:\n  - http: { url: http://127.0.0.1:1/a }\n  - http: { url: http://127.0.0.1:1/b, rate_limit: count }\n  - http: { url: http://127.0.0.1:1/c, rate_limit: retry }\n";
        let plan = load(src).unwrap();
        let custom = RetryPolicy {
            retries: NonZeroU32::new(5).unwrap(),
            max_wait: Duration::from_secs(2),
            budget: Duration::from_secs(60),
        };
        assert_eq!(
            policies(&plan),
            [
                RateLimitPolicy::Retry(custom),
                RateLimitPolicy::Count,
                RateLimitPolicy::Retry(RetryPolicy::default()),
            ]
        );
    }

    #[test]
    fn every_mistake_is_reported_at_its_position() {
        let src = "defaults: { rate_limit: cont }\nvus: 1\nduration: 1s\nflow:\n  - http: { url: http://127.0.0.1:1/a, rate_limit: { retry: 0, max_wait: 0s, budget: soon, tries: 2 } }\n  - http: { url: http://127.0.0.1:1/b, rate_limit: [count] }\n";
        let errs = load(src).unwrap_err();
        assert_eq!(
            errs,
            [
                "1:25: unknown rate limit policy `cont`; expected `count` or `retry`; did you mean `count`?",
                "5:61: `retry: 0` never retries; write `rate_limit: count` to only count 429s",
                "5:74: expected a duration longer than 0s",
                "5:86: expected a duration like 500ms or 1m30s, found `soon`",
                "5:92: unknown key `tries`; expected one of: retry, max_wait, budget",
                "6:52: expected a rate limit policy: `count`, `retry`, or `{ retry: 3, max_wait: 30s, budget: 60s }`, found a list",
            ],
            "{errs:#?}"
        );
    }

    #[test]
    fn the_fallback_backs_off_exponentially() {
        let waits: Vec<u64> = (0..4).map(|r| RetryPolicy::fallback_wait(r).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
        assert!(RetryPolicy::fallback_wait(u32::MAX) > Duration::from_secs(3600), "no overflow");
    }
}
