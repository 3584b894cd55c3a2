//! Parsing HTTP/1.x responses: the head (with `httparse`), how the body is framed, and an
//! incremental chunked decoder. Pure functions over byte slices, so every partial-read case is
//! a unit test; the socket side is in `h1.rs`.

use std::mem::MaybeUninit;

/// A response head with more header fields than this is rejected (hyper's default).
pub(crate) const MAX_HEADERS: usize = 100;

/// A response head (status line and header fields) longer than this is rejected: hyper's
/// default read-buffer limit, so what was accepted before is accepted now.
pub(crate) const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;

/// Chunk extensions of one body may add up to this many bytes (hyper's limit); they are
/// skipped, but a server streaming endless extensions must not keep us reading forever.
const MAX_CHUNK_EXTENSIONS: u64 = 16 * 1024;

/// The response is not valid HTTP/1.x: reported as [`FailureKind::Protocol`].
///
/// [`FailureKind::Protocol`]: stampede_proto::FailureKind::Protocol
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// What the response answers: a `HEAD` request's response has no body whatever its headers
/// say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answering {
    /// A `HEAD` request.
    Head,
    /// Any other method.
    Other,
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: `HEAD`, 1xx, 204, 304, or `content-length: 0`.
    Empty,
    /// `content-length` bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// The status code, 100–999.
    pub status: u16,
    /// Bytes of the head, including the blank line that ends it.
    pub len: usize,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

impl Head {
    /// A 1xx response other than 101: skipped, the real response follows.
    pub(crate) fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parses a response head at the start of `buf`. `Ok(None)`: incomplete, read more (the caller
/// enforces [`MAX_HEAD_BYTES`]). Only the fields that frame the message are interpreted
/// (`content-length`, `transfer-encoding`, `connection`); checks on other headers would copy
/// what they need from the parsed fields here.
pub(crate) fn parse_head(buf: &[u8], answering: Answering) -> Result<Option<Head>, Malformed> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err(Malformed);
    };
    // httparse takes any three digits; `000` is not a status. 101 answers an upgrade we
    // never ask for, so the connection would speak something else from here on.
    if status < 100 || status == 101 {
        return Err(Malformed);
    }

    let mut length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive_token = false;
    for header in response.headers.iter() {
        let name = header.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(header.value)?;
            if length.is_some_and(|prev| prev != n) {
                return Err(Malformed);
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            // Only the last coding of the last field decides whether the message is chunked.
            chunked = tokens(header.value).last().is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in tokens(header.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told not to.
    let mut keep_alive = !close && (version == 1 || keep_alive_token);

    let framing = if answering == Answering::Head || status < 200 || status == 204 || status == 304 {
        Framing::Empty
    } else if transfer_encoding {
        // Both is a smuggling vector (RFC 9112 §6.1); HTTP/1.0 has no transfer codings.
        if length.is_some() || version == 0 {
            return Err(Malformed);
        }
        if chunked {
            Framing::Chunked
        } else {
            keep_alive = false;
            Framing::UntilClose
        }
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => {
                keep_alive = false;
                Framing::UntilClose
            }
        }
    };
    Ok(Some(Head { status, len, framing, keep_alive }))
}

/// Comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

/// `content-length`: decimal digits; a list of equal values (`5, 5`, from merged fields) is
/// accepted as one, anything else is malformed.
fn parse_content_length(value: &[u8]) -> Result<u64, Malformed> {
    let mut result: Option<u64> = None;
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(Malformed);
        }
        let n = part
            .iter()
            .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .ok_or(Malformed)?;
        if result.is_some_and(|prev| prev != n) {
            return Err(Malformed);
        }
        result = Some(n);
    }
    result.ok_or(Malformed)
}

/// Where a chunked decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size; `digits` so far.
    Size { digits: u32 },
    /// Whitespace after the size, before `;` or CR.
    SizeSpace,
    /// Inside a chunk extension, until CR.
    Extension,
    /// Expecting the LF of the size line.
    SizeLf,
    /// Inside chunk data; `remaining` bytes to go.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final blank line).
    TrailerStart,
    /// Inside a trailer field line, until CR.
    Trailer,
    /// Expecting the LF of a trailer line.
    TrailerLf,
    /// Expecting the LF of the final blank line.
    EndLf,
    /// The body is complete.
    Done,
}

