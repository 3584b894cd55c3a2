//! OpenAPI 3.0 / 3.1 (JSON or YAML) → plan: every operation once per iteration, in the
//! order the document lists them.
//!
//! Values come from the document wherever it has them: parameter and media-type examples,
//! then schema examples, defaults, consts and enums. Path parameters and required query,
//! header and cookie parameters without any become placeholder variables under `vars:`
//! (shown with a comment, overridable with `-e`); a request body without an example is the
//! smallest instance of its schema. Security schemes become `{{ env.NAME }}` credentials. Each
//! request checks the documented success status. `$ref`s are followed within the document.

use std::fmt;

use anyhow::{Context, bail};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

use super::writer::{Body, Imported, Request, Step, Var};
use super::{Secrets, Skip, Url, literal, literal_json, mask_form, mask_json, percent_encode, scalar_text};

/// The HTTP methods a path item may have, as OpenAPI spells them.
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Where the plan points when the document names no absolute server.
const FALLBACK_TARGET: &str = "http://127.0.0.1:8080";

/// `$ref` chains and schema nesting are followed this deep, which also ends recursive schemas.
const MAX_DEPTH: usize = 16;

pub(crate) fn import(text: &str, source: &str, skip: &Skip) -> anyhow::Result<Imported> {
    let is_json = text.trim_start().starts_with('{');
    let (doc, order): (Value, Order) = if is_json {
        (
            serde_json::from_str(text).context("invalid JSON")?,
            serde_json::from_str(text).context("invalid JSON")?,
        )
    } else {
        (
            serde_saphyr::from_str(text).context("invalid YAML")?,
            serde_saphyr::from_str(text).context("invalid YAML")?,
        )
    };
    let version = match (doc.get("openapi").and_then(Value::as_str), doc.get("swagger")) {
        (Some(v), _) if v.starts_with("3.") => v.to_string(),
        (_, Some(_)) => bail!("this is a Swagger 2.0 document; convert it to OpenAPI 3 first"),
        _ => bail!("not an OpenAPI 3 document: it has no `openapi: 3.x`"),
    };
    let mut cx = Cx { doc: &doc, secrets: Secrets::default(), vars: Vec::new(), warnings: Vec::new() };
    let (target, base, target_comment) = server(&doc);
    let mut plan = Imported {
        name: name_of(&doc, source),
        target,
        target_comment,
        think: Some("1s".into()),
        ..Imported::default()
    };
    let (mut total, mut skipped, mut notes) = (0, 0, Vec::new());
    for (path, methods) in &order.paths.0 {
        let Some(item) = doc.get("paths").and_then(|p| p.get(path)).map(|i| cx.resolve(i)) else { continue };
        for method in methods.0.iter().filter(|m| METHODS.contains(&m.as_str())) {
            let Some(op) = item.get(method) else { continue };
            total += 1;
            let upper = method.to_ascii_uppercase();
            let plain_name = format!("{upper} {path}");
            let op_id = op.get("operationId").and_then(Value::as_str);
            let name = op_id.or_else(|| op.get("summary").and_then(Value::as_str)).unwrap_or(&plain_name);
            let name = name.to_string();
            if skip.skips(&[&name, &plain_name, op_id.unwrap_or("")], path) {
                skipped += 1;
                continue;
            }
            let operation = Operation { path, method: &upper, name: &name, item, op, base: &base };
            let request = cx.request(&operation, &mut notes);
            plan.steps.push(Step::Request(request));
        }
    }
    if plan.steps.is_empty() {
        bail!(if total == 0 {
            "the document has no operations"
        } else {
            "--skip left no operation to import"
        });
    }

    let title = doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("untitled");
    let api_version = doc.pointer("/info/version").and_then(Value::as_str).unwrap_or("");
    let kept = plan.steps.len();
    plan.header = vec![
        format!("Imported from the OpenAPI document {source}: \"{title}\" {api_version} (OpenAPI {version})"),
        format!(
            "by `stampede import openapi`: {kept} of its {total} operations, each once per iteration, in the"
        ),
        "document's order. Parameters and bodies come from its examples (else placeholders under".into(),
        "vars:, and the smallest body its schema allows); each request checks the documented status.".into(),
    ];
    if skipped > 0 {
        plan.header.push(format!("Left out: {skipped} by --skip."));
    }
    let scheme_notes = |_: &str, value: &str| {
        let name = value.strip_prefix("scheme:")?;
        let d = doc.pointer(&format!("/components/securitySchemes/{}", pointer_escape(name)))?;
        d.get("description").and_then(Value::as_str).map(str::to_string)
    };
    if !cx.secrets.is_empty() {
        plan.header.push(String::new());
        plan.header.extend(cx.secrets.header(scheme_notes));
    }
    for note in notes.into_iter().chain(cx.warnings.drain(..)) {
        plan.header.push(format!("Note: {note}"));
    }
    plan.vars = cx.vars;
    Ok(plan)
}

