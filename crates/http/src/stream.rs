//! Streamed responses (`stream:` on an `http` step): a sans-I/O scanner fed the body's bytes
//! as they arrive, with the moment they arrived, that finds the events in them and keeps
//! their timing. Server-sent events (`text/event-stream`), newline-delimited lines, and
//! OpenAI-style chat-completion streams (SSE whose `data:` is a JSON chunk) are supported.
//!
//! The scanner lives in the VU's session and is reset for each request, so its buffers (a
//! line cut by a read boundary, an event's data for the `openai` preset, the gaps) are reused:
//! in steady state scanning allocates nothing, except what `serde_json` needs to read an
//! `openai` chunk. Events that arrive in the same read share its timestamp; that is when
//! their bytes became visible to the client.

use serde::Deserialize;
use stampede_plan::ResponseStream;
use tokio::time::{Duration, Instant};

/// Gaps kept per response (each 4 bytes: at most 1 MiB per list, per VU); a longer stream
/// still counts its events and tokens exactly, but only its first gaps become samples. At
/// 100 tokens a second that is 43 minutes of one response.
const MAX_GAPS: usize = 1 << 18;

/// A line longer than this is not kept whole (an SSE `data:` line of an `openai` chunk never
/// gets close); it still ends at its line break and still counts.
const MAX_LINE: usize = 1 << 20;

/// A VU's gap buffers above this capacity are released after the response.
const RETAINED_GAPS: usize = 64 * 1024;

/// The `data:` of the `openai` preset's last event.
const DONE: &[u8] = b"[DONE]";

/// Finds the events of one streamed response and remembers when they arrived.
#[derive(Debug)]
pub(crate) struct StreamScanner {
    format: ResponseStream,
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The line was longer than [`MAX_LINE`]: the rest of it is skipped.
    line_overflow: bool,
    /// The last byte was a CR: a LF right after it belongs to the same line break.
    after_cr: bool,
    /// SSE: the event being read has had a `data:` field.
    has_data: bool,
    /// `openai`: the event's data, lines joined by LF.
    data: Vec<u8>,
    /// What was found so far.
    pub(crate) stats: StreamStats,
}

/// The timing of one response's events.
#[derive(Debug, Default)]
pub(crate) struct StreamStats {
    /// Events received (SSE events with data, or non-empty lines).
    pub events: u64,
    pub first_event: Option<Instant>,
    last_event: Option<Instant>,
    /// Time between consecutive events, in order.
    pub event_gaps: Gaps,
    /// `openai`: non-empty content deltas.
    pub tokens: u64,
    pub first_token: Option<Instant>,
    pub last_token: Option<Instant>,
    /// `openai`: time between consecutive tokens.
    pub token_gaps: Gaps,
}

impl StreamStats {
    /// `openai`: the decode rate, tokens per second after the first one: the `n - 1` gaps
    /// between the first and the last token over their span (two tokens 10 ms apart are 100
    /// tokens/s, not 200); `None` with fewer than two tokens apart in time.
    pub(crate) fn tokens_per_second(&self) -> Option<f64> {
        let span = self.last_token?.checked_duration_since(self.first_token?)?;
        (self.tokens >= 2 && !span.is_zero()).then(|| (self.tokens - 1) as f64 / span.as_secs_f64())
    }
}

impl Default for StreamScanner {
    fn default() -> Self {
        StreamScanner::new(ResponseStream::Sse)
    }
}

impl StreamScanner {
    pub(crate) fn new(format: ResponseStream) -> Self {
        StreamScanner {
            format,
            line: Vec::new(),
            line_overflow: false,
            after_cr: false,
            has_data: false,
            data: Vec::new(),
            stats: StreamStats::default(),
        }
    }

    /// Starts a new response in `format`, keeping the buffers' memory (up to a limit).
    pub(crate) fn reset(&mut self, format: ResponseStream) {
        self.format = format;
        self.line.clear();
        self.line_overflow = false;
        self.after_cr = false;
        self.has_data = false;
        self.data.clear();
        let stats = &mut self.stats;
        stats.events = 0;
        stats.first_event = None;
        stats.last_event = None;
        stats.tokens = 0;
        stats.first_token = None;
        stats.last_token = None;
        stats.event_gaps.clear();
        stats.token_gaps.clear();
        if self.line.capacity() > MAX_LINE || self.data.capacity() > MAX_LINE {
            self.line = Vec::new();
            self.data = Vec::new();
        }
    }