/// Decodes a chunked body incrementally: feed it whatever arrived, it hands out the data and
/// remembers where it stopped, to the byte.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: Chunk,
    /// The size being read, then the bytes left of the current chunk.
    remaining: u64,
    extension_bytes: u64,
    trailer_bytes: usize,
    trailer_lines: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        ChunkedDecoder {
            state: Chunk::Size { digits: 0 },
            remaining: 0,
            extension_bytes: 0,
            trailer_bytes: 0,
            trailer_lines: 0,
        }
    }

    /// Whether the terminating chunk and the trailers were read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Decodes from `input`, passing chunk data to `data`. Returns how many bytes were used:
    /// all of them unless the body ended inside `input` (the rest is not part of it).
    pub(crate) fn decode(&mut self, input: &[u8], mut data: impl FnMut(&[u8])) -> Result<usize, Malformed> {
        let mut i = 0;
        while i < input.len() {
            if self.state == Chunk::Data {
                let n = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(input.len() - i);
                data(&input[i..i + n]);
                i += n;
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    self.state = Chunk::DataCr;
                }
                continue;
            }
            if self.state == Chunk::Done {
                break;
            }
            let b = input[i];
            i += 1;
            self.state = self.step(b)?;
        }
        Ok(i)
    }

    /// One byte of framing (anything but chunk data).
    fn step(&mut self, b: u8) -> Result<Chunk, Malformed> {
        Ok(match self.state {
            Chunk::Size { digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let d = u64::from(char::from(b).to_digit(16).ok_or(Malformed)?);
                    self.remaining =
                        self.remaining.checked_mul(16).and_then(|n| n.checked_add(d)).ok_or(Malformed)?;
                    Chunk::Size { digits: digits + 1 }
                }
                _ if digits == 0 => return Err(Malformed),
                b' ' | b'\t' => Chunk::SizeSpace,
                b';' => Chunk::Extension,
                b'\r' => Chunk::SizeLf,
                _ => return Err(Malformed),
            },
            Chunk::SizeSpace => match b {
                b' ' | b'\t' => Chunk::SizeSpace,
                b';' => Chunk::Extension,
                b'\r' => Chunk::SizeLf,
                _ => return Err(Malformed),
            },
            Chunk::Extension => {
                self.extension_bytes += 1;
                match b {
                    _ if self.extension_bytes > MAX_CHUNK_EXTENSIONS => return Err(Malformed),
                    b'\r' => Chunk::SizeLf,
                    // A bare LF would let an extension hide a chunk from some other parser.
                    b'\n' => return Err(Malformed),
                    _ => Chunk::Extension,
                }
            }
            Chunk::SizeLf => match b {
                b'\n' if self.remaining == 0 => Chunk::TrailerStart,
                b'\n' => Chunk::Data,
                _ => return Err(Malformed),
            },
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                _ => return Err(Malformed),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size { digits: 0 },
                _ => return Err(Malformed),
            },
            Chunk::TrailerStart => match b {
                b'\r' => Chunk::EndLf,
                _ => {
                    self.trailer_lines += 1;
                    if self.trailer_lines > MAX_HEADERS {
                        return Err(Malformed);
                    }
                    self.trailer_byte()?
                }
            },
            Chunk::Trailer => match b {
                b'\r' => Chunk::TrailerLf,
                _ => self.trailer_byte()?,
            },
            Chunk::TrailerLf => match b {
                b'\n' => Chunk::TrailerStart,
                _ => return Err(Malformed),
            },
            Chunk::EndLf => match b {
                b'\n' => Chunk::Done,
                _ => return Err(Malformed),
            },
            Chunk::Data | Chunk::Done => self.state,
        })
    }

    /// Trailer fields are read and dropped, within the head's size limit.
    fn trailer_byte(&mut self) -> Result<Chunk, Malformed> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_HEAD_BYTES {
            return Err(Malformed);
        }
        Ok(Chunk::Trailer)
    }
}

/// A complete response, as far as the connection is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    /// The final status (interim 1xx responses are skipped).
    pub status: u16,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
}

/// What [`Receiver::advance`] did with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Advance {
    /// Bytes of the input that belong to the response (all of them until it is complete).
    pub used: usize,
    /// The response, once complete.
    pub done: Option<Received>,
}

/// Where a [`Receiver`] is in the response.
#[derive(Debug, Clone)]
enum Reading {
    Head,
    Body { status: u16, keep_alive: bool, body: Body },
}

