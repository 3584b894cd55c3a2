//! HAR (HTTP Archive 1.2) → plan: the requests a browser made, in the order they started,
//! with the pauses between them.
//!
//! What is kept and what is not, and why:
//! * Requests without a response (status 0: blocked, cancelled) and non-HTTP URLs (`data:`,
//!   extensions) are left out: there is nothing to replay or to check.
//! * Headers are kept except those the client sets itself or that would make the replay lie:
//!   hop-by-hop and framing headers, `accept-encoding` (stampede does not decompress, so a
//!   compressed answer would fail body checks), `user-agent` (stampede names itself),
//!   `referer` (it can carry tokens in its query) and the browser's `sec-*` hints.
//! * Each request checks the status the browser got, so a replay that goes wrong shows.
//! * Pauses come from the gaps between one request's start and the end of every request
//!   before it, when over 100 ms (shorter gaps are the browser's own work), capped at 10 s so
//!   that a recording left open over lunch still replays in useful time.

use anyhow::{Context, bail};
use serde_json::Value;

use super::writer::{Body, Imported, Request, Step};
use super::{
    Secrets, Skip, Url, literal, literal_json, mask_form, mask_header, mask_json, mask_query, percent_decode,
};

/// Gaps shorter than this are not pauses a user made.
const MIN_THINK_MS: f64 = 100.0;
/// The longest pause written.
const MAX_THINK_MS: f64 = 10_000.0;

/// Request headers never written to the plan (lowercase); `sec-` and `:` prefixes too.
const DROPPED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "accept-encoding",
    "user-agent",
    "referer",
    "upgrade-insecure-requests",
    "priority",
    "purpose",
];

/// One recorded exchange, as far as the plan needs it.
struct Entry {
    start_ms: f64,
    time_ms: f64,
    method: String,
    url: Url,
    headers: Vec<(String, String)>,
    post: Option<PostData>,
    status: u16,
    /// The response body, when it is JSON (to say where a masked token came from).
    response_json: Option<Value>,
}

struct PostData {
    mime: String,
    text: String,
    params: Vec<(String, String)>,
}

pub(crate) fn import(text: &str, source: &str, skip: &Skip) -> anyhow::Result<Imported> {
    let har: Value = serde_json::from_str(text).context("a HAR file is JSON")?;
    let Some(raw_entries) = har.pointer("/log/entries").and_then(Value::as_array) else {
        bail!("not a HAR file: it has no log.entries");
    };
    let mut entries = Vec::new();
    let (mut no_response, mut not_http) = (0, 0);
    for (i, e) in raw_entries.iter().enumerate() {
        match entry(e).with_context(|| format!("entry {i}"))? {
            Read::Entry(entry) => entries.push(*entry),
            Read::NoResponse => no_response += 1,
            Read::NotHttp => not_http += 1,
        }
    }
    if entries.is_empty() {
        bail!("the recording has no HTTP request with a response");
    }
    entries.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let target = most_frequent_origin(&entries);

    let mut plan = Imported {
        name: name_of(source),
        target: target.clone(),
        think: Some("1s".into()),
        ..Imported::default()
    };
    let mut secrets = Secrets::default();
    let mut skipped = 0;
    let mut busy_until: Option<f64> = None;
    for e in &entries {
        let on_target = e.url.origin == target;
        let shown =
            if on_target { e.url.path.clone() } else { format!("{}{}", host_of(&e.url.origin), e.url.path) };
        let name = format!("{} {shown}", e.method);
        if skip.skips(&[&name], &e.url.path) {
            skipped += 1;
            continue;
        }
        if let Some(until) = busy_until {
            let idle = e.start_ms - until;
            if idle >= MIN_THINK_MS {
                let (ms, comment) = if idle > MAX_THINK_MS {
                    (MAX_THINK_MS, Some(format!("recorded {:.1}s, capped", idle / 1000.0)))
                } else {
                    (idle.round(), None)
                };
                plan.steps.push(Step::Think(format!("{ms}ms"), comment));
            }
        }
        let end = e.start_ms + e.time_ms.max(0.0);
        busy_until = Some(busy_until.map_or(end, |u: f64| u.max(end)));
        plan.steps.push(Step::Request(request(e, (&name, on_target), &mut secrets)));
    }
    if !plan.steps.iter().any(|s| matches!(s, Step::Request(_))) {
        bail!("--skip left no request to import");
    }
    hoist_common_headers(&mut plan);

    let creator = har.pointer("/log/creator/name").and_then(Value::as_str).unwrap_or("unknown");
    let version = har.pointer("/log/creator/version").and_then(Value::as_str).unwrap_or("");
    let kept = plan.steps.iter().filter(|s| matches!(s, Step::Request(_))).count();
    plan.header = vec![
        format!("Imported from the browser recording {source} (HAR, made by {creator} {version})"),
        format!(
            "by `stampede import har`: {kept} of {} recorded requests, in the order they started, with",
            raw_entries.len()
        ),
        "the pauses between them (gaps over 100ms, at most 10s). Each checks the recorded status.".into(),
    ];
    let mut left_out = Vec::new();
    if no_response > 0 {
        left_out.push(format!("{no_response} without a response"));
    }
    if not_http > 0 {
        left_out.push(format!("{not_http} not http(s)"));
    }
    if skipped > 0 {
        left_out.push(format!("{skipped} by --skip"));
    }
    if !left_out.is_empty() {
        plan.header.push(format!("Left out: {}.", left_out.join(", ")));
    }
    plan.header.push(
        "Headers not kept: host, content-length and hop-by-hop ones, accept-encoding (stampede does not"
            .into(),
    );
    plan.header.push("decompress), user-agent (stampede names itself), referer, sec-* browser hints.".into());
    if !secrets.is_empty() {
        plan.header.push(String::new());
        plan.header.extend(secrets.header(|_, value| issued_by(&entries, value)));
    }
    Ok(plan)
}

