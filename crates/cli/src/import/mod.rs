//! `stampede import har|openapi FILE [-o plan.yaml]`: a runnable plan from a browser
//! recording or an OpenAPI document.
//!
//! Both importers fill the same [`writer::Imported`] model. What they share lives here:
//! masking secrets into `{{ env.NAME }}` variables ([`Secrets`]), reading URLs, and keeping
//! recorded text from being read as a template. Secrets are masked before anything is written,
//! so a token never reaches the plan file; the header comment lists each variable and how to
//! set it.

mod har;
mod openapi;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

/// `stampede import ...`.
#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    source: Source,
}

#[derive(Subcommand, Debug)]
enum Source {
    /// A browser recording (HAR 1.2, as saved by a browser's network panel or Playwright).
    Har(FileArgs),
    /// An OpenAPI 3.0 or 3.1 document, JSON or YAML.
    Openapi(FileArgs),
}

#[derive(Args, Debug)]
struct FileArgs {
    /// The file to import.
    file: PathBuf,
    /// Write the plan here instead of to standard output.
    #[arg(short, long, value_name = "PLAN")]
    output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    force: bool,
    /// Leave out a request (repeatable): its name (`METHOD /path`, an operationId), or every
    /// request whose path starts with the given `/prefix`.
    #[arg(long, value_name = "NAME|/PREFIX")]
    skip: Vec<String>,
}

pub(crate) fn run(args: ImportArgs) -> ExitCode {
    let (kind, file) = match &args.source {
        Source::Har(f) => ("har", f),
        Source::Openapi(f) => ("openapi", f),
    };
    match import(kind, file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stampede: {e:#}");
            ExitCode::from(crate::EXIT_USAGE)
        }
    }
}

fn import(kind: &str, args: &FileArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let source = args
        .file
        .file_name()
        .map_or_else(|| args.file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let skip = Skip(&args.skip);
    let plan = match kind {
        "har" => har::import(&text, &source, &skip),
        _ => openapi::import(&text, &source, &skip),
    }
    .with_context(|| format!("cannot import {}", args.file.display()))?;
    let yaml = plan.to_yaml();
    match &args.output {
        Some(path) => {
            crate::cmd_tooling::write_new(path, &yaml, args.force)?;
            let steps = plan.steps.iter().filter(|s| matches!(s, writer::Step::Request(_))).count();
            eprintln!("wrote {} ({steps} requests)", path.display());
        }
        None => print!("{yaml}"),
    }
    Ok(())
}

/// The `--skip` arguments.
pub(crate) struct Skip<'a>(&'a [String]);

impl Skip<'_> {
    /// Whether the request named `name` (or its operation id) with this path is left out.
    pub(crate) fn skips(&self, names: &[&str], path: &str) -> bool {
        self.0
            .iter()
            .any(|s| names.contains(&s.as_str()) || (s.starts_with('/') && path.starts_with(s.as_str())))
    }
}

/// Masks secrets into environment variables, one per distinct value, and remembers where
/// each was found so that the plan's header can say how to set them.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    found: Vec<Secret>,
}

#[derive(Debug)]
struct Secret {
    env: String,
    value: String,
    what: String,
    used_by: Vec<String>,
}

impl Secrets {
    /// `{{ env.NAME }}` for `value`: the same variable for a value seen before, else a new one
    /// named after `hint` (`AUTH_TOKEN`, `PASSWORD`, ...; `_2` appended when taken).
    pub(crate) fn mask(&mut self, hint: &str, value: &str, where_: (&str, &str)) -> String {
        let (what, request) = where_;
        let base = env_name(hint);
        let index = match self.found.iter().position(|s| s.value == value && s.env.starts_with(&base)) {
            Some(i) => i,
            None => {
                let taken = |name: &str| self.found.iter().any(|s| s.env == name);
                let mut env = base.clone();
                let mut n = 2;
                while taken(&env) {
                    env = format!("{base}_{n}");
                    n += 1;
                }
                self.found.push(Secret {
                    env,
                    value: value.to_string(),
                    what: what.to_string(),
                    used_by: Vec::new(),
                });
                self.found.len() - 1
            }
        };
        let secret = &mut self.found[index];
        if !secret.used_by.iter().any(|r| r == request) {
            secret.used_by.push(request.to_string());
        }
        format!("{{{{ env.{} }}}}", secret.env)
    }