/// One operation and where it is; `'d` is the document's lifetime.
struct Operation<'a, 'd> {
    path: &'a str,
    method: &'a str,
    name: &'a str,
    item: &'d Value,
    op: &'d Value,
    /// The server URL's path, prefixed to every operation path.
    base: &'a str,
}

/// What building requests needs: the document, and what is gathered on the way.
struct Cx<'d> {
    doc: &'d Value,
    secrets: Secrets,
    vars: Vec<Var>,
    warnings: Vec<String>,
}

impl<'d> Cx<'d> {
    /// Follows `$ref`s within the document (`#/components/...`).
    fn resolve<'v>(&self, mut v: &'v Value) -> &'v Value
    where
        'd: 'v,
    {
        for _ in 0..MAX_DEPTH {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else { return v };
            let Some(target) = r.strip_prefix('#').and_then(|p| self.doc.pointer(&super::percent_decode(p)))
            else {
                return v;
            };
            v = target;
        }
        v
    }

    fn request(&mut self, o: &Operation<'_, 'd>, notes: &mut Vec<String>) -> Request {
        let params = self.parameters(o);
        let mut path = String::new();
        let mut rest = o.path;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            path.push_str(&rest[..open]);
            let pname = &rest[open + 1..open + close];
            let param = params
                .iter()
                .copied()
                .find(|p| p.get("in").and_then(Value::as_str) == Some("path") && name(p) == pname);
            path.push_str(&self.param_text(param, pname, o, true));
            rest = &rest[open + close + 1..];
        }
        path.push_str(rest);

        let mut query = Vec::new();
        let mut headers = Vec::new();
        let mut cookies = Vec::new();
        for p in &params {
            let location = p.get("in").and_then(Value::as_str).unwrap_or("");
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            let pname = name(p);
            if !required || location == "path" {
                continue;
            }
            let is_secret = super::is_secret_param(pname) && location != "header"
                || super::is_secret_header(pname) && location == "header";
            let value = if is_secret {
                let what = format!("the {location} parameter {pname}");
                self.secrets.mask(pname, &format!("param:{location}:{pname}"), (&what, o.name))
            } else {
                self.param_text(Some(p), pname, o, location == "query")
            };
            match location {
                "query" => query.push(format!("{}={value}", percent_encode(pname))),
                // OpenAPI ignores header parameters of these names; the plan sets them otherwise.
                "header"
                    if !["accept", "content-type", "authorization"]
                        .contains(&pname.to_ascii_lowercase().as_str()) =>
                {
                    headers.push((pname.to_ascii_lowercase(), value));
                }
                "cookie" => cookies.push(format!("{pname}={value}")),
                _ => {}
            }
        }
        self.security(o, (&mut headers, &mut query, &mut cookies));
        if !cookies.is_empty() {
            headers.push(("cookie".into(), cookies.join("; ")));
        }
        let mut comments = Vec::new();
        let body = self.body(o, &mut headers, &mut comments);
        if let Some(summary) = o.op.get("summary").and_then(Value::as_str).filter(|s| *s != o.name) {
            comments.insert(0, summary.to_string());
        }
        if o.op.get("deprecated").and_then(Value::as_bool) == Some(true) {
            comments.push("deprecated".into());
        }
        if o.op.get("operationId").is_some() || o.op.get("summary").is_some() {
            comments.push(format!("{} {}", o.method, o.path));
        }
        let mut url = format!("{}{path}", o.base);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let status = success_status(self.resolve(o.op.get("responses").unwrap_or(&Value::Null)));
        if status.is_none() {
            notes.push(format!("{} documents no success status; it has no status check", o.name));
        }
        Request {
            comments: vec![comments.join(" · ")].into_iter().filter(|c| !c.is_empty()).collect(),
            name: o.name.to_string(),
            method: o.method.to_string(),
            url,
            headers,
            body,
            status,
        }
    }

    /// The path item's and the operation's parameters (the operation's win), resolved.
    fn parameters(&self, o: &Operation<'_, 'd>) -> Vec<&'d Value> {
        let list = |v: &'d Value| -> Vec<&'d Value> {
            v.get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| self.resolve(p))
                .collect()
        };
        let own = list(o.op);
        let mut out: Vec<&'d Value> = list(o.item)
            .into_iter()
            .filter(|p| !own.iter().any(|q| name(q) == name(p) && q.get("in") == p.get("in")))
            .collect();
        out.extend(own);
        out
    }

    /// A parameter's value as URL or header text: its example, else a placeholder variable.
    fn param_text(&mut self, param: Option<&Value>, pname: &str, o: &Operation, encode: bool) -> String {
        let explicit = param.and_then(|p| self.param_example(p));
        if let Some(text) =
            explicit.as_ref().and_then(scalar_text).or_else(|| explicit.as_ref().map(Value::to_string))
        {
            let text = literal(&text);
            return if encode { percent_encode(&text) } else { text };
        }
        let schema = param.and_then(|p| p.get("schema")).unwrap_or(&Value::Null);
        let value = match self.minimal(schema, 0) {
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => v,
            Value::Null => Value::String("example".into()),
            other => Value::String(other.to_string()),
        };
        let location = param.and_then(|p| p.get("in")).and_then(Value::as_str).unwrap_or("path");
        let comment = format!("{location} parameter `{pname}` of {}: the document gives no example", o.name);
        format!("{{{{ {} }}}}", self.placeholder(pname, value, comment))
    }

    /// Declares a placeholder variable (once per name and value) and returns its name.
    fn placeholder(&mut self, pname: &str, value: Value, comment: String) -> String {
        let mut base: String = pname
            .chars()
            .map(|c| if c.is_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
            .collect();
        if !base.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            base.insert(0, '_');
        }
        let mut var_name = base.clone();
        let mut n = 2;
        loop {
            match self.vars.iter().find(|v| v.name == var_name) {
                Some(v) if v.value == value => return var_name,
                Some(_) => {
                    var_name = format!("{base}_{n}");
                    n += 1;
                }
                None => break,
            }
        }
        self.vars.push(Var { name: var_name.clone(), value, comment });
        var_name
    }

    /// A parameter's own example, or its schema's example, default, const or first enum value.
    fn param_example(&self, p: &Value) -> Option<Value> {
        if let Some(v) = p.get("example") {
            return Some(v.clone());
        }
        if let Some(v) = self.first_example(p.get("examples")) {
            return Some(v);
        }
        if let Some(media) = p.get("content").and_then(Value::as_object).and_then(|c| c.values().next()) {
            return self.media_example(media);
        }
        self.schema_example(p.get("schema")?, 0)
    }

    /// The first value of an `examples:` map (each an Example object or a `$ref` to one).
    fn first_example(&self, examples: Option<&Value>) -> Option<Value> {
        examples?.as_object()?.values().find_map(|e| self.resolve(e).get("value").cloned())
    }

    fn media_example(&self, media: &Value) -> Option<Value> {
        if let Some(v) = media.get("example") {
            return Some(v.clone());
        }
        self.first_example(media.get("examples")).or_else(|| self.schema_example(media.get("schema")?, 0))
    }

    /// A value the schema states outright: `example`, `examples[0]`, `default`, `const`, `enum[0]`.
    fn schema_example(&self, schema: &Value, depth: usize) -> Option<Value> {
        let s = self.resolve(schema);
        if depth > MAX_DEPTH {
            return None;
        }
        s.get("example")
            .or_else(|| s.get("examples").and_then(Value::as_array).and_then(|a| a.first()))
            .or_else(|| s.get("default"))
            .or_else(|| s.get("const"))
            .or_else(|| s.get("enum").and_then(Value::as_array).and_then(|a| a.first()))
            .cloned()
    }

    /// The smallest instance of a schema, preferring values it states outright.
    fn minimal(&self, schema: &Value, depth: usize) -> Value {
        let s = self.resolve(schema);
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(v) = self.schema_example(s, depth) {
            return v;
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            let mut last = Value::Null;
            for part in all {
                match self.minimal(part, depth + 1) {
                    Value::Object(m) => merged.extend(m),
                    other => last = other,
                }
            }
            return if merged.is_empty() { last } else { Value::Object(merged) };
        }
        if let Some(first) = ["oneOf", "anyOf"].iter().find_map(|k| s.get(*k)?.as_array()?.first()) {
            return self.minimal(first, depth + 1);
        }
        let ty = match s.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => {
                ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
            }
            _ if s.get("properties").is_some() => "object",
            _ if s.get("items").is_some() => "array",
            _ => "",
        };
        match ty {
            "object" => {
                let mut out = Map::new();
                let props = s.get("properties").and_then(Value::as_object);
                for req in s
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    let prop = props.and_then(|p| p.get(req)).unwrap_or(&Value::Null);
                    out.insert(req.to_string(), self.minimal(prop, depth + 1));
                }
                Value::Object(out)
            }
            "array" => {
                let n = s.get("minItems").and_then(Value::as_u64).unwrap_or(0).min(3);
                let item = s.get("items").unwrap_or(&Value::Null);
                Value::Array((0..n).map(|_| self.minimal(item, depth + 1)).collect())
            }
            "string" => Value::String(minimal_string(s)),
            "integer" | "number" => minimal_number(s, ty == "integer"),
            "boolean" => Value::Bool(false),
            _ => Value::Null,
        }
    }

    /// Credentials of the operation's first security requirement, as `{{ env.NAME }}`.
    fn security(
        &mut self,
        o: &Operation,
        (headers, query, cookies): (&mut Vec<(String, String)>, &mut Vec<String>, &mut Vec<String>),
    ) {
        let requirement =
            o.op.get("security")
                .or_else(|| self.doc.get("security"))
                .and_then(Value::as_array)
                .and_then(|alternatives| alternatives.first())
                .and_then(Value::as_object);
        let Some(requirement) = requirement else { return };
        for scheme_name in requirement.keys() {
            let pointer = format!("/components/securitySchemes/{}", pointer_escape(scheme_name));
            let Some(scheme) = self.doc.pointer(&pointer).map(|s| self.resolve(s)) else {
                self.warnings.push(format!("security scheme `{scheme_name}` is not defined"));
                continue;
            };
            let key = format!("scheme:{scheme_name}");
            let ty = scheme.get("type").and_then(Value::as_str).unwrap_or("");
            let http_scheme = scheme.get("scheme").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
            let what = format!("security scheme {scheme_name}");
            match (ty, http_scheme.as_str()) {
                ("http", "basic") => {
                    let v = self.secrets.mask(
                        "AUTH_BASIC",
                        &key,
                        (&format!("base64 user:password for {what}"), o.name),
                    );
                    headers.push(("authorization".into(), format!("Basic {v}")));
                }
                ("http", "bearer") | ("oauth2" | "openIdConnect", _) => {
                    let v = self.secrets.mask(
                        "AUTH_TOKEN",
                        &key,
                        (&format!("a bearer token for {what}"), o.name),
                    );
                    headers.push(("authorization".into(), format!("Bearer {v}")));
                }
                ("http", other) => {
                    let v = self.secrets.mask(
                        "AUTH_CREDENTIALS",
                        &key,
                        (&format!("credentials for {what}"), o.name),
                    );
                    let scheme_word = scheme.get("scheme").and_then(Value::as_str).unwrap_or(other);
                    headers.push(("authorization".into(), format!("{scheme_word} {v}")));
                }
                ("apiKey", _) => {
                    let pname = scheme.get("name").and_then(Value::as_str).unwrap_or("api_key");
                    let location = scheme.get("in").and_then(Value::as_str).unwrap_or("header");
                    let v = self.secrets.mask(pname, &key, (&format!("the API key of {what}"), o.name));
                    match location {
                        "query" => query.push(format!("{}={v}", percent_encode(pname))),
                        "cookie" => cookies.push(format!("{pname}={v}")),
                        _ => headers.push((pname.to_ascii_lowercase(), v)),
                    }
                }
                _ => {
                    self.warnings.push(format!("{} needs {what} ({ty}), which a plan cannot express", o.name))
                }
            }
        }
    }

    /// The request body from the first media type a plan can send, with secrets masked.
    fn body(
        &mut self,
        o: &Operation,
        headers: &mut Vec<(String, String)>,
        comments: &mut Vec<String>,
    ) -> Option<Body> {
        let body = self.resolve(o.op.get("requestBody")?);
        let content = body.get("content")?.as_object()?;
        let rank = |t: &str| match t {
            "application/json" => 0,
            t if t.contains("json") => 1,
            "application/x-www-form-urlencoded" => 2,
            "text/plain" => 3,
            t if t.starts_with("text/") => 4,
            _ => 5,
        };
        let (media_type, media) = content.iter().min_by_key(|(t, _)| rank(&t.to_ascii_lowercase()))?;
        let media_type = media_type.to_ascii_lowercase();
        let mut value = self
            .media_example(media)
            .unwrap_or_else(|| self.minimal(media.get("schema").unwrap_or(&Value::Null), 0));
        literal_json(&mut value);
        match rank(&media_type) {
            0 | 1 => {
                if media_type != "application/json" {
                    headers.push(("content-type".into(), media_type.clone()));
                }
                mask_json(&mut self.secrets, &mut value, o.name);
                Some(Body::Json(value))
            }
            2 => {
                let mut fields: Vec<(String, String)> = match &value {
                    Value::Object(map) => map
                        .iter()
                        .map(|(k, v)| (k.clone(), scalar_text(v).unwrap_or_else(|| v.to_string())))
                        .collect(),
                    _ => Vec::new(),
                };
                mask_form(&mut self.secrets, &mut fields, o.name);
                Some(Body::Form(fields))
            }
            _ => match value {
                Value::String(text) => {
                    headers.push(("content-type".into(), media_type));
                    Some(Body::Raw(text))
                }
                _ => {
                    comments.push(format!(
                        "its {media_type} body is left out: the document has no example of it"
                    ));
                    None
                }
            },
        }
    }
}

