//! A VU's cookie jar: what `Set-Cookie` stores (RFC 6265: name, value, domain, path,
//! expiry, `Secure`) and the `cookie` header sent back on matching requests. Each VU has its
//! own, as each browser user does; a load test's VUs must not share a session.

use std::time::SystemTime;

/// A jar holds at most this many cookies; beyond it the oldest goes (a misbehaving target
/// must not grow a VU's memory without bound).
const MAX_COOKIES: usize = 64;

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    /// Lowercase, without a leading dot.
    domain: String,
    /// No `Domain` attribute: only the host that set it gets it back.
    host_only: bool,
    path: String,
    expires: Option<SystemTime>,
    secure: bool,
}

/// Where a request goes, as cookie matching sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Destination<'a> {
    /// The host, lowercase.
    pub host: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// Over TLS.
    pub secure: bool,
}

/// One VU's cookies.
#[derive(Debug, Default)]
pub(crate) struct CookieJar {
    cookies: Vec<Cookie>,
    /// The iteration the jar was last used in (for `reset_cookies_each_iteration`).
    iteration: u64,
    /// The `cookie` header value, rebuilt per request into this reused buffer.
    header: Vec<u8>,
}

impl CookieJar {
    /// Empties the jar when `iteration` is not the one it was last used in.
    pub(crate) fn reset_on_new_iteration(&mut self, iteration: u64) {
        if self.iteration != iteration {
            self.iteration = iteration;
            self.cookies.clear();
        }
    }

    /// The value of the cookie `name` as last stored, if it is still there.
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|c| c.name == name).map(|c| c.value.as_str())
    }

    /// Stores one `Set-Cookie` field value received from `to` (the request's destination).
    /// Malformed or foreign-domain cookies are ignored, as browsers do.
    pub(crate) fn store(&mut self, field: &[u8], to: Destination<'_>, now: SystemTime) {
        let Ok(field) = std::str::from_utf8(field) else { return };
        let mut parts = field.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_string(),
            value: value.to_string(),
            domain: to.host.to_string(),
            host_only: true,
            path: default_path(to.path).to_string(),
            expires: None,
            secure: false,
        };
        let mut max_age = None;
        for attr in parts {
            let (key, val) = attr.split_once('=').map_or((attr.trim(), ""), |(k, v)| (k.trim(), v.trim()));
            if key.eq_ignore_ascii_case("domain") && !val.is_empty() {
                let domain = val.trim_start_matches('.').to_ascii_lowercase();
                if !domain_matches(to.host, &domain) {
                    return;
                }
                cookie.domain = domain;
                cookie.host_only = false;
            } else if key.eq_ignore_ascii_case("path") && val.starts_with('/') {
                cookie.path = val.to_string();
            } else if key.eq_ignore_ascii_case("max-age") {
                max_age = val.parse::<i64>().ok();
            } else if key.eq_ignore_ascii_case("expires") {
                if let Ok(at) = httpdate::parse_http_date(val) {
                    cookie.expires = Some(at);
                }
            } else if key.eq_ignore_ascii_case("secure") {
                cookie.secure = true;
            }
        }
        // `Max-Age` wins over `Expires` (RFC 6265 §5.3 step 3).
        if let Some(secs) = max_age {
            cookie.expires = Some(match u64::try_from(secs) {
                Ok(secs) if secs > 0 => now + std::time::Duration::from_secs(secs),
                _ => SystemTime::UNIX_EPOCH,
            });
        }
        self.cookies
            .retain(|c| !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path));
        if cookie.expires.is_some_and(|at| at <= now) {
            return; // an expiry in the past deletes the cookie
        }
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(cookie);
    }

    /// The `cookie` header for a request to `to`, if any cookie matches; expired ones are
    /// dropped on the way.
    pub(crate) fn header_for(&mut self, to: Destination<'_>, now: SystemTime) -> Option<&[u8]> {
        self.cookies.retain(|c| c.expires.is_none_or(|at| at > now));
        self.header.clear();
        for c in &self.cookies {
            let domain_ok =
                if c.host_only { c.domain == to.host } else { domain_matches(to.host, &c.domain) };
            if domain_ok && path_matches(to.path, &c.path) && (!c.secure || to.secure) {
                if !self.header.is_empty() {
                    self.header.extend_from_slice(b"; ");
                }
                self.header.extend_from_slice(c.name.as_bytes());
                self.header.push(b'=');
                self.header.extend_from_slice(c.value.as_bytes());
            }
        }
        (!self.header.is_empty()).then_some(self.header.as_slice())
    }
}

/// RFC 6265 §5.1.3: the host is the domain or a subdomain of it.
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 §5.1.4.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.4: the request path up to its last `/`, or `/`.
fn default_path(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn to(host: &'static str, path: &'static str, secure: bool) -> Destination<'static> {
        Destination { host, path, secure }
    }

    #[test]
    fn stores_and_sends_back_by_domain_path_secure_and_expiry() {
        let now = SystemTime::now();
        let mut jar = CookieJar::default();
        let from = to("app.example.com", "/login/form", false);
        jar.store(b"sid=abc; Path=/; HttpOnly", from, now);
        jar.store(b"pref=dark", from, now); // default path /login
        jar.store(b"wide=1; Domain=.example.com; Path=/", from, now);
        jar.store(b"sec=1; Secure; Path=/", from, now);
        jar.store(b"evil=1; Domain=other.com", from, now);
        jar.store(b"short=1; Max-Age=10; Path=/", from, now);
        let header = |jar: &mut CookieJar, d, at| {
            jar.header_for(d, at).map(|h| String::from_utf8(h.to_vec()).unwrap())
        };
        assert_eq!(
            header(&mut jar, to("app.example.com", "/", false), now).unwrap(),
            "sid=abc; wide=1; short=1"
        );
        assert_eq!(
            header(&mut jar, to("app.example.com", "/login/x", true), now).unwrap(),
            "sid=abc; pref=dark; wide=1; sec=1; short=1"
        );
        assert_eq!(header(&mut jar, to("api.example.com", "/", false), now).unwrap(), "wide=1");
        assert_eq!(header(&mut jar, to("other.com", "/", false), now), None);
        let later = now + Duration::from_secs(11);
        assert_eq!(header(&mut jar, to("app.example.com", "/", false), later).unwrap(), "sid=abc; wide=1");
        // Replaced, then deleted by an expiry in the past.
        jar.store(b"sid=new; Path=/", from, now);
        assert_eq!(jar.get("sid"), Some("new"));
        jar.store(b"sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT", from, now);
        assert_eq!(jar.get("sid"), None);
        jar.reset_on_new_iteration(1);
        assert_eq!(header(&mut jar, to("app.example.com", "/", false), now), None);
    }

    #[test]
    fn path_and_domain_rules() {
        assert!(path_matches("/a/b", "/a") && path_matches("/a/", "/a/") && !path_matches("/ab", "/a"));
        assert!(domain_matches("x.a.com", "a.com") && !domain_matches("xa.com", "a.com"));
        assert!(!domain_matches("1.2.3.4", "3.4"));
        assert_eq!(default_path("/a/b"), "/a");
        assert_eq!(default_path("/a"), "/");
    }
}
