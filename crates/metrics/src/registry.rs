//! Interning of metric names and tag sets.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Interned id of a metric. Ids of the built-in metrics are the constants in [`builtin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(pub u32);

/// Interned id of a tag set. `TagSetId::EMPTY` is the set with no tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagSetId(pub u32);

impl TagSetId {
    /// The empty tag set, always interned first.
    pub const EMPTY: TagSetId = TagSetId(0);
}

/// The four kinds of metric k6 users know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// A sum (`http_reqs`, `data_sent`).
    Counter,
    /// The last value, with min and max (`vus`).
    Gauge,
    /// A fraction of non-zero samples (`http_req_failed`, `checks`).
    Rate,
    /// A distribution in an HDR histogram (`http_req_duration`).
    Trend,
}

impl std::fmt::Display for MetricKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Rate => "rate",
            MetricKind::Trend => "trend",
        })
    }
}

/// What unit a metric's values are in; decides formatting and histogram scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A plain number.
    Default,
    /// Milliseconds (recorded with microsecond resolution).
    Time,
    /// Bytes.
    Data,
}

/// What the registry knows about one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInfo {
    /// The metric's name, e.g. `http_req_duration`.
    pub name: Arc<str>,
    /// Its kind.
    pub kind: MetricKind,
    /// Its unit.
    pub value_type: ValueType,
}

/// A sorted, de-duplicated list of `key:value` tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TagSet(Vec<(Arc<str>, Arc<str>)>);