enum Read {
    Entry(Box<Entry>),
    NoResponse,
    NotHttp,
}

fn entry(e: &Value) -> anyhow::Result<Read> {
    let request = e.get("request").context("no request")?;
    let url_text = request.get("url").and_then(Value::as_str).context("no request.url")?;
    let Some(url) = Url::parse(url_text) else { return Ok(Read::NotHttp) };
    let status = e.pointer("/response/status").and_then(Value::as_u64).unwrap_or(0);
    let Some(status) = u16::try_from(status).ok().filter(|s| (100..=599).contains(s)) else {
        return Ok(Read::NoResponse);
    };
    let started = e.get("startedDateTime").and_then(Value::as_str).context("no startedDateTime")?;
    let start_ms =
        parse_rfc3339_ms(started).with_context(|| format!("startedDateTime `{started}` is not a date"))?;
    let method =
        request.get("method").and_then(Value::as_str).context("no request.method")?.to_ascii_uppercase();
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in request.get("headers").and_then(Value::as_array).into_iter().flatten() {
        let (Some(name), Some(value)) =
            (h.get("name").and_then(Value::as_str), h.get("value").and_then(Value::as_str))
        else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        if name.starts_with(':') || name.starts_with("sec-") || DROPPED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        // HTTP/2 may split cookies over several headers; a plan has one value per name.
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(if name == "cookie" { "; " } else { ", " });
                v.push_str(value);
            }
            None => headers.push((name, value.to_string())),
        }
    }
    let post = request.get("postData").map(|p| PostData {
        mime: p.get("mimeType").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase(),
        text: p.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
        params: p
            .get("params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| {
                let name = x.get("name")?.as_str()?;
                Some((name.to_string(), x.get("value").and_then(Value::as_str).unwrap_or("").to_string()))
            })
            .collect(),
    });
    let response_json = e
        .pointer("/response/content/text")
        .and_then(Value::as_str)
        .filter(|_| e.pointer("/response/content/encoding").is_none())
        .and_then(|t| serde_json::from_str(t).ok());
    Ok(Read::Entry(Box::new(Entry {
        start_ms,
        time_ms: e.get("time").and_then(Value::as_f64).unwrap_or(0.0),
        method,
        url,
        headers,
        post,
        status,
        response_json,
    })))
}

/// The plan's request for one entry; `(name, on_target)`: its name and whether its URL is
/// written relative to the target.
fn request(e: &Entry, (name, on_target): (&str, bool), secrets: &mut Secrets) -> Request {
    let query = e.url.query.as_deref().map(|q| mask_query(secrets, &literal(q), name));
    let path = literal(&e.url.path);
    let mut url = if on_target { path } else { format!("{}{path}", e.url.origin) };
    if let Some(q) = query {
        url.push('?');
        url.push_str(&q);
    }
    let body = e.post.as_ref().and_then(|p| body(p, secrets, name));
    let mut headers = Vec::new();
    for (header, value) in &e.headers {
        let is_implied_type = header == "content-type"
            && match &body {
                Some(Body::Json(_)) => value.to_ascii_lowercase().starts_with("application/json"),
                Some(Body::Form(_)) => {
                    value.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
                }
                _ => false,
            };
        if is_implied_type {
            continue;
        }
        let value = if super::is_secret_header(header) {
            mask_header(secrets, header, value, name)
        } else {
            literal(value)
        };
        headers.push((header.clone(), value));
    }
    Request {
        comments: Vec::new(),
        name: name.to_string(),
        method: e.method.clone(),
        url,
        headers,
        body,
        status: Some(e.status.to_string()),
    }
}

