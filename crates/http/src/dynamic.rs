//! Requests with run-time values (`{{ token }}`, `{{ users.email }}`, `{{ uuid }}`): the
//! templated parts are rendered for each request into buffers the VU keeps, then written as
//! the HTTP/1.1 head or built into the HTTP/2 request. Steps without run-time values never come
//! here: their request is serialized once, at load.
//!
//! The HTTP/1.1 path allocates nothing once the buffers have grown: the URL is compiled into a
//! template of its origin-form target (the target's path prefix joined at load, the origin
//! stripped), so rendering writes the request-target itself, and rendered header values are
//! written into the head as text. Only HTTP/2, whose request type wants a `Uri` and a
//! `HeaderMap`, builds them per request.

use bytes::{BufMut, Bytes};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use stampede_plan::DynamicRequest;
use stampede_plan::template::{Part, Template};
use stampede_proto::{RenderError, Vu};

use crate::h1::{Head, write_fields};

/// The templated parts of a compiled step.
#[derive(Debug)]
pub(crate) struct Dynamic {
    /// The origin-form request target (path and query), if the URL varies.
    target: Option<Template>,
    headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    /// The origin, for HTTP/2's `:scheme` and `:authority`.
    origin: (Scheme, Authority),
    /// Every fixed header field, merged with the defaults, in order.
    fixed: HeaderMap,
}

/// Why a request could not be built; it is counted as failed (`error:variable`), not sent.
#[derive(Debug)]
pub(crate) enum NotSent {
    /// A template could not be rendered.
    Render(RenderError),
    /// The rendered URL or a header value is not valid HTTP (an extracted value with spaces in
    /// a path, a line break in a header).
    Invalid,
}

/// A VU's rendered request, reused between requests.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    /// The origin-form request target, when the URL varies (else empty).
    target: String,
    /// The rendered header values, back to back, and where each ends.
    values: String,
    ends: Vec<usize>,
    /// The body, when it varies.
    pub(crate) body: Option<Bytes>,
    /// The HTTP/1.1 head (with the body), written by [`Dynamic::write_h1`].
    pub(crate) head: Vec<u8>,
}

impl Rendered {
    /// The rendered request-target's path, if the URL varies (the cookie jar matches by it).
    pub(crate) fn path(&self) -> Option<&str> {
        (!self.target.is_empty()).then(|| self.target.split(['?', '#']).next().unwrap_or("/"))
    }
}

impl Dynamic {
    /// `uri` is the step's URL resolved at load (its skeleton): it gives the origin, and the
    /// path prefix a relative URL joins.
    pub(crate) fn new(parts: &DynamicRequest, uri: &Uri, fixed: HeaderMap) -> Option<Dynamic> {
        let target = match &parts.url {
            Some(url) => Some(origin_form(url, uri)?),
            None => None,
        };
        Some(Dynamic {
            target,
            headers: parts.headers.clone(),
            body: parts.body.clone(),
            origin: (uri.scheme()?.clone(), uri.authority()?.clone()),
            fixed,
        })
    }

    /// Renders the request's varying parts for `vu` into `out`.
    pub(crate) fn render(&self, vu: &mut Vu, out: &mut Rendered) -> Result<(), NotSent> {
        out.target.clear();
        if let Some(target) = &self.target {
            vu.render(target, &mut out.target).map_err(NotSent::Render)?;
            if !is_request_target(&out.target) {
                return Err(NotSent::Invalid);
            }
        }
        out.values.clear();
        out.ends.clear();
        for (_, value) in &self.headers {
            let start = out.values.len();
            vu.render(value, &mut out.values).map_err(NotSent::Render)?;
            if !is_field_value(&out.values.as_bytes()[start..]) {
                return Err(NotSent::Invalid);
            }
            out.ends.push(out.values.len());
        }
        out.body = None;
        if let Some(body) = &self.body {
            let mut text = std::mem::take(&mut out.target);
            let at = text.len();
            vu.render(body, &mut text).map_err(NotSent::Render)?;
            out.body = Some(Bytes::copy_from_slice(&text.as_bytes()[at..]));
            text.truncate(at);
            out.target = text;
        }
        Ok(())
    }

    /// Writes the HTTP/1.1 request (head, rendered fields, `cookie` if any, body) into
    /// `r.head`; `base` is the compiled URL and body, used where they do not vary.
    pub(crate) fn write_h1(
        &self,
        r: &mut Rendered,
        method: &Method,
        base: (&Uri, &Bytes),
        cookie: Option<&[u8]>,
    ) {
        let (uri, base_body) = base;
        let body = r.body.as_ref().unwrap_or(base_body);
        let target = (!r.target.is_empty()).then_some(r.target.as_str());
        r.head.clear();
        let head = Head { method, uri, target, headers: &self.fixed, body_len: body.len() };
        write_fields(head, &mut r.head);
        let mut start = 0;
        for ((name, _), &end) in self.headers.iter().zip(&r.ends) {
            put_field(&mut r.head, name.as_str().as_bytes(), &r.values.as_bytes()[start..end]);
            start = end;
        }
        if let Some(cookie) = cookie {
            put_field(&mut r.head, b"cookie", cookie);
        }
        r.head.put_slice(b"\r\n");
        r.head.put_slice(body);
    }