    /// Header comment lines naming each variable; empty when nothing was masked.
    /// `extra` may add a remark, given a variable's name and its (never written) value.
    pub(crate) fn header(&self, extra: impl Fn(&str, &str) -> Option<String>) -> Vec<String> {
        if self.found.is_empty() {
            return Vec::new();
        }
        let mut lines =
            vec!["Secrets were masked into environment variables; set them before running:".to_string()];
        let width = self.found.iter().map(|s| s.env.len()).max().unwrap_or(0);
        for s in &self.found {
            let mut line = format!("  {:width$}  {} (in {})", s.env, s.what, s.used_by.join(", "));
            if let Some(more) = extra(&s.env, &s.value) {
                line.push_str(&format!("; {more}"));
            }
            lines.push(line);
        }
        let example: Vec<String> = self.found.iter().map(|s| format!("{}=...", s.env)).collect();
        lines.push(format!("e.g.  {} stampede run plan.yaml", example.join(" ")));
        lines
    }

    /// Whether any secret was masked.
    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }
}

/// `x-api-key` → `X_API_KEY`.
fn env_name(hint: &str) -> String {
    let mut name: String =
        hint.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// Header names whose values are credentials, whatever they hold.
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Parts of names (headers, query parameters, JSON and form fields) that mark a secret,
/// compared without case, `-` and `_`.
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "session",
    "csrf",
    "xsrf",
    "signature",
    "credential",
];

/// Query parameter names that are secrets though they hold none of [`SECRET_WORDS`].
const SECRET_PARAMS: &[&str] = &["key", "sig", "auth", "code", "pwd"];

/// Whether a field or parameter named `name` holds a secret.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let norm: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| norm.contains(w))
}

/// Whether a header named `name` (any case) holds a secret.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-auth") || is_secret_name(&lower)
}

/// Whether a query parameter named `name` holds a secret.
pub(crate) fn is_secret_param(name: &str) -> bool {
    is_secret_name(name) || SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str())
}

/// A header value with its credentials masked: the scheme of `Authorization` stays
/// (`Bearer {{ env.AUTH_TOKEN }}`), every other secret header becomes one variable.
pub(crate) fn mask_header(secrets: &mut Secrets, name: &str, value: &str, request: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower == "authorization" || lower == "proxy-authorization" {
        if let Some((scheme, credentials)) = value.split_once(' ') {
            let hint = match scheme.to_ascii_lowercase().as_str() {
                "bearer" => "AUTH_TOKEN",
                "basic" => "AUTH_BASIC",
                _ => "AUTH_CREDENTIALS",
            };
            let what = format!("the {scheme} credentials of the {name} header");
            let masked = secrets.mask(hint, credentials.trim(), (&what, request));
            return format!("{scheme} {masked}");
        }
    }
    let what = format!("the {name} header");
    secrets.mask(name, value, (&what, request))
}

/// Masks the values of secret-named fields of a JSON body, at any depth.
pub(crate) fn mask_json(secrets: &mut Secrets, value: &mut Value, request: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if is_secret_name(k) => {
                        let what = format!("\"{k}\" in the body");
                        *s = secrets.mask(k, s, (&what, request));
                    }
                    _ => mask_json(secrets, v, request),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_json(secrets, v, request)),
        _ => {}
    }
}

/// Masks the values of secret-named form fields.
pub(crate) fn mask_form(secrets: &mut Secrets, fields: &mut [(String, String)], request: &str) {
    for (k, v) in fields.iter_mut() {
        if is_secret_name(k) {
            let what = format!("the form field {k}");
            *v = secrets.mask(k, v, (&what, request));
        }
    }
}