/// The recorded body as `json:`, `form:` or `body:`, with secrets masked.
fn body(p: &PostData, secrets: &mut Secrets, request: &str) -> Option<Body> {
    if p.mime.contains("json") {
        if let Ok(mut v) = serde_json::from_str::<Value>(&p.text) {
            literal_json(&mut v);
            mask_json(secrets, &mut v, request);
            return Some(Body::Json(v));
        }
    }
    if p.mime.starts_with("application/x-www-form-urlencoded") {
        let mut fields: Vec<(String, String)> = if p.params.is_empty() {
            p.text
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect()
        } else {
            p.params.iter().map(|(k, v)| (percent_decode(k), percent_decode(v))).collect()
        };
        for (_, v) in fields.iter_mut() {
            *v = literal(v);
        }
        mask_form(secrets, &mut fields, request);
        return Some(Body::Form(fields));
    }
    (!p.text.is_empty()).then(|| Body::Raw(literal(&p.text)))
}

/// Headers every request sends with the same value move to `defaults.headers`.
fn hoist_common_headers(plan: &mut Imported) {
    let requests = || {
        plan.steps.iter().filter_map(|s| match s {
            Step::Request(r) => Some(r),
            Step::Think(..) => None,
        })
    };
    let (Some(first), true) = (requests().next(), requests().count() >= 2) else { return };
    let common: Vec<(String, String)> =
        first.headers.iter().filter(|h| requests().all(|r| r.headers.contains(h))).cloned().collect();
    for step in &mut plan.steps {
        if let Step::Request(r) = step {
            r.headers.retain(|h| !common.contains(h));
        }
    }
    plan.default_headers = common;
}