#[derive(Debug, Clone)]
enum Body {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// Reads one response from whatever bytes arrive, in whatever pieces: interim responses,
/// the head, then the body by its framing. Sans I/O, so that reading a response one byte at
/// a time is a unit test; the connection feeds it from its read buffer.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    answering: Answering,
    reading: Reading,
    /// Where the final head lay in the input of the `advance` that read it, until taken.
    final_head: Option<(usize, usize)>,
}

impl Receiver {
    pub(crate) fn new(answering: Answering) -> Self {
        Receiver { answering, reading: Reading::Head, final_head: None }
    }

    /// Where the final (non-interim) head lay in the input of the last [`Receiver::advance`],
    /// if that call read it; once.
    pub(crate) fn take_head(&mut self) -> Option<std::ops::Range<usize>> {
        self.final_head.take().map(|(start, end)| start..end)
    }

    /// Reads from `input` (the bytes received and not yet used), passing body bytes to `body`.
    /// An incomplete head is not used at all: the caller keeps it and appends to it.
    pub(crate) fn advance(
        &mut self,
        input: &[u8],
        mut body: impl FnMut(&[u8]),
    ) -> Result<Advance, Malformed> {
        let mut used = 0;
        if matches!(self.reading, Reading::Head) {
            loop {
                let rest = &input[used..];
                match parse_head(rest, self.answering)? {
                    None if rest.len() >= MAX_HEAD_BYTES => return Err(Malformed),
                    None => return Ok(Advance { used, done: None }),
                    Some(head) if head.is_interim() => used += head.len,
                    Some(head) => {
                        self.final_head = Some((used, used + head.len));
                        used += head.len;
                        let (status, keep_alive) = (head.status, head.keep_alive);
                        let body = match head.framing {
                            Framing::Empty => {
                                return Ok(Advance { used, done: Some(Received { status, keep_alive }) });
                            }
                            Framing::Length(n) => Body::Length(n),
                            Framing::Chunked => Body::Chunked(ChunkedDecoder::new()),
                            Framing::UntilClose => Body::UntilClose,
                        };
                        self.reading = Reading::Body { status, keep_alive, body };
                        break;
                    }
                }
            }
        }
        let Reading::Body { status, keep_alive, body: framing } = &mut self.reading else {
            unreachable!("the head was read above");
        };
        let rest = &input[used..];
        let complete = match framing {
            Body::Length(remaining) => {
                let n = usize::try_from(*remaining).unwrap_or(usize::MAX).min(rest.len());
                body(&rest[..n]);
                used += n;
                *remaining -= n as u64;
                *remaining == 0
            }
            Body::Chunked(decoder) => {
                used += decoder.decode(rest, body)?;
                decoder.is_done()
            }
            Body::UntilClose => {
                body(rest);
                used += rest.len();
                false
            }
        };
        let done = complete.then_some(Received { status: *status, keep_alive: *keep_alive });
        Ok(Advance { used, done })
    }