    /// The HTTP/2 request's URI and header fields (without HTTP/1.1's connection fields);
    /// `None` if the rendered target is not one the `http` types accept.
    pub(crate) fn h2_parts(&self, r: &Rendered, base: &Uri) -> Option<(Uri, HeaderMap)> {
        let uri = if r.target.is_empty() {
            base.clone()
        } else {
            let (scheme, authority) = &self.origin;
            let target = PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(r.target.as_bytes())).ok()?;
            Uri::builder()
                .scheme(scheme.clone())
                .authority(authority.clone())
                .path_and_query(target)
                .build()
                .ok()?
        };
        let mut headers = self.fixed.clone();
        let mut start = 0;
        for ((name, _), &end) in self.headers.iter().zip(&r.ends) {
            headers.append(name.clone(), HeaderValue::from_str(&r.values[start..end]).ok()?);
            start = end;
        }
        Some((uri, headers))
    }
}

/// `url` (a path, or an absolute URL whose origin is fixed: the plan checked that) as a
/// template of the origin-form target: a path joins the target's path prefix (as
/// `resolve_url` does), an absolute URL loses its origin.
fn origin_form(url: &Template, resolved: &Uri) -> Option<Template> {
    let mut target = url.clone();
    let Some(Part::Literal(first)) = target.parts_mut().first_mut() else { return None };
    *first = match first.split_once("://") {
        // Absolute: everything up to the path (or query) is the origin.
        Some((_, rest)) => {
            let at = rest.find(['/', '?'])?;
            let slash = if rest[at..].starts_with('?') { "/" } else { "" };
            format!("{slash}{}", &rest[at..])
        }
        // Relative: `resolved` is the target's path prefix, then the skeleton's path.
        None => {
            let skeleton = url.skeleton();
            let path = skeleton.split('?').next().unwrap_or("");
            format!("{}{first}", resolved.path().strip_suffix(path)?)
        }
    };
    Some(target)
}

fn put_field(head: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    head.put_slice(name);
    head.put_slice(b": ");
    head.put_slice(value);
    head.put_slice(b"\r\n");
}

/// A request-target HTTP accepts as is: visible ASCII without the characters URIs exclude
/// (`"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, and `#`, which starts a fragment no request
/// carries). Values rendered into a URL are percent-encoded (`Escape::Path`, `Escape::Query`);
/// this catches what a plan wrote itself.
fn is_request_target(target: &str) -> bool {
    target.starts_with('/')
        && target.bytes().all(|b| (0x21..=0x7e).contains(&b) && !b"\"<>\\^`{|}#".contains(&b))
}

/// A field value: no line breaks or other control characters (tab allowed).
fn is_field_value(value: &[u8]) -> bool {
    value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, resolved: &str) -> Option<String> {
        let t = Template::compile(url).unwrap();
        origin_form(&t, &resolved.parse().unwrap()).map(|t| t.skeleton())
    }

    #[test]
    fn urls_become_origin_form_targets_with_the_target_prefix_joined() {
        // The plan target `http://h/api` joined with `/users/{{ id }}?x=1` resolved at load.
        assert_eq!(
            target("/users/{{ id }}?x=1", "http://h/api/users/?x=1").as_deref(),
            Some("/api/users/?x=1")
        );
        assert_eq!(target("/u/{{ id }}", "http://h/u/").as_deref(), Some("/u/"));
        assert_eq!(target("http://h:81/a/{{ id }}", "http://h:81/a/").as_deref(), Some("/a/"));
        assert_eq!(target("http://h:81?q={{ id }}", "http://h:81/?q=").as_deref(), Some("/?q="));
        let t =
            origin_form(&Template::compile("/p/{{ id }}/q").unwrap(), &"http://h/base/p//q".parse().unwrap());
        assert_eq!(t.map(|t| t.vars().count()), Some(1), "the variables stay");
    }

    #[test]
    fn rendered_targets_and_values_must_be_valid_http() {
        assert!(is_request_target("/a/b?c=d&e=%20"));
        for bad in ["/a b", "/a\u{e9}", "/a#frag", "/a\"b", "relative", "/a{b}"] {
            assert!(!is_request_target(bad), "{bad}");
        }
        assert!(is_field_value(b"Bearer t0k\tx"));
        assert!(!is_field_value(b"a\r\nb"));
        let r = Rendered { target: "/a/b?c".into(), ..Rendered::default() };
        assert_eq!(r.path(), Some("/a/b"));
        assert_eq!(Rendered::default().path(), None);
    }
}