/// The origin most requests went to; the first one seen on a tie.
fn most_frequent_origin(entries: &[Entry]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for e in entries {
        match counts.iter_mut().find(|(o, _)| *o == e.url.origin) {
            Some((_, n)) => *n += 1,
            None => counts.push((&e.url.origin, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    counts.iter().find(|(_, n)| *n == best).map_or_else(String::new, |(o, _)| o.to_string())
}

fn host_of(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, h)| h)
}

/// The plan's name: the file name without extension.
fn name_of(source: &str) -> String {
    let stem = source.rsplit_once('.').map_or(source, |(s, _)| s);
    if stem.is_empty() { "imported".into() } else { stem.to_string() }
}

/// Where a masked value was handed out: the first response whose JSON body holds it.
fn issued_by(entries: &[Entry], value: &str) -> Option<String> {
    entries.iter().find_map(|e| {
        let path = json_path_of(e.response_json.as_ref()?, value, "$".into())?;
        Some(format!("issued by {} {} (response {path})", e.method, e.url.path))
    })
}

fn json_path_of(v: &Value, needle: &str, at: String) -> Option<String> {
    match v {
        Value::String(s) if s == needle => Some(at),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let step = if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                format!("{at}.{k}")
            } else {
                format!("{at}[{}]", Value::String(k.clone()))
            };
            json_path_of(v, needle, step)
        }),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| json_path_of(v, needle, format!("{at}[{i}]")))
        }
        _ => None,
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 / ISO 8601 date-time such as
/// `2024-05-01T10:00:00.123Z` or `...+02:00` (what HAR's `startedDateTime` holds).
fn parse_rfc3339_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) =
        (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let mut c = clock.splitn(3, ':');
    let (h, min): (i64, i64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let secs: f64 = c.next().unwrap_or("0").parse().ok()?;
    let offset_min = match zone.chars().next() {
        None | Some('Z' | 'z') => 0,
        Some(sign) => {
            let (oh, om) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
            let minutes = oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?;
            if sign == '-' { -minutes } else { minutes }
        }
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let minutes = days * 1440 + h * 60 + min - offset_min;
    Some(minutes as f64 * 60_000.0 + secs * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_parse_to_epoch_milliseconds() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339_ms("2024-02-29T12:30:15.250Z"), Some(1_709_209_815_250.0));
        assert_eq!(parse_rfc3339_ms("2024-02-29T14:30:15.250+02:00"), Some(1_709_209_815_250.0));
        assert_eq!(parse_rfc3339_ms("2024-02-29T11:30:15.250-01:00"), Some(1_709_209_815_250.0));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    fn har(entries: Value) -> String {
        json!({ "log": { "version": "1.2", "creator": { "name": "test", "version": "1" }, "entries": entries } })
            .to_string()
    }

    fn entry(start: &str, method: &str, url: &str, extra: Value) -> Value {
        let mut e = json!({
            "startedDateTime": start,
            "time": 20.0,
            "request": { "method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": [
                { "name": "Host", "value": "x" }, { "name": "Accept", "value": "application/json" },
                { "name": "User-Agent", "value": "Mozilla" }, { "name": "sec-ch-ua", "value": "x" } ] },
            "response": { "status": 200, "headers": [], "content": { "mimeType": "application/json", "text": "{}" } }
        });
        if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                match (k.as_str(), v) {
                    ("headers", Value::Array(h)) => {
                        e["request"]["headers"].as_array_mut().unwrap().extend(h.iter().cloned());
                    }
                    ("postData", v) => e["request"]["postData"] = v.clone(),
                    ("status", v) => e["response"]["status"] = v.clone(),
                    ("response", v) => e["response"]["content"]["text"] = v.clone(),
                    _ => panic!("{k}"),
                }
            }
        }
        e
    }

    #[test]
    fn a_recording_becomes_a_plan_that_loads() {
        let text = har(json!([
            entry("2024-01-01T00:00:00.000Z", "GET", "http://127.0.0.1:9/health", json!({})),
            entry(
                "2024-01-01T00:00:01.520Z",
                "POST",
                "http://127.0.0.1:9/auth/login",
                json!({
                    "postData": { "mimeType": "application/json", "text": "{\"username\":\"a\",\"password\":\"pw\"}" },
                    "headers": [{ "name": "Content-Type", "value": "application/json" }],
                    "response": "{\"token\":\"tok.123\"}"
                })
            ),
            entry(
                "2024-01-01T00:00:01.550Z",
                "GET",
                "http://127.0.0.1:9/api/v1/me?api_key=k1&x=1",
                json!({
                    "headers": [{ "name": "Authorization", "value": "Bearer tok.123" }], "status": 401
                })
            ),
            entry(
                "2024-01-01T00:00:50.000Z",
                "POST",
                "http://127.0.0.1:9/form",
                json!({
                    "postData": { "mimeType": "application/x-www-form-urlencoded", "text": "a=1+2&token=s%3D" }
                })
            ),
            entry("2024-01-01T00:00:50.100Z", "GET", "https://cdn.example/app.js", json!({})),
            entry("2024-01-01T00:00:50.200Z", "GET", "data:text/plain,x", json!({})),
            entry("2024-01-01T00:00:50.300Z", "GET", "http://127.0.0.1:9/blocked", json!({ "status": 0 })),
        ]));
        let plan = import(&text, "rec.har", &Skip(&["/form".to_string()])).unwrap();
        let yaml = plan.to_yaml();
        for secret in ["tok.123", "pw", "k1", "s%3D"] {
            assert!(!yaml.contains(secret), "{secret} written in clear:\n{yaml}");
        }
        for needle in [
            "target: http://127.0.0.1:9",
            "name: GET /health",
            "think: 1500ms",
            "password: \"{{ env.PASSWORD }}\"",
            "authorization: \"Bearer {{ env.AUTH_TOKEN }}\"",
            "url: \"/api/v1/me?api_key={{ env.API_KEY }}&x=1\"",
            "check: { status: 401 }",
            "url: https://cdn.example/app.js",
            "name: GET cdn.example/app.js",
            "issued by POST /auth/login (response $.token)",
            "Left out: 1 without a response, 1 not http(s), 1 by --skip.",
            "    accept: application/json",
        ] {
            assert!(yaml.contains(needle), "missing {needle:?}:\n{yaml}");
        }
        assert!(
            !yaml.contains("Mozilla") && !yaml.contains("sec-ch-ua") && !yaml.contains("content-type"),
            "{yaml}"
        );
        assert!(
            yaml.contains("- think: 10000ms   # recorded 48.5s, capped"),
            "long gaps are capped:\n{yaml}"
        );
        // With the secrets given, the plan loads.
        let opts = stampede_plan::LoadOptions::default();
        let unset = stampede_plan::parse(&yaml, "rec.yaml", &opts).unwrap_err().to_string();
        assert!(unset.contains("environment variable `AUTH_TOKEN` is not set"), "{unset}");
        let filled = yaml
            .replace("{{ env.AUTH_TOKEN }}", "t")
            .replace("{{ env.PASSWORD }}", "p")
            .replace("{{ env.API_KEY }}", "k");
        let loaded = stampede_plan::parse(&filled, "rec.yaml", &opts).unwrap();
        assert_eq!(
            loaded.scenarios[0].steps().filter(|s| matches!(s, stampede_plan::Step::Http(_))).count(),
            4
        );
    }

    #[test]
    fn not_a_har_file_is_an_error() {
        assert!(import("{}", "x.har", &Skip(&[])).unwrap_err().to_string().contains("no log.entries"));
        assert!(import("nope", "x.har", &Skip(&[])).is_err());
    }
}