    /// The connection closed: the response is complete if its body runs until the close;
    /// otherwise it was cut short (`None`).
    pub(crate) fn at_eof(&self) -> Option<Received> {
        match self.reading {
            Reading::Body { status, body: Body::UntilClose, .. } => {
                Some(Received { status, keep_alive: false })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Result<Option<Head>, Malformed> {
        parse_head(bytes, Answering::Other)
    }

    fn complete(bytes: &[u8]) -> Head {
        head(bytes).expect("valid").expect("complete")
    }

    /// Decodes `body` fed in pieces of `step` bytes; returns the data and bytes used.
    fn dechunk(body: &[u8], step: usize) -> Result<(Vec<u8>, usize), Malformed> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut used = 0;
        for piece in body.chunks(step) {
            used += d.decode(piece, |data| out.extend_from_slice(data))?;
            if d.is_done() {
                break;
            }
        }
        assert!(d.is_done(), "body not complete after {used} bytes");
        Ok((out, used))
    }

    #[test]
    fn a_head_split_at_every_byte_is_incomplete_until_the_blank_line() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
        let head_len = response.len() - 5;
        for cut in 0..head_len {
            assert_eq!(head(&response[..cut]), Ok(None), "cut at {cut}");
        }
        for cut in head_len..=response.len() {
            let h = complete(&response[..cut]);
            assert_eq!(
                h,
                Head { status: 200, len: head_len, framing: Framing::Length(5), keep_alive: true },
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_chunked_body_fed_one_byte_at_a_time_decodes_with_extensions_and_trailers() {
        let body = b"5;name=value;x\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0;last\r\nTrailer: yes\r\nOther: 1\r\n\r\n";
        for step in [1, 2, 3, 7, body.len()] {
            let (data, used) = dechunk(body, step).unwrap();
            assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz", "step {step}");
            assert_eq!(used, body.len(), "step {step}");
        }
    }

    #[test]
    fn bytes_after_the_last_chunk_are_not_consumed() {
        let mut input = b"3\r\nabc\r\n0\r\n\r\n".to_vec();
        let body_len = input.len();
        input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let used = d.decode(&input, |b| out.extend_from_slice(b)).unwrap();
        assert!(d.is_done());
        assert_eq!(used, body_len);
        assert_eq!(out, b"abc");
    }

    #[test]
    fn malformed_chunks_are_rejected() {
        let cases: [&[u8]; 8] = [
            b"zz\r\n",
            b"\r\n",
            b"5\r\nhelloX",
            b"5\nhello\r\n",
            b"1;ext\nx\r\n",
            b"10000000000000000\r\n",
            b"0\r\nbad trailer\rX",
            b"0\r\n\rX",
        ];
        for case in cases {
            let mut d = ChunkedDecoder::new();
            assert_eq!(d.decode(case, |_| {}), Err(Malformed), "{:?}", String::from_utf8_lossy(case));
        }
        let endless = [b"1;".as_slice(), &[b'x'; 17 * 1024]].concat();
        assert_eq!(ChunkedDecoder::new().decode(&endless, |_| {}), Err(Malformed));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let chunked = complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!((chunked.framing, chunked.keep_alive), (Framing::Chunked, true));
        let gzip_only = complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert_eq!((gzip_only.framing, gzip_only.keep_alive), (Framing::UntilClose, false));
        let no_length = complete(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((no_length.framing, no_length.keep_alive), (Framing::UntilClose, false));
        let zero = complete(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(zero.framing, Framing::Empty);
        let repeated = complete(b"HTTP/1.1 200 OK\r\ncontent-length: 7, 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(repeated.framing, Framing::Length(7));
    }

    #[test]
    fn http_1_0_is_close_delimited_unless_kept_alive() {
        let plain = complete(b"HTTP/1.0 200 OK\r\n\r\nuntil close");
        assert_eq!((plain.framing, plain.keep_alive), (Framing::UntilClose, false));
        let with_length = complete(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!((with_length.framing, with_length.keep_alive), (Framing::Length(2), false));
        let kept = complete(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 2\r\n\r\nok");
        assert!(kept.keep_alive);
        let closed = complete(b"HTTP/1.1 200 OK\r\nconnection: foo, close\r\ncontent-length: 2\r\n\r\nok");
        assert!(!closed.keep_alive);
    }

    #[test]
    fn interim_head_no_content_and_not_modified_have_no_body() {
        let cont = complete(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n");
        assert!(cont.is_interim());
        assert_eq!((cont.len, cont.framing), (25, Framing::Empty));
        let hints = complete(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
        assert!(hints.is_interim());
        for status in [204, 304] {
            let text = format!("HTTP/1.1 {status} X\r\ncontent-length: 10\r\n\r\n");
            let h = complete(text.as_bytes());
            assert_eq!((h.status, h.framing, h.keep_alive), (status, Framing::Empty, true));
        }
        let to_head = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", Answering::Head);
        assert_eq!(to_head.unwrap().unwrap().framing, Framing::Empty);
        let ok = complete(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
        assert!(!ok.is_interim());
    }

    #[test]
    fn malformed_heads_are_rejected() {
        let cases: [&[u8]; 10] = [
            b"\x00\x01garbage that is not http\r\n\r\n",
            b"HTTP/1.1 2000 No\r\n\r\n",
            b"HTTP/1.1 20 No\r\n\r\n",
            b"HTTP/1.1 000 No\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
        ];
        for case in cases {
            assert_eq!(head(case), Err(Malformed), "{:?}", String::from_utf8_lossy(case));
        }
        assert_eq!(head(b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"), Err(Malformed));
    }

    #[test]
    fn too_many_header_fields_are_rejected() {
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..MAX_HEADERS {
            text.push_str(&format!("x-{i}: v\r\n"));
        }
        let at_limit = format!("{text}\r\n");
        assert!(complete(at_limit.as_bytes()).status == 200);
        let over = format!("{text}x-last: v\r\n\r\n");
        assert_eq!(head(over.as_bytes()), Err(Malformed));
    }
    /// Feeds `response` to a receiver `step` bytes at a time the way the connection does
    /// (unused bytes stay and are offered again with the next piece). Returns the outcome, the
    /// body and how many bytes the response used (`None` when it needs EOF to end).
    fn receive(
        response: &[u8],
        step: usize,
        answering: Answering,
    ) -> Result<(Received, Vec<u8>, usize), Malformed> {
        let mut rx = Receiver::new(answering);
        let mut pending: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        let mut consumed = 0;
        for piece in response.chunks(step) {
            pending.extend_from_slice(piece);
            let adv = rx.advance(&pending, |b| body.extend_from_slice(b))?;
            pending.drain(..adv.used);
            consumed += adv.used;
            if let Some(done) = adv.done {
                return Ok((done, body, consumed));
            }
        }
        let done = rx.at_eof().expect("the response ended early");
        Ok((done, body, consumed))
    }

    #[test]
    fn whole_responses_read_one_byte_at_a_time() {
        let cases: [(&[u8], Received, &[u8]); 5] = [
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                Received { status: 200, keep_alive: true },
                b"hello",
            ),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nx-t: 1\r\n\r\n",
                Received { status: 201, keep_alive: true },
                b"abc",
            ),
            (b"HTTP/1.0 200 OK\r\n\r\nuntil close", Received { status: 200, keep_alive: false }, b"until close"),
            (b"HTTP/1.1 204 No Content\r\n\r\n", Received { status: 204, keep_alive: true }, b""),
            (
                b"HTTP/1.1 304 Not Modified\r\nconnection: close\r\ncontent-length: 9\r\n\r\n",
                Received { status: 304, keep_alive: false },
                b"",
            ),
        ];
        for (response, expected, expected_body) in cases {
            for step in [1, 2, 5, response.len()] {
                let (got, body, used) = receive(response, step, Answering::Other).unwrap();
                let what = String::from_utf8_lossy(response);
                assert_eq!(got, expected, "{what} step {step}");
                assert_eq!(body, expected_body, "{what} step {step}");
                assert_eq!(used, response.len(), "{what} step {step}");
            }
        }
    }

    #[test]
    fn interim_heads_are_used_and_a_cut_body_is_not_complete() {
        let mut rx = Receiver::new(Answering::Other);
        let adv = rx.advance(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", |_| {}).unwrap();
        assert_eq!((adv.used, adv.done), (25, None));
        let mut body = Vec::new();
        let adv = rx
            .advance(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab", |b| body.extend_from_slice(b))
            .unwrap();
        assert_eq!((adv.used, adv.done, &body[..]), (40, None, &b"ab"[..]));
        assert_eq!(rx.at_eof(), None, "a length-delimited body cut short is not complete");
        assert_eq!(Receiver::new(Answering::Other).at_eof(), None, "no head, no response");
    }

    #[test]
    fn a_head_response_has_no_body_whatever_it_announces() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n";
        for step in [1, response.len()] {
            let (got, body, used) = receive(response, step, Answering::Head).unwrap();
            assert_eq!(got, Received { status: 200, keep_alive: true });
            assert!(body.is_empty());
            assert_eq!(used, response.len());
        }
    }

    #[test]
    fn pipelined_garbage_after_a_response_is_left_unused() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokGARBAGE";
        let mut rx = Receiver::new(Answering::Other);
        let mut body = Vec::new();
        let adv = rx.advance(response, |b| body.extend_from_slice(b)).unwrap();
        assert_eq!(adv.used, response.len() - "GARBAGE".len());
        assert_eq!(adv.done, Some(Received { status: 200, keep_alive: true }));
        assert_eq!(body, b"ok");
    }

    #[test]
    fn an_oversize_head_is_rejected_once_the_limit_is_reached() {
        let mut rx = Receiver::new(Answering::Other);
        let mut head = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
        head.resize(MAX_HEAD_BYTES - 1, b'a');
        assert_eq!(rx.advance(&head, |_| {}).unwrap().done, None, "just under the limit: read more");
        head.push(b'a');
        assert_eq!(rx.advance(&head, |_| {}), Err(Malformed));
    }
}