/// A query string (without `?`) with secret parameters masked; pairs stay as written.
pub(crate) fn mask_query(secrets: &mut Secrets, query: &str, request: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !v.is_empty() && is_secret_param(&percent_decode(k)) => {
                let decoded = percent_decode(v);
                let what = format!("the query parameter {k}");
                format!("{k}={}", secrets.mask(k, &decoded, (&what, request)))
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Recorded or documented text that the plan would read as a template (`{{`) gets its braces
/// written as the literal `{{ '{{' }}`, so the plan sends them as recorded.
pub(crate) fn literal(s: &str) -> String {
    s.replace("{{", "{{ '{{' }}")
}

/// The same for every string in a JSON value.
pub(crate) fn literal_json(v: &mut Value) {
    match v {
        Value::String(s) => *s = literal(s),
        Value::Array(items) => items.iter_mut().for_each(literal_json),
        Value::Object(map) => map.values_mut().for_each(literal_json),
        _ => {}
    }
}

/// An absolute URL split into its origin (`http://host:port`, default ports left out) and the
/// rest (`/path?query`, without the fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) origin: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Option<Url> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        // User info in a URL is a credential; it is dropped (and the host kept).
        let host = authority.rsplit('@').next().unwrap_or(authority).to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        let default_port = if scheme == "http" { ":80" } else { ":443" };
        let host = host.strip_suffix(default_port).unwrap_or(&host);
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (tail, None),
        };
        let path = if path.is_empty() { "/".to_string() } else { path.to_string() };
        Some(Url { origin: format!("{scheme}://{host}"), path, query: query.filter(|q| !q.is_empty()) })
    }
}

/// `%41` → `A`, `+` → space (query strings and forms); invalid escapes are kept as written.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters stay).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of a JSON scalar as it goes into a URL or header (`"a"` → `a`, `5` → `5`).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_path() {
        let u = Url::parse("HTTP://User:pw@Example.com:80/a/b?x=1#frag").unwrap();
        assert_eq!(
            u,
            Url { origin: "http://example.com".into(), path: "/a/b".into(), query: Some("x=1".into()) }
        );
        let u = Url::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!((u.origin.as_str(), u.path.as_str(), u.query), ("https://127.0.0.1:8443", "/", None));
        assert!(Url::parse("data:text/plain,hi").is_none());
        assert!(Url::parse("ws://x/").is_none());
    }

    #[test]
    fn secrets_become_one_variable_per_value() {
        let mut s = Secrets::default();
        assert_eq!(
            mask_header(&mut s, "Authorization", "Bearer abc", "GET /me"),
            "Bearer {{ env.AUTH_TOKEN }}"
        );
        assert_eq!(
            mask_header(&mut s, "authorization", "Bearer abc", "GET /you"),
            "Bearer {{ env.AUTH_TOKEN }}"
        );
        assert_eq!(
            mask_header(&mut s, "authorization", "Bearer other", "GET /x"),
            "Bearer {{ env.AUTH_TOKEN_2 }}"
        );
        assert_eq!(mask_header(&mut s, "Cookie", "sid=1; theme=dark", "GET /"), "{{ env.COOKIE }}");
        assert_eq!(mask_header(&mut s, "x-api-key", "k", "GET /"), "{{ env.X_API_KEY }}");
        assert_eq!(
            mask_query(&mut s, "a=1&api_key=k%31&token=&access_token=t", "GET /q"),
            "a=1&api_key={{ env.API_KEY }}&token=&access_token={{ env.ACCESS_TOKEN }}"
        );
        let mut body =
            serde_json::json!({"user": {"name": "a", "password": "pw"}, "n": [{"client_secret": "c"}]});
        mask_json(&mut s, &mut body, "POST /login");
        assert_eq!(body["user"]["password"], "{{ env.PASSWORD }}");
        assert_eq!(body["n"][0]["client_secret"], "{{ env.CLIENT_SECRET }}");
        assert_eq!(body["user"]["name"], "a");
        let header = s.header(|_, _| None).join("\n");
        assert!(
            header.contains(
                "  AUTH_TOKEN     the Bearer credentials of the Authorization header (in GET /me, GET /you)\n"
            ),
            "{header}"
        );
        assert!(!header.contains("abc") && !header.contains("pw"), "{header}");
        assert!(
            !is_secret_header("accept") && is_secret_header("X-CSRF-Token") && is_secret_header("x-auth")
        );
    }

    #[test]
    fn percent_coding() {
        assert_eq!(percent_decode("a%20b+c%zz%4"), "a b c%zz%4");
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn template_braces_are_written_as_literals() {
        assert_eq!(literal("plain"), "plain");
        let written = literal("a {{b}} {{");
        assert_eq!(written, "a {{ '{{' }}b}} {{ '{{' }}");
        let t = stampede_plan::template::Template::compile(&written).unwrap();
        assert_eq!(t.as_literal(), Some("a {{b}} {{"), "the plan sends what was recorded");
    }
}