    /// Scans body bytes that arrived at `at`.
    pub(crate) fn feed(&mut self, mut input: &[u8], at: Instant) {
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            if input[0] == b'\n' {
                input = &input[1..];
            }
        }
        while let Some(end) = memchr::memchr2(b'\r', b'\n', input) {
            if self.line.is_empty() && !self.line_overflow {
                // The common case: the whole line is in this read, no copy.
                self.on_line(&input[..end], at);
            } else {
                self.append_line(&input[..end]);
                let line = std::mem::take(&mut self.line);
                self.on_line(&line, at);
                self.line = line;
                self.line.clear();
                self.line_overflow = false;
            }
            let crlf = input[end] == b'\r';
            input = &input[end + 1..];
            if crlf {
                match input.first() {
                    Some(b'\n') => input = &input[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.append_line(input);
    }

    /// The body ended at `at`: a last line without a line break is an event of `lines`
    /// (SSE drops an event that was not ended by a blank line, as browsers do).
    pub(crate) fn finish(&mut self, at: Instant) {
        if self.format == ResponseStream::Lines && (!self.line.is_empty() || self.line_overflow) {
            self.on_event(at);
        }
        self.line.clear();
        self.line_overflow = false;
    }

    fn append_line(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        if bytes.len() > room {
            self.line_overflow = true;
        }
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn on_line(&mut self, line: &[u8], at: Instant) {
        if self.format == ResponseStream::Lines {
            if !line.is_empty() || self.line_overflow {
                self.on_event(at);
            }
            return;
        }
        if line.is_empty() {
            self.dispatch(at);
            return;
        }
        // `:comment` lines are ignored; `field: value` drops one space after the colon.
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return,
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        // `event:`, `id:` and `retry:` do not change what is measured.
        if field == b"data" {
            if self.format == ResponseStream::OpenAiChat {
                if self.has_data {
                    self.data.push(b'\n');
                }
                let room = MAX_LINE.saturating_sub(self.data.len());
                self.data.extend_from_slice(&value[..value.len().min(room)]);
            }
            self.has_data = true;
        }
    }

    /// A blank line ends an SSE event; one without data is no event (the SSE standard).
    fn dispatch(&mut self, at: Instant) {
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        self.on_event(at);
        if self.format == ResponseStream::OpenAiChat {
            if self.data != DONE && has_content(&self.data) {
                let stats = &mut self.stats;
                stats.tokens += 1;
                stats.first_token.get_or_insert(at);
                if let Some(last) = stats.last_token.replace(at) {
                    stats.token_gaps.push(at - last);
                }
            }
            self.data.clear();
        }
    }

    fn on_event(&mut self, at: Instant) {
        let stats = &mut self.stats;
        stats.events += 1;
        stats.first_event.get_or_insert(at);
        if let Some(last) = stats.last_event.replace(at) {
            stats.event_gaps.push(at - last);
        }
    }
}

/// Where a response's body bytes go: the copy kept for checks, the stream scanner, both or
/// neither (then they are only counted).
#[derive(Debug)]
pub(crate) struct BodySink<'a> {
    pub keep: Option<&'a mut Vec<u8>>,
    pub stream: Option<&'a mut StreamScanner>,
    /// Where the response's header fields go as `name: value\r\n` lines, when a check, an
    /// extraction or the cookie jar reads them.
    pub head: Option<&'a mut Vec<u8>>,
}

impl BodySink<'_> {
    /// Whether every read must be timestamped.
    pub(crate) fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// Body bytes that arrived at `at`.
    pub(crate) fn data(&mut self, data: &[u8], at: Instant) {
        if let Some(body) = self.keep.as_deref_mut() {
            crate::check::keep_body(body, data);
        }
        if let Some(stream) = self.stream.as_deref_mut() {
            stream.feed(data, at);
        }
    }

    /// Whether the response's header fields are wanted.
    pub(crate) fn wants_head(&self) -> bool {
        self.head.is_some()
    }

    /// The final response head as HTTP/1.1 sent it (status line, fields, blank line): the
    /// fields are kept, the rest skipped.
    pub(crate) fn raw_head(&mut self, raw: &[u8]) {
        if let Some(head) = self.head.as_deref_mut() {
            head.clear();
            let fields = memchr::memmem::find(raw, b"\r\n").map_or(&raw[raw.len()..], |i| &raw[i + 2..]);
            head.extend_from_slice(fields);
        }
    }

    /// One header field (HTTP/2).
    pub(crate) fn field(&mut self, name: &[u8], value: &[u8]) {
        if let Some(head) = self.head.as_deref_mut() {
            head.extend_from_slice(name);
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
    }

    /// The body ended at `at`.
    pub(crate) fn finish(&mut self, at: Instant) {
        if let Some(stream) = self.stream.as_deref_mut() {
            stream.finish(at);
        }
    }
}

/// The gaps of one response, in whole microseconds (a gap over 71 minutes is kept as that),
/// at most [`MAX_GAPS`] of them.
#[derive(Debug, Default)]
pub(crate) struct Gaps(Vec<u32>);

impl Gaps {
    fn push(&mut self, gap: Duration) {
        if self.0.len() < MAX_GAPS {
            self.0.push(u32::try_from(gap.as_micros()).unwrap_or(u32::MAX));
        }
    }

    /// Empties the list; a VU keeps a large buffer only up to [`RETAINED_GAPS`].
    fn clear(&mut self) {
        self.0.clear();
        if self.0.capacity() > RETAINED_GAPS {
            self.0 = Vec::new();
        }
    }

    /// The gaps in milliseconds, in order.
    pub(crate) fn ms(&self) -> impl Iterator<Item = f64> + '_ {
        self.0.iter().map(|&us| f64::from(us) / 1000.0)
    }
}

/// Whether an OpenAI chat-completion chunk carries a non-empty `$.choices[0].delta.content`:
/// one output token, by our definition (a delta is what the server flushed at once, which
/// for OpenAI-compatible servers is one token; a role-only first delta or a final
/// `finish_reason` chunk has no content and is no token). Data that is not such JSON is no
/// token.
fn has_content(data: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Chunk<'a> {
        #[serde(borrow, default)]
        choices: FirstChoice<'a>,
    }
    #[derive(Deserialize, Default)]
    struct Choice<'a> {
        #[serde(borrow, default)]
        delta: Option<Delta<'a>>,
    }
    #[derive(Deserialize)]
    struct Delta<'a> {
        #[serde(borrow, default)]
        content: Option<std::borrow::Cow<'a, str>>,
    }
    /// The first element of `choices`, read without collecting the others.
    #[derive(Default)]
    struct FirstChoice<'a>(Option<Choice<'a>>);
    impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
                type Value = FirstChoice<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a list of choices")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Self::Value, A::Error> {
                    let first = seq.next_element::<Choice<'a>>()?;
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(FirstChoice(first))
                }
                fn visit_unit<E>(self) -> Result<Self::Value, E> {
                    Ok(FirstChoice(None))
                }
            }
            d.deserialize_any(Visit(std::marker::PhantomData))
        }
    }
    serde_json::from_slice::<Chunk<'_>>(data).is_ok_and(|chunk| {
        chunk.choices.0.and_then(|c| c.delta).and_then(|d| d.content).is_some_and(|c| !c.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_bounded_in_count_and_kept_in_microseconds() {
        let mut gaps = Gaps::default();
        for _ in 0..MAX_GAPS + 5 {
            gaps.push(Duration::from_micros(1500));
        }
        assert_eq!(gaps.ms().count(), MAX_GAPS);
        assert!(gaps.ms().all(|g| g == 1.5));
        gaps.clear();
        assert_eq!(gaps.0.capacity(), 0, "a buffer over RETAINED_GAPS is released");
        gaps.push(Duration::from_secs(100_000));
        assert_eq!(gaps.ms().next(), Some(f64::from(u32::MAX) / 1000.0), "a huge gap saturates");
    }

    fn chunk(content: &str) -> String {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}}}}]}}\n\n",
            serde_json::Value::String(content.into())
        )
    }

    /// Feeds `input` in two pieces cut at `cut`, the second arriving 1 s later.
    fn scan_cut(format: ResponseStream, input: &[u8], cut: usize) -> StreamScanner {
        let t0 = Instant::now();
        let mut s = StreamScanner::new(format);
        s.feed(&input[..cut], t0);
        s.feed(&input[cut..], t0 + Duration::from_secs(1));
        s.finish(t0 + Duration::from_secs(1));
        s
    }

    fn counts(s: &StreamScanner) -> (u64, u64) {
        (s.stats.events, s.stats.tokens)
    }

    #[test]
    fn sse_events_split_at_every_byte_boundary_count_the_same() {
        let input = b": a comment\r\nevent: tick\r\nid: 1\r\ndata: one\r\ndata: more\r\n\r\n\
            retry: 10\nid: 2\n\n\
            data\rdata: three\r\r\
            :keepalive\n\n\
            data: four\n\n\
            data: never ended";
        for cut in 0..=input.len() {
            let s = scan_cut(ResponseStream::Sse, input, cut);
            // one (two data lines), `data` alone (empty value), four; the `id`-only event and
            // the comment-only block are no events, the last one never ended.
            assert_eq!(s.stats.events, 3, "cut at {cut}");
            assert_eq!(s.stats.event_gaps.ms().count(), 2, "cut at {cut}");
        }
    }

    #[test]
    fn an_event_is_timed_when_its_blank_line_arrives() {
        let input = b"data: a\n\ndata: b\n";
        let t0 = Instant::now();
        let mut s = StreamScanner::new(ResponseStream::Sse);
        s.feed(input, t0);
        s.feed(b"\n", t0 + Duration::from_millis(250));
        assert_eq!(s.stats.first_event, Some(t0));
        assert_eq!(s.stats.event_gaps.ms().collect::<Vec<_>>(), [250.0]);
    }

    #[test]
    fn a_crlf_split_between_reads_is_one_line_break() {
        let t0 = Instant::now();
        let mut s = StreamScanner::new(ResponseStream::Sse);
        s.feed(b"data: x\r", t0);
        s.feed(b"\n\r", t0);
        s.feed(b"\n", t0);
        assert_eq!(s.stats.events, 1, "CR|LF CR|LF is one line and one blank line");
        s.feed(b"data: y\r\r", t0);
        assert_eq!(s.stats.events, 2, "bare CRs end lines too");
    }

    #[test]
    fn multi_line_data_is_joined_for_the_openai_preset() {
        let input = b"data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"hi\"}}]}\n\n";
        for cut in 0..=input.len() {
            let s = scan_cut(ResponseStream::OpenAiChat, input, cut);
            assert_eq!(counts(&s), (1, 1), "cut at {cut}");
        }
    }

    #[test]
    fn openai_streams_count_content_deltas_and_done() {
        let mut input =
            String::from("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
        for token in ["Hello", ",", " \"world\"", ""] {
            input.push_str(&chunk(token));
        }
        input.push_str(": keep-alive\n\n");
        input.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        input.push_str("data: {\"choices\":[]}\n\n");
        input.push_str("data: {\"choices\":null}\n\n");
        input.push_str("data: not json\n\n");
        input.push_str("data: [DONE]\n\n");
        let input = input.as_bytes();
        for cut in 0..=input.len() {
            let s = scan_cut(ResponseStream::OpenAiChat, input, cut);
            // role, 4 content chunks (one empty), finish, empty choices, null, not json, [DONE]
            assert_eq!(counts(&s), (10, 3), "cut at {cut}");
            let tps = s.stats.tokens_per_second();
            if s.stats.token_gaps.ms().any(|g| g > 0.0) {
                assert_eq!(tps, Some(2.0), "3 tokens, 2 gaps, over 1 s, cut at {cut}");
            } else {
                assert_eq!(tps, None, "all tokens in one read have no rate, cut at {cut}");
            }
        }
    }

    #[test]
    fn lines_count_non_empty_lines_and_a_last_unterminated_one() {
        let input = b"{\"a\":1}\r\n\r\n{\"a\":2}\n{\"a\":3}";
        for cut in 0..=input.len() {
            let s = scan_cut(ResponseStream::Lines, input, cut);
            assert_eq!(s.stats.events, 3, "cut at {cut}");
        }
    }

    #[test]
    fn reset_forgets_the_previous_response() {
        let t0 = Instant::now();
        let mut s = StreamScanner::new(ResponseStream::OpenAiChat);
        s.feed(chunk("a").as_bytes(), t0);
        s.feed(b"data: partial", t0);
        s.reset(ResponseStream::Sse);
        s.feed(b"\n\ndata: x\n\n", t0);
        assert_eq!(counts(&s), (1, 0));
        assert!(s.stats.token_gaps.ms().next().is_none() && s.stats.first_token.is_none());
    }

    #[test]
    fn an_overlong_line_still_ends_and_counts() {
        let mut input = b"data: ".to_vec();
        input.resize(MAX_LINE + 10, b'x');
        input.extend_from_slice(b"\n\n");
        let t0 = Instant::now();
        let mut s = StreamScanner::new(ResponseStream::OpenAiChat);
        for piece in input.chunks(4096) {
            s.feed(piece, t0);
        }
        assert_eq!(counts(&s), (1, 0));
        assert!(s.line.is_empty());
    }
}
