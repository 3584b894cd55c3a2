//! HTTP/1.1 requests serialized once, at compile time.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::parse::Answering;

/// Bodies up to this size are sent in the same buffer as the head: one write, one system
/// call. Larger ones stay a separate buffer (shared with the HTTP/2 request) and go out with a
/// vectored write, so a big upload is not held in memory twice.
const INLINE_BODY_MAX: usize = 64 * 1024;

/// A request as it goes on the wire, fixed when the plan loads. A request with run-time values
/// is written per request into a per-VU buffer ([`write_fields`]) and sent in place of the
/// head; its compiled `H1Request` then only says how to read the response.
#[derive(Debug, Clone)]
pub(crate) struct H1Request {
    /// The head, followed by the body when it is small.
    head: Bytes,
    /// The body when it is large, else empty.
    tail: Bytes,
    /// How to read the response (`HEAD` responses have no body).
    pub answering: Answering,
    /// The request asks the server to close the connection after the response.
    pub closes: bool,
    /// Where the blank line that ends the head starts in `head`: per-request fields (the
    /// cookie jar's `cookie`) go there.
    fields_end: usize,
}

impl H1Request {
    /// Serializes `method` to the origin-form target of `uri`, with `headers` in their order
    /// (see [`write_fields`]) and `body` with its `content-length`.
    pub(crate) fn new(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Self {
        let mut head = BytesMut::with_capacity(256 + body.len().min(INLINE_BODY_MAX));
        let closes =
            write_fields(Head { method, uri, target: None, headers, body_len: body.len() }, &mut head);
        let fields_end = head.len();
        head.put_slice(b"\r\n");
        let tail = if body.len() <= INLINE_BODY_MAX {
            head.put_slice(body);
            Bytes::new()
        } else {
            body.clone()
        };
        let answering = if *method == Method::HEAD { Answering::Head } else { Answering::Other };
        H1Request { head: head.freeze(), tail, answering, closes, fields_end }
    }

    /// Writes into `out` the head (with a small body) with one more field, for a request
    /// whose head varies (the jar's cookies); sent in place of the first of [`Self::parts`].
    pub(crate) fn head_with_field(&self, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.head[..self.fields_end]);
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.head[self.fields_end..]);
    }

    /// The bytes to write: the head (with a small body), then the large body if any.
    pub(crate) fn parts(&self) -> (&[u8], &[u8]) {
        (&self.head, &self.tail)
    }
}

/// What a request head is made of.
#[derive(Clone, Copy)]
pub(crate) struct Head<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    /// The origin-form request-target when it is not `uri`'s (a rendered one).
    pub target: Option<&'a str>,
    /// Merged by the caller; `host` is added when missing.
    pub headers: &'a HeaderMap,
    pub body_len: usize,
}

/// Writes the request line and header fields (not the blank line that ends them) to `out`;
/// returns whether the request asks the server to close the connection. `content-length` and
/// `transfer-encoding` given by the plan are replaced by the body's real length: a wrong one
/// would desynchronise the connection.
pub(crate) fn write_fields(h: Head<'_>, out: &mut impl BufMut) -> bool {
    let target = h.target.unwrap_or_else(|| h.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let target = if target.is_empty() { "/" } else { target };
    out.put_slice(h.method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    if !h.headers.contains_key(HOST) {
        put_field(out, "host", &host_value(h.uri));
    }
    let mut closes = false;
    for (name, value) in h.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        if name == CONNECTION {
            closes |=
                value.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        put_field(out, name.as_str(), value);
    }
    // Methods that define a meaning for content say `content-length: 0` when they have
    // none (RFC 9110 §8.6), so servers need not wait for a body.
    let announces_length = h.body_len > 0 || matches!(*h.method, Method::POST | Method::PUT | Method::PATCH);
    if announces_length {
        out.put_slice(b"content-length: ");
        out.put_slice(h.body_len.to_string().as_bytes());
        out.put_slice(b"\r\n");
    }
    closes
}

fn put_field(head: &mut impl BufMut, name: &str, value: &HeaderValue) {
    head.put_slice(name.as_bytes());
    head.put_slice(b": ");
    head.put_slice(value.as_bytes());
    head.put_slice(b"\r\n");
}

/// `host` as HTTP/1.1 wants it: host and explicit port, never credentials.
fn host_value(uri: &Uri) -> HeaderValue {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // An authority that parsed as part of a URI is a valid header value.
    HeaderValue::from_str(host_port).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    fn text(req: &H1Request) -> (String, String) {
        let (head, tail) = req.parts();
        (String::from_utf8_lossy(head).into_owned(), String::from_utf8_lossy(tail).into_owned())
    }

    #[test]
    fn a_get_is_one_head_with_host_and_the_headers_in_order() {
        let mut headers = HeaderMap::new();
        headers.append(HeaderName::from_static("x-a"), HeaderValue::from_static("1"));
        headers.append(HeaderName::from_static("x-a"), HeaderValue::from_static("2"));
        headers.append(HeaderName::from_static("user-agent"), HeaderValue::from_static("ua"));
        headers.append(HeaderName::from_static("content-length"), HeaderValue::from_static("99"));
        let uri: Uri = "http://u:p@h:81/p/a?q=1&r".parse().unwrap();
        let req = H1Request::new(&Method::GET, &uri, &headers, &Bytes::new());
        assert_eq!(
            text(&req),
            (
                "GET /p/a?q=1&r HTTP/1.1\r\nhost: h:81\r\nx-a: 1\r\nx-a: 2\r\nuser-agent: ua\r\n\r\n".into(),
                String::new()
            )
        );
        assert_eq!((req.answering, req.closes), (Answering::Other, false));
    }

    #[test]
    fn small_bodies_follow_the_head_and_large_ones_stay_apart() {
        let uri: Uri = "http://h/".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("given"));
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Close"));
        let small = H1Request::new(&Method::POST, &uri, &headers, &Bytes::from_static(b"{}"));
        assert_eq!(
            text(&small).0,
            "POST / HTTP/1.1\r\nhost: given\r\nconnection: keep-alive, Close\r\ncontent-length: 2\r\n\r\n{}"
        );
        assert!(small.closes);

        let big = Bytes::from(vec![b'x'; INLINE_BODY_MAX + 1]);
        let large = H1Request::new(&Method::PUT, &uri, &HeaderMap::new(), &big);
        let (head, tail) = large.parts();
        assert!(head.ends_with(format!("content-length: {}\r\n\r\n", big.len()).as_bytes()));
        assert_eq!(tail, &big[..]);

        let empty_post = H1Request::new(&Method::POST, &uri, &HeaderMap::new(), &Bytes::new());
        assert!(text(&empty_post).0.ends_with("content-length: 0\r\n\r\n"));
        let head = H1Request::new(&Method::HEAD, &uri, &HeaderMap::new(), &Bytes::new());
        assert_eq!(text(&head).0, "HEAD / HTTP/1.1\r\nhost: h\r\n\r\n");
        assert_eq!(head.answering, Answering::Head);
    }
}
