//! Streamed responses for the `stream:` option of `http` steps: server-sent events on a
//! schedule, shaped like an LLM's chat-completion stream or like plain ticks.
//!
//! * `GET /sse/tokens?count=20&rate=50&first_token=0ms` — an OpenAI-style chat-completion
//!   stream: a role chunk at once, `count` content chunks (`"tok "`), the first after
//!   `first_token` (the model's "prefill"), then one every `1/rate` seconds, a `finish_reason`
//!   chunk and `data: [DONE]`. (`?delay=` delays the whole response, head included.)
//! * `POST /v1/chat/completions` with `{"stream": true, "max_tokens": N}` streams the same
//!   (`?rate=` and `?first_token=` apply); without `stream` it waits as long as generating
//!   would take and answers one `chat.completion` JSON object.
//! * `GET /sse/events?count=10&interval=100ms` — plain events with `event:`, `id:` and `data:`,
//!   the first at once, after a comment line.
//!
//! Each stream is a body that sleeps until its next event's absolute time (so the schedule
//! does not drift), ends early when the server shuts down, and is bounded in count and length.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::app::Shared;
use crate::clock;
use crate::config::parse_duration;

/// Most events or tokens one stream sends.
const MAX_COUNT: u32 = 10_000;
/// Longest a stream may be scheduled to last.
const MAX_STREAM: Duration = Duration::from_secs(60);
const DEFAULT_RATE: f64 = 50.0;
const MODEL: &str = "stampede-demo";

#[derive(Debug, Deserialize)]
pub(crate) struct TokensQuery {
    count: Option<u32>,
    rate: Option<f64>,
    first_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    count: Option<u32>,
    interval: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    #[serde(default)]
    stream: bool,
    max_tokens: Option<u32>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// `GET /sse/tokens`.
pub(crate) async fn tokens(State(shared): State<Arc<Shared>>, query: QueryResult<TokensQuery>) -> Response {
    let Ok(Query(q)) = query else { return invalid("malformed query string") };
    match Schedule::tokens(q.count.unwrap_or(20), q.rate, q.first_token.as_deref()) {
        Ok(schedule) => stream(&shared, schedule, Kind::Chat),
        Err(detail) => invalid(detail),
    }
}

/// `GET /sse/events`.
pub(crate) async fn events(State(shared): State<Arc<Shared>>, query: QueryResult<EventsQuery>) -> Response {
    let Ok(Query(q)) = query else { return invalid("malformed query string") };
    let interval = match q.interval.as_deref().map(parse_duration) {
        None => Duration::from_millis(100),
        Some(Some(d)) => d,
        Some(None) => return invalid("interval must be a duration like 100ms"),
    };
    let schedule = Schedule { count: q.count.unwrap_or(10), first: Duration::ZERO, interval };
    match schedule.checked() {
        Ok(schedule) => stream(&shared, schedule, Kind::Ticks),
        Err(detail) => invalid(detail),
    }
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    query: QueryResult<TokensQuery>,
    body: Bytes,
) -> Response {
    let Ok(Query(q)) = query else { return invalid("malformed query string") };
    let Ok(request) = serde_json::from_slice::<ChatRequest>(&body) else {
        return invalid(
            "expected a JSON chat completion request like {\"stream\": true, \"max_tokens\": 16}",
        );
    };
    let schedule = match Schedule::tokens(request.max_tokens.unwrap_or(16), q.rate, q.first_token.as_deref())
    {
        Ok(schedule) => schedule,
        Err(detail) => return invalid(detail),
    };
    if request.stream {
        return stream(&shared, schedule, Kind::Chat);
    }
    // As long as generating the tokens would take.
    let last = schedule.first + schedule.interval * schedule.count.saturating_sub(1);
    shared.sleep_until(Instant::now() + last).await;
    let content = "tok ".repeat(schedule.count as usize);
    Json(json!({
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": clock::since_epoch(SystemTime::now()).as_secs(),
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": schedule.count, "total_tokens": 8 + schedule.count},
    }))
    .into_response()
}

fn invalid(detail: &'static str) -> Response {
    let body = json!({"error": "invalid_query", "detail": detail});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn stream(shared: &Shared, schedule: Schedule, kind: Kind) -> Response {
    let body = TimedEvents::new(schedule, kind, shared.shutdown_receiver());
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, Body::new(body)).into_response()
}

/// When a stream's timed events come: the first after `first`, then every `interval`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    count: u32,
    first: Duration,
    interval: Duration,
}

