//! Requests with run-time values (`{{ token }}`, `{{ users.email }}`, `{{ uuid }}`): the
//! templated parts are rendered for each request into buffers the VU keeps, then written as
//! the HTTP/1.1 head or built into the HTTP/2 request. Steps without run-time values never come
//! here: their request is serialized once, at load.

use bytes::{BufMut, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use stampede_plan::DynamicRequest;
use stampede_plan::template::Template;
use stampede_proto::{RenderError, Vu};

use crate::h1::{Head, write_fields};

/// The templated parts of a compiled step.
#[derive(Debug)]
pub(crate) struct Dynamic {
    url: Option<Template>,
    headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    /// The plan's target, which relative URLs join.
    target: Option<Uri>,
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
    text: String,
    pub(crate) uri: Option<Uri>,
    pub(crate) headers: HeaderMap,
    /// The body, when it varies.
    pub(crate) body: Option<Bytes>,
    /// The HTTP/1.1 head (with the body), written by [`Rendered::write_h1`].
    pub(crate) head: Vec<u8>,
}

impl Dynamic {
    pub(crate) fn new(parts: &DynamicRequest, target: Option<&Uri>, fixed: HeaderMap) -> Dynamic {
        Dynamic {
            url: parts.url.clone(),
            headers: parts.headers.clone(),
            body: parts.body.clone(),
            target: target.cloned(),
            fixed,
        }
    }

    /// Renders the request's varying parts for `vu` into `out`.
    pub(crate) fn render(&self, vu: &mut Vu, out: &mut Rendered) -> Result<(), NotSent> {
        out.uri = None;
        if let Some(url) = &self.url {
            out.text.clear();
            vu.render(url, &mut out.text).map_err(NotSent::Render)?;
            let uri =
                crate::action::resolve_url(&out.text, self.target.as_ref()).map_err(|_| NotSent::Invalid)?;
            out.uri = Some(uri);
        }
        out.headers.clone_from(&self.fixed);
        for (name, value) in &self.headers {
            out.text.clear();
            vu.render(value, &mut out.text).map_err(NotSent::Render)?;
            let value = HeaderValue::from_str(&out.text).map_err(|_| NotSent::Invalid)?;
            out.headers.append(name.clone(), value);
        }
        out.body = None;
        if let Some(body) = &self.body {
            out.text.clear();
            vu.render(body, &mut out.text).map_err(NotSent::Render)?;
            out.body = Some(Bytes::copy_from_slice(out.text.as_bytes()));
        }
        Ok(())
    }
}

impl Rendered {
    /// Writes the HTTP/1.1 request (head, `cookie` if any, body) into [`Rendered::head`].
    pub(crate) fn write_h1(&mut self, method: &Method, base: (&Uri, &Bytes), cookie: Option<&[u8]>) {
        let (base_uri, base_body) = base;
        let uri = self.uri.as_ref().unwrap_or(base_uri);
        let body = self.body.as_ref().unwrap_or(base_body);
        self.head.clear();
        write_fields(Head { method, uri, headers: &self.headers, body_len: body.len() }, &mut self.head);
        if let Some(cookie) = cookie {
            self.head.put_slice(b"cookie: ");
            self.head.put_slice(cookie);
            self.head.put_slice(b"\r\n");
        }
        self.head.put_slice(b"\r\n");
        self.head.put_slice(body);
    }
}