impl TagSet {
    /// Builds a tag set; later duplicates of a key win.
    pub fn new<K: AsRef<str>, V: AsRef<str>>(tags: &[(K, V)]) -> Self {
        let mut v: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(tags.len());
        for (k, val) in tags {
            let (k, val) = (k.as_ref(), val.as_ref());
            match v.iter_mut().find(|(key, _)| &**key == k) {
                Some(slot) => slot.1 = Arc::from(val),
                None => v.push((Arc::from(k), Arc::from(val))),
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        TagSet(v)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// All tags, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Whether every `(key, value)` of `filter` is in this set.
    pub fn matches<K: AsRef<str>, V: AsRef<str>>(&self, filter: &[(K, V)]) -> bool {
        filter.iter().all(|(k, v)| self.get(k.as_ref()) == Some(v.as_ref()))
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Errors of the metric registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// The name is registered with another kind or unit.
    #[error("metric {name} is already registered as a {existing:?} {existing_type:?}")]
    Conflict {
        /// The metric's name.
        name: String,
        /// Its registered kind.
        existing: MetricKind,
        /// Its registered unit.
        existing_type: ValueType,
    },
    /// The name is not a valid metric name (letters, digits, `_`, starting with a letter).
    #[error("invalid metric name {0:?}: use letters, digits and '_', starting with a letter")]
    InvalidName(String),
}

/// Built-in metrics, registered first and in this order by [`Registry::new`], so that
/// their ids are constants usable on the hot path.
pub mod builtin {
    use super::{MetricId, MetricKind, ValueType};

    macro_rules! builtins {
        ($( $(#[$doc:meta])* $id:ident = $idx:literal, $name:literal, $kind:ident, $vt:ident; )*) => {
            $( $(#[$doc])* pub const $id: MetricId = MetricId($idx); )*
            /// Every built-in: name, kind and unit, in id order.
            pub const ALL: &[(&str, MetricKind, ValueType)] = &[
                $( ($name, MetricKind::$kind, ValueType::$vt), )*
            ];
        };
    }

    builtins! {
        /// Requests made (counter).
        HTTP_REQS = 0, "http_reqs", Counter, Default;
        /// Total request time: sending + waiting + receiving (trend, ms).
        HTTP_REQ_DURATION = 1, "http_req_duration", Trend, Time;
        /// Time blocked before the request could start: waiting for a connection, DNS (trend, ms).
        HTTP_REQ_BLOCKED = 2, "http_req_blocked", Trend, Time;
        /// TCP connect time (trend, ms).
        HTTP_REQ_CONNECTING = 3, "http_req_connecting", Trend, Time;
        /// TLS handshake time (trend, ms).
        HTTP_REQ_TLS_HANDSHAKING = 4, "http_req_tls_handshaking", Trend, Time;
        /// Time writing the request (trend, ms).
        HTTP_REQ_SENDING = 5, "http_req_sending", Trend, Time;
        /// Time to first byte after sending (trend, ms).
        HTTP_REQ_WAITING = 6, "http_req_waiting", Trend, Time;
        /// Time reading the response after its first byte (trend, ms).
        HTTP_REQ_RECEIVING = 7, "http_req_receiving", Trend, Time;
        /// Failed requests (rate): transport errors and unexpected statuses.
        HTTP_REQ_FAILED = 8, "http_req_failed", Rate, Default;
        /// Completed iterations (counter).
        ITERATIONS = 9, "iterations", Counter, Default;
        /// Time of one full iteration (trend, ms).
        ITERATION_DURATION = 10, "iteration_duration", Trend, Time;
        /// Active virtual users (gauge).
        VUS = 11, "vus", Gauge, Default;
        /// Allocated virtual users (gauge).
        VUS_MAX = 12, "vus_max", Gauge, Default;
        /// Bytes sent (counter).
        DATA_SENT = 13, "data_sent", Counter, Data;
        /// Bytes received (counter).
        DATA_RECEIVED = 14, "data_received", Counter, Data;
        /// Check results (rate).
        CHECKS = 15, "checks", Rate, Default;
        /// Iterations an open-model executor could not start (counter).
        DROPPED_ITERATIONS = 16, "dropped_iterations", Counter, Default;
        /// Time of a named group of steps (trend, ms).
        GROUP_DURATION = 17, "group_duration", Trend, Time;
        /// Open models: how late an iteration started after its scheduled time (trend, ms).
        SCHEDULE_LAG = 18, "schedule_lag", Trend, Time;
        /// Open models: a request's response time from its iteration's *scheduled* start, so
        /// a stalled target cannot hide behind a stalled generator (trend, ms).
        HTTP_REQ_LATENCY = 19, "http_req_latency", Trend, Time;
        /// WebSocket: time to open a socket, TCP connect + TLS + upgrade (trend, ms).
        WS_CONNECTING = 20, "ws_connecting", Trend, Time;
        /// WebSocket: how long a socket was open, from its upgrade to its close (trend, ms).
        WS_SESSION_DURATION = 21, "ws_session_duration", Trend, Time;
        /// WebSocket: messages sent (counter).
        WS_MSGS_SENT = 22, "ws_msgs_sent", Counter, Default;
        /// WebSocket: messages received, matched or not (counter).
        WS_MSGS_RECEIVED = 23, "ws_msgs_received", Counter, Default;
        /// WebSocket: time from a ping to its pong (trend, ms).
        WS_PING = 24, "ws_ping", Trend, Time;
        /// WebSocket: time from a sent message to the reply matched to it (trend, ms).
        WS_MSG_RTT = 25, "ws_msg_rtt", Trend, Time;
        /// WebSocket: sockets opened (counter).
        WS_SESSIONS = 26, "ws_sessions", Counter, Default;
        /// WebSocket: failed ws steps (rate), tagged with the failure kind (`error`).
        WS_FAILED = 27, "ws_failed", Rate, Default;
        /// Streamed HTTP: time from the request's start to the first complete event (trend, ms).
        STREAM_TIME_TO_FIRST_EVENT = 28, "stream_time_to_first_event", Trend, Time;
        /// Streamed HTTP: time between consecutive events of a response, one sample per gap (trend, ms).
        STREAM_EVENT_GAP = 29, "stream_event_gap", Trend, Time;
        /// Streamed HTTP: events received (counter; one sample per response).
        STREAM_EVENTS = 30, "stream_events", Counter, Default;
        /// Streamed HTTP: from the response's first byte to its end (trend, ms).
        STREAM_DURATION = 31, "stream_duration", Trend, Time;
        /// LLM streams: from the request's start to the first non-empty content delta (trend, ms).
        LLM_TIME_TO_FIRST_TOKEN = 32, "llm_time_to_first_token", Trend, Time;
        /// LLM streams: time between consecutive non-empty content deltas (trend, ms).
        LLM_INTER_TOKEN_LATENCY = 33, "llm_inter_token_latency", Trend, Time;
        /// LLM streams: output tokens, counted as non-empty content deltas (counter).
        LLM_OUTPUT_TOKENS = 34, "llm_output_tokens", Counter, Default;
        /// LLM streams: output tokens / (last token − first token) per response (trend, tokens/s).
        LLM_TOKENS_PER_SECOND = 35, "llm_tokens_per_second", Trend, Default;
        /// gRPC: from the call's start to its status (trend, ms), tagged `status:<CODE NAME>`.
        GRPC_REQ_DURATION = 36, "grpc_req_duration", Trend, Time;
        /// gRPC: calls made (counter).
        GRPC_REQS = 37, "grpc_reqs", Counter, Default;
        /// gRPC: failed calls (rate), tagged with the failure kind (`error`).
        GRPC_REQ_FAILED = 38, "grpc_req_failed", Rate, Default;
        /// gRPC: from the call's start to the first response message (trend, ms).
        GRPC_TIME_TO_FIRST_MESSAGE = 39, "grpc_time_to_first_message", Trend, Time;
        /// gRPC: response messages received (counter; one sample per call).
        GRPC_STREAM_MSGS_RECEIVED = 40, "grpc_stream_msgs_received", Counter, Default;
        /// gRPC: request messages sent by client- and bidi-streaming calls (counter; one
        /// sample per call).
        GRPC_STREAM_MSGS_SENT = 41, "grpc_stream_msgs_sent", Counter, Default;
        /// HTTP: responses with status 429 Too Many Requests (counter). Never counted in
        /// `http_req_failed`: rate limiting is its own class of response.
        HTTP_RATE_LIMITED = 42, "http_rate_limited", Counter, Default;
        /// HTTP: 429 responses that carried a usable `Retry-After` (rate; one sample per 429).
        HTTP_RETRY_AFTER_PRESENT = 43, "http_retry_after_present", Rate, Default;
        /// HTTP: the wait a 429 implies (trend, ms): what its `Retry-After` asks under
        /// `rate_limit: count`, what the client waited before retrying under `retry`.
        HTTP_RATE_LIMIT_WAIT = 44, "http_rate_limit_wait", Trend, Time;
        /// HTTP: requests sent again after a 429 (counter; `rate_limit: retry`).
        HTTP_RATE_LIMIT_RETRIES = 45, "http_rate_limit_retries", Counter, Default;
        /// Streamed HTTP: events of one response (trend; one sample per response), for the
        /// per-response figures `stream_events` (a total) cannot give.
        STREAM_EVENTS_PER_RESPONSE = 46, "stream_events_per_response", Trend, Default;
        /// LLM streams: output tokens of one response (trend; one sample per response).
        LLM_OUTPUT_TOKENS_PER_RESPONSE = 47, "llm_output_tokens_per_response", Trend, Default;
    }

    /// Looks up a built-in by name.
    pub fn lookup(name: &str) -> Option<(MetricId, MetricKind, ValueType)> {
        ALL.iter().position(|(n, _, _)| *n == name).map(|i| (MetricId(i as u32), ALL[i].1, ALL[i].2))
    }
}

#[derive(Debug, Default)]
struct Inner {
    metrics: Vec<MetricInfo>,
    by_name: HashMap<Arc<str>, MetricId>,
    tagsets: Vec<Arc<TagSet>>,
    tag_index: HashMap<Arc<TagSet>, TagSetId>,
}

/// Interns metric names and tag sets. Shared (`Arc<Registry>`) by all VUs and the aggregator;
/// lookups take a read lock, new names a short write lock. Hot paths cache the ids they get.
#[derive(Debug)]
pub struct Registry {
    inner: RwLock<Inner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with every [`builtin`] metric registered and the empty tag set interned.
    pub fn new() -> Self {
        let mut inner = Inner::default();
        for (name, kind, value_type) in builtin::ALL {
            let name: Arc<str> = Arc::from(*name);
            let id = MetricId(inner.metrics.len() as u32);
            inner.metrics.push(MetricInfo { name: name.clone(), kind: *kind, value_type: *value_type });
            inner.by_name.insert(name, id);
        }
        let empty = Arc::new(TagSet::default());
        inner.tagsets.push(empty.clone());
        inner.tag_index.insert(empty, TagSetId::EMPTY);
        Registry { inner: RwLock::new(inner) }
    }

    /// Registers a metric, or returns the id of the same metric registered before.
    pub fn register(
        &self,
        name: &str,
        kind: MetricKind,
        value_type: ValueType,
    ) -> Result<MetricId, MetricError> {
        if !is_valid_metric_name(name) {
            return Err(MetricError::InvalidName(name.to_string()));
        }
        let mut inner = self.inner.write().expect("registry lock poisoned");
        if let Some(&id) = inner.by_name.get(name) {
            let info = &inner.metrics[id.0 as usize];
            if info.kind != kind || info.value_type != value_type {
                return Err(MetricError::Conflict {
                    name: name.to_string(),
                    existing: info.kind,
                    existing_type: info.value_type,
                });
            }
            return Ok(id);
        }
        let name: Arc<str> = Arc::from(name);
        let id = MetricId(inner.metrics.len() as u32);
        inner.metrics.push(MetricInfo { name: name.clone(), kind, value_type });
        inner.by_name.insert(name, id);
        Ok(id)
    }

    /// The id of a registered metric.
    pub fn lookup(&self, name: &str) -> Option<MetricId> {
        self.inner.read().expect("registry lock poisoned").by_name.get(name).copied()
    }

    /// What is known about a metric. Panics on an id this registry did not hand out.
    pub fn info(&self, id: MetricId) -> MetricInfo {
        self.inner.read().expect("registry lock poisoned").metrics[id.0 as usize].clone()
    }

    /// How many metrics are registered; ids are `0..count`.
    pub fn metric_count(&self) -> usize {
        self.inner.read().expect("registry lock poisoned").metrics.len()
    }

    /// Interns a tag set (order of `tags` does not matter).
    pub fn intern<K: AsRef<str>, V: AsRef<str>>(&self, tags: &[(K, V)]) -> TagSetId {
        self.intern_set(TagSet::new(tags))
    }

    /// Interns an already built tag set.
    pub fn intern_set(&self, set: TagSet) -> TagSetId {
        if let Some(&id) = self.inner.read().expect("registry lock poisoned").tag_index.get(&set) {
            return id;
        }
        let mut inner = self.inner.write().expect("registry lock poisoned");
        if let Some(&id) = inner.tag_index.get(&set) {
            return id;
        }
        let set = Arc::new(set);
        let id = TagSetId(inner.tagsets.len() as u32);
        inner.tagsets.push(set.clone());
        inner.tag_index.insert(set, id);
        id
    }

    /// The tag set behind an id. Panics on an id this registry did not hand out.
    pub fn tagset(&self, id: TagSetId) -> Arc<TagSet> {
        self.inner.read().expect("registry lock poisoned").tagsets[id.0 as usize].clone()
    }

    /// How many tag sets are interned; ids are `0..count`.
    pub fn tagset_count(&self) -> usize {
        self.inner.read().expect("registry lock poisoned").tagsets.len()
    }
}

fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_have_constant_ids() {
        let r = Registry::new();
        assert_eq!(r.lookup("http_req_duration"), Some(builtin::HTTP_REQ_DURATION));
        assert_eq!(r.lookup("group_duration"), Some(builtin::GROUP_DURATION));
        assert_eq!(r.info(builtin::CHECKS).kind, MetricKind::Rate);
    }

    #[test]
    fn tagsets_are_interned_regardless_of_order() {
        let r = Registry::new();
        let a = r.intern(&[("name", "x"), ("status", "200")]);
        let b = r.intern(&[("status", "200"), ("name", "x")]);
        assert_eq!(a, b);
        assert_ne!(a, TagSetId::EMPTY);
        assert_eq!(r.tagset(a).get("status"), Some("200"));
        assert_eq!(r.intern::<&str, &str>(&[]), TagSetId::EMPTY);
    }

    #[test]
    fn conflicting_registration_is_an_error() {
        let r = Registry::new();
        assert!(r.register("http_reqs", MetricKind::Trend, ValueType::Time).is_err());
        assert!(r.register("1bad", MetricKind::Counter, ValueType::Default).is_err());
        let id = r.register("my_metric", MetricKind::Counter, ValueType::Default).unwrap();
        assert_eq!(r.register("my_metric", MetricKind::Counter, ValueType::Default).unwrap(), id);
    }
}