fn name(p: &Value) -> &str {
    p.get("name").and_then(Value::as_str).unwrap_or("")
}

/// A JSON Pointer token for a map key (`~` and `/` escaped).
fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The documented success status: the lowest 2xx code, else `2XX`, else the lowest 3xx.
fn success_status(responses: &Value) -> Option<String> {
    let codes: Vec<&str> = responses.as_object()?.keys().map(String::as_str).collect();
    let lowest = |class: char| {
        codes
            .iter()
            .filter(|c| c.len() == 3 && c.starts_with(class) && c.bytes().all(|b| b.is_ascii_digit()))
            .min()
            .map(|c| c.to_string())
    };
    lowest('2')
        .or_else(|| codes.iter().any(|c| c.eq_ignore_ascii_case("2XX")).then(|| "2xx".to_string()))
        .or_else(|| lowest('3'))
}

fn minimal_string(s: &Value) -> String {
    let text = match s.get("format").and_then(Value::as_str).unwrap_or("") {
        "date-time" => "2024-01-01T00:00:00Z",
        "date" => "2024-01-01",
        "time" => "00:00:00Z",
        "email" => "user@example.com",
        "uuid" => "00000000-0000-0000-0000-000000000000",
        "uri" | "url" => "https://example.com/",
        "hostname" => "example.com",
        "ipv4" => "127.0.0.1",
        "ipv6" => "::1",
        _ => "string",
    };
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = s.get("maxLength").and_then(Value::as_u64).map_or(usize::MAX, |m| m as usize);
    let mut text = text.to_string();
    while text.len() < min {
        text.push('x');
    }
    text.chars().take(max.max(min)).collect()
}