impl Schedule {
    fn tokens(count: u32, rate: Option<f64>, first: Option<&str>) -> Result<Self, &'static str> {
        let rate = rate.unwrap_or(DEFAULT_RATE);
        if !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0) {
            return Err("rate must be a number of tokens per second in (0, 100000]");
        }
        let first = match first {
            None => Duration::ZERO,
            Some(text) => parse_duration(text).ok_or("first_token must be a duration like 200ms")?,
        };
        Schedule { count, first, interval: Duration::from_secs_f64(1.0 / rate) }.checked()
    }

    fn checked(self) -> Result<Self, &'static str> {
        if self.count > MAX_COUNT {
            return Err("count must be at most 10000");
        }
        if self.first + self.interval.saturating_mul(self.count) > MAX_STREAM {
            return Err("the stream would last over 60s; send fewer events or send them faster");
        }
        Ok(self)
    }
}

/// What a stream's events look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// OpenAI chat-completion chunks.
    Chat,
    /// `event: tick` with an `id:`.
    Ticks,
}

/// Where a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The part sent with the head (a role chunk, or a comment).
    Opening,
    /// The `n`th timed event.
    Event(u32),
    /// The finish chunk and `[DONE]` (chat), nothing (ticks).
    Closing,
    Done,
}

/// A body of server-sent events on a [`Schedule`].
struct TimedEvents {
    kind: Kind,
    schedule: Schedule,
    start: Instant,
    next: Next,
    sleep: Pin<Box<Sleep>>,
    shutdown: watch::Receiver<bool>,
}

impl TimedEvents {
    fn new(schedule: Schedule, kind: Kind, shutdown: watch::Receiver<bool>) -> Self {
        let start = Instant::now();
        TimedEvents {
            kind,
            schedule,
            start,
            next: Next::Opening,
            sleep: Box::pin(tokio::time::sleep_until(start)),
            shutdown,
        }
    }

    fn due(&self, n: u32) -> Instant {
        self.start + self.schedule.first + self.schedule.interval * n
    }

    fn event(&self, n: u32) -> String {
        match self.kind {
            Kind::Chat => chat_chunk(n, json!({"content": "tok "}), None),
            Kind::Ticks => format!("event: tick\nid: {n}\ndata: {{\"n\":{n}}}\n\n"),
        }
    }
}

/// One `data:` line of a chat-completion chunk.
fn chat_chunk(n: u32, delta: serde_json::Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": format!("chatcmpl-demo-{n}"),
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

impl http_body::Body for TimedEvents {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let text = match self.next {
            Next::Done => return Poll::Ready(None),
            Next::Opening => {
                self.next = if self.schedule.count == 0 { Next::Closing } else { Next::Event(0) };
                match self.kind {
                    Kind::Chat => chat_chunk(0, json!({"role": "assistant", "content": ""}), None),
                    Kind::Ticks => ": stampede demo events\n\n".to_string(),
                }
            }
            Next::Event(n) => {
                let due = self.due(n);
                if Instant::now() < due {
                    self.sleep.as_mut().reset(due);
                    ready!(self.sleep.as_mut().poll(cx));
                }
                if *self.shutdown.borrow() {
                    self.next = Next::Done;
                    return Poll::Ready(None);
                }
                self.next = if n + 1 < self.schedule.count { Next::Event(n + 1) } else { Next::Closing };
                self.event(n)
            }
            Next::Closing => {
                self.next = Next::Done;
                match self.kind {
                    Kind::Chat => {
                        let mut text = chat_chunk(self.schedule.count, json!({}), Some("stop"));
                        text.push_str("data: [DONE]\n\n");
                        text
                    }
                    Kind::Ticks => return Poll::Ready(None),
                }
            }
        };
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(text)))))
    }

    fn is_end_stream(&self) -> bool {
        self.next == Next::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_bounded() {
        assert!(Schedule::tokens(20, Some(50.0), Some("200ms")).is_ok());
        assert!(Schedule::tokens(20, Some(0.0), None).is_err());
        assert!(Schedule::tokens(20, Some(f64::NAN), None).is_err());
        assert!(Schedule::tokens(MAX_COUNT + 1, Some(100_000.0), None).is_err());
        assert!(Schedule::tokens(100, Some(1.0), None).is_err(), "100 s is too long");
        assert!(Schedule::tokens(2, None, Some("soon")).is_err());
    }
}
