//! A fixed-window rate limiter keyed by client, with memory bounded by eviction.
//!
//! Fixed windows (rather than a token bucket) make the advertised `RateLimit-*` headers exact
//! and easy to assert on: a client gets `requests` in each window that starts at its first
//! request, and the N+1th request in that window is refused until the window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateLimit;

/// Entries kept before stale windows are swept; the sweep threshold then grows with the
/// number of live clients so sweeping stays amortised O(1) per request.
const MIN_SWEEP_AT: usize = 1024;
/// Hard bound on tracked clients. Past it (only reachable when more distinct clients than this
/// are active inside one window) the limiter forgets everyone: letting a few requests through
/// is a cheaper failure for a demo target than unbounded memory.
const MAX_CLIENTS: usize = 65_536;

/// Which client a request counts against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ClientKey<'a> {
    /// An explicit name: the `x-client-id` header or the bearer token.
    Named(&'a str),
    /// The peer's address, when the client named itself in no other way.
    Ip(IpAddr),
    /// No name and no peer address (the router is served without connect info).
    Anonymous,
}

/// The outcome of one request against the limiter, with what the headers advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Whether the request may proceed.
    pub is_allowed: bool,
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in the current window after this one.
    pub remaining: u32,
    /// Whole seconds (at least 1) until the current window ends.
    pub reset_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    used: u32,
}

/// Per-client fixed windows. Names and addresses live in separate maps so that a lookup by
/// address never formats it into a string.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    state: Mutex<Clients>,
}

#[derive(Debug, Default)]
struct Clients {
    named: HashMap<Box<str>, Window>,
    by_ip: HashMap<IpAddr, Window>,
    sweep_at: usize,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        RateLimiter { limit, state: Mutex::new(Clients { sweep_at: MIN_SWEEP_AT, ..Clients::default() }) }
    }

    /// Counts one request from `key` at `now` and says whether it is allowed.
    pub(crate) fn check(&self, key: ClientKey<'_>, now: Instant) -> Decision {
        let mut clients = self.state.lock().unwrap_or_else(|e| e.into_inner());
        clients.sweep_if_due(now, self.limit.per);
        let window = match key {
            ClientKey::Named(name) => entry(&mut clients.named, name, now),
            ClientKey::Ip(ip) => clients.by_ip.entry(ip).or_insert(Window::fresh(now)),
            ClientKey::Anonymous => entry(&mut clients.named, "", now),
        };
        if now.duration_since(window.started) >= self.limit.per {
            *window = Window::fresh(now);
        }
        let is_allowed = window.used < self.limit.requests;
        if is_allowed {
            window.used += 1;
        }
        let left = self.limit.per.saturating_sub(now.duration_since(window.started));
        Decision {
            is_allowed,
            limit: self.limit.requests,
            remaining: self.limit.requests - window.used,
            reset_secs: ceil_secs(left).max(1),
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        let clients = self.state.lock().unwrap();
        clients.named.len() + clients.by_ip.len()
    }
}

impl Window {
    fn fresh(now: Instant) -> Self {
        Window { started: now, used: 0 }
    }
}

impl Clients {
    fn sweep_if_due(&mut self, now: Instant, per: Duration) {
        let len = self.named.len() + self.by_ip.len();
        if len < self.sweep_at {
            return;
        }
        let is_live = |w: &mut Window| now.duration_since(w.started) < per;
        self.named.retain(|_, w| is_live(w));
        self.by_ip.retain(|_, w| is_live(w));
        let live = self.named.len() + self.by_ip.len();
        if live >= MAX_CLIENTS {
            self.named.clear();
            self.by_ip.clear();
        }
        self.sweep_at = (live * 2).clamp(MIN_SWEEP_AT, MAX_CLIENTS);
    }
}

/// Looks a name up without allocating; only a client seen for the first time costs a `Box<str>`.
fn entry<'m>(map: &'m mut HashMap<Box<str>, Window>, name: &str, now: Instant) -> &'m mut Window {
    if !map.contains_key(name) {
        map.insert(Box::from(name), Window::fresh(now));
    }
    map.get_mut(name).expect("inserted above")
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: u32, per_ms: u64) -> RateLimiter {
        RateLimiter::new(RateLimit { requests, per: Duration::from_millis(per_ms) })
    }

    #[test]
    fn refuses_the_request_past_the_limit_until_the_window_ends() {
        let limiter = limiter(3, 1500);
        let t0 = Instant::now();
        let key = ClientKey::Named("alice");
        for remaining in [2, 1, 0] {
            let d = limiter.check(key, t0);
            assert!(d.is_allowed);
            assert_eq!(d.remaining, remaining);
            assert_eq!(d.reset_secs, 2, "1.5 s rounds up");
        }
        let refused = limiter.check(key, t0 + Duration::from_millis(1200));
        assert!(!refused.is_allowed);
        assert_eq!((refused.remaining, refused.reset_secs), (0, 1));
        // Other clients have their own windows.
        assert!(limiter.check(ClientKey::Named("bob"), t0).is_allowed);
        assert!(limiter.check(ClientKey::Ip([127, 0, 0, 1].into()), t0).is_allowed);
        // A new window starts once the old one is over.
        let later = limiter.check(key, t0 + Duration::from_millis(1500));
        assert!(later.is_allowed);
        assert_eq!(later.remaining, 2);
    }

    #[test]
    fn memory_stays_bounded_under_many_clients() {
        let limiter = limiter(1, 10);
        let t0 = Instant::now();
        for i in 0..5000u32 {
            let name = i.to_string();
            // Each client arrives in a later window than the previous batch of 100.
            let now = t0 + Duration::from_millis(u64::from(i / 100) * 20);
            limiter.check(ClientKey::Named(&name), now);
        }
        assert!(limiter.tracked() <= MIN_SWEEP_AT, "{}", limiter.tracked());
    }
}