fn minimal_number(s: &Value, is_integer: bool) -> Value {
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    // 3.0 spells exclusive bounds as booleans beside minimum/maximum; 3.1 as numbers.
    let exclusive_min_flag = s.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
    let step = if is_integer { 1.0 } else { 0.5 };
    let low = match (num("minimum"), num("exclusiveMinimum")) {
        (Some(m), _) if exclusive_min_flag => Some(m + step),
        (_, Some(e)) => Some(e + step),
        (Some(m), None) => Some(m),
        (None, None) => None,
    };
    let mut value = low.unwrap_or(1.0);
    if let Some(max) = num("maximum").or_else(|| num("exclusiveMaximum").map(|m| m - step)) {
        value = value.min(max);
    }
    if is_integer {
        json!(value.ceil() as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// The server: `(target, base path, comment)` from `servers[0]` with its variables filled in.
fn server(doc: &Value) -> (String, String, Option<String>) {
    let Some(first) = doc.get("servers").and_then(Value::as_array).and_then(|s| s.first()) else {
        return (
            FALLBACK_TARGET.into(),
            String::new(),
            Some("the document names no server: set it, or give --target".into()),
        );
    };
    let mut url = first.get("url").and_then(Value::as_str).unwrap_or("/").to_string();
    if let Some(vars) = first.get("variables").and_then(Value::as_object) {
        for (k, v) in vars {
            if let Some(default) = v.get("default").and_then(scalar_text) {
                url = url.replace(&format!("{{{k}}}"), &default);
            }
        }
    }
    let base = |path: &str| path.trim_end_matches('/').to_string();
    match Url::parse(&url) {
        Some(u) => {
            let comment =
                first.get("description").and_then(Value::as_str).map(|d| format!("servers[0]: {d}"));
            (u.origin, base(&u.path), comment)
        }
        None => {
            let path = if url.starts_with('/') { base(&url) } else { String::new() };
            (
                FALLBACK_TARGET.into(),
                path,
                Some(format!("the document's server is `{url}`: set it, or give --target")),
            )
        }
    }
}

/// The plan's name: the document's title, else the file's name.
fn name_of(doc: &Value, source: &str) -> String {
    match doc.pointer("/info/title").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => t.to_string(),
        _ => source.rsplit_once('.').map_or(source, |(s, _)| s).to_string(),
    }
}

/// The order in which the document lists its paths and their methods (a `serde_json::Value`
/// sorts its keys, and a journey's order matters).
#[derive(Default, serde::Deserialize)]
struct Order {
    #[serde(default)]
    paths: Ordered,
}

/// Map keys in document order, each with the keys of its value.
#[derive(Default)]
struct Ordered(Vec<(String, Keys)>);

/// The keys of a mapping in document order (empty for anything else).
#[derive(Default)]
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of paths")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push((key, map.next_value::<Keys>()?));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    out.push(key);
                }
                Ok(Keys(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Keys::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Keys, E> {
                Ok(Keys::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETS: &str = r##"
openapi: 3.0.3
info: { title: pets, version: "2" }
servers:
  - url: "{scheme}://127.0.0.1:9/{base}"
    variables: { scheme: { default: http }, base: { default: v2 } }
security: [{ key: [] }]
paths:
  /pets/{petId}:
    parameters:
      - { name: petId, in: path, required: true, schema: { type: integer, minimum: 1 } }
    get:
      operationId: getPet
      parameters:
        - { name: fields, in: query, required: true, schema: { type: string, enum: [name, all] } }
        - { name: verbose, in: query, schema: { type: boolean } }
        - { name: X-Trace, in: header, required: true, schema: { type: string, format: uuid } }
      responses: { "200": { description: ok }, "404": { description: no } }
    delete:
      summary: Remove a pet
      security: []
      responses: { "204": { description: gone } }
  /pets:
    post:
      operationId: addPet
      requestBody:
        content:
          application/json:
            schema: { $ref: "#/components/schemas/NewPet" }
      responses: { 2XX: { description: ok } }
  /login:
    post:
      operationId: login
      security: [{ basic: [] }]
      requestBody:
        content:
          application/x-www-form-urlencoded:
            example: { user: a, password: secret1 }
      responses: { "302": { description: redirect } }
components:
  securitySchemes:
    key: { type: apiKey, in: header, name: X-API-Key, description: from the dashboard }
    basic: { type: http, scheme: basic }
  schemas:
    NewPet:
      type: object
      required: [name, tags, owner]
      properties:
        name: { type: string, minLength: 8 }
        tags: { type: array, minItems: 1, items: { type: string, default: cute } }
        owner: { allOf: [{ $ref: "#/components/schemas/Owner" }, { type: object, required: [age], properties: { age: { type: integer, exclusiveMinimum: 17 } } }] }
        nickname: { type: string }
    Owner:
      type: object
      required: [email]
      properties: { email: { type: string, format: email } }
"##;

    #[test]
    fn a_yaml_document_becomes_a_plan_in_document_order() {
        let plan = import(PETS, "pets.yaml", &Skip(&[])).unwrap();
        let yaml = plan.to_yaml();
        let names: Vec<&str> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Request(r) => Some(r.name.as_str()),
                Step::Think(..) => None,
            })
            .collect();
        assert_eq!(names, ["getPet", "Remove a pet", "addPet", "login"], "{yaml}");
        for needle in [
            "name: pets",
            "target: http://127.0.0.1:9",
            "url: \"/v2/pets/{{ petId }}?fields=name\"",
            "  petId: 1",
            "x-trace: \"{{ X-Trace }}\"",
            "x-api-key: \"{{ env.X_API_KEY }}\"",
            "X_API_KEY   the API key of security scheme key (in getPet, addPet); from the dashboard",
            "authorization: \"Basic {{ env.AUTH_BASIC }}\"",
            "password: \"{{ env.PASSWORD }}\"",
            "check: { status: 200 }",
            "check: { status: 204 }",
            "check: { status: \"2xx\" }",
            "check: { status: 302 }",
            "method: DELETE",
            "# GET /pets/{petId}",
            "name: stringxx",
            "tags: [cute]",
            "email: user@example.com",
            "age: 18",
        ] {
            assert!(yaml.contains(needle), "missing {needle:?}:\n{yaml}");
        }
        assert!(
            !yaml.contains("secret1") && !yaml.contains("verbose") && !yaml.contains("nickname"),
            "{yaml}"
        );
        let filled = yaml
            .replace("{{ env.X_API_KEY }}", "k")
            .replace("{{ env.AUTH_BASIC }}", "b")
            .replace("{{ env.PASSWORD }}", "p");
        let loaded = stampede_plan::parse(&filled, "pets.yaml", &Default::default());
        assert!(loaded.is_ok(), "{}\n{filled}", loaded.unwrap_err());
    }

    #[test]
    fn skip_and_bad_documents() {
        let plan = import(PETS, "pets.yaml", &Skip(&["getPet".into(), "/login".into()])).unwrap();
        assert_eq!(plan.steps.len(), 2);
        assert!(plan.to_yaml().contains("Left out: 2 by --skip."));
        assert!(
            import("swagger: '2.0'", "s.yaml", &Skip(&[])).unwrap_err().to_string().contains("Swagger 2.0")
        );
        assert!(import("{\"openapi\": \"3.1.0\", \"paths\": {}}", "e.json", &Skip(&[])).is_err());
    }
}
