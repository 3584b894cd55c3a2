//! `GET /openapi.json`: the demo's own OpenAPI 3.1 document, so that `stampede import openapi`
//! has a real document to read, and a test can hold every documented example and schema
//! against the live service.
//!
//! The document is written out by hand beside the handlers in `app` and must change with
//! them. Its `servers` entry is the address the request came in on (the `Host` header), so a
//! document fetched from a demo on a random port points back at that port.

use axum::http::HeaderMap;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::{DEMO_PASSWORD, TOKEN_TTL_SECS};

/// Where the document says the service is when the request names no host.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Serves the document, with the request's own host as its server.
pub(crate) async fn serve(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        // A host is `name[:port]`; anything else is not echoed into the document.
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)));
    let server = host.map_or_else(|| DEFAULT_SERVER.to_string(), |h| format!("http://{h}"));
    ([(header::CONTENT_TYPE, "application/json")], to_ordered_json(&document(&server))).into_response()
}

/// The order the paths are written in: a reader's order, which is also the journey
/// `stampede import openapi` makes of them (a `serde_json::Value` would sort them).
const PATH_ORDER: [&str; 12] = [
    "/",
    "/health",
    "/openapi.json",
    "/api/v1/tools",
    "/api/v1/tools/{name}",
    "/auth/login",
    "/api/v1/me",
    "/calls/outbound",
    "/status/{code}",
    "/bytes/{n}",
    "/echo",
    "/admin/stall",
];

/// The top-level keys, in the order OpenAPI documents usually have them.
const TOP_ORDER: [&str; 6] = ["openapi", "info", "servers", "tags", "paths", "components"];

/// The document as JSON text with its top-level keys and its paths in [`TOP_ORDER`] and
/// [`PATH_ORDER`]; everything below a path item is written as `serde_json` writes it.
fn to_ordered_json(doc: &Value) -> String {
    let entry = |key: &str, value: &Value| format!("{}:{value}", Value::String(key.to_string()));
    let paths = &doc["paths"];
    let ordered_paths: Vec<String> =
        PATH_ORDER.iter().filter_map(|p| paths.get(*p).map(|item| entry(p, item))).collect();
    let top: Vec<String> = TOP_ORDER
        .iter()
        .filter_map(|k| match *k {
            "paths" => Some(format!("\"paths\":{{{}}}", ordered_paths.join(","))),
            k => doc.get(k).map(|v| entry(k, v)),
        })
        .collect();
    format!("{{{}}}", top.join(","))
}

/// Every path item takes the chaos knobs of the middleware in front of all routes.
fn knobs() -> Value {
    json!([
        { "$ref": "#/components/parameters/delay" },
        { "$ref": "#/components/parameters/fail" },
        { "$ref": "#/components/parameters/fail_status" }
    ])
}

/// A JSON response of the given schema.
fn json_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

/// The OpenAPI document of the demo, served at `server`.
pub(crate) fn document(server: &str) -> Value {
    let error = |description: &str| json_response(description, "Error");
    let injected = json!({ "$ref": "#/components/responses/Injected" });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "stampede demo target",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A small service to point load tests at: a health check, a paginated tool catalog, a login that hands out bearer tokens, an authenticated endpoint and a rate-limited POST. Every endpoint takes ?delay= (added latency) and ?fail= (injected failures).",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "servers": [{ "url": server, "description": "this demo target" }],
        "tags": [
            { "name": "system", "description": "Liveness and this document" },
            { "name": "catalog", "description": "The tool catalog" },
            { "name": "auth", "description": "Bearer tokens" },
            { "name": "calls", "description": "A rate-limited POST" },
            { "name": "testing", "description": "Knobs for testing load tools" }
        ],
        "paths": {
            "/": {
                "parameters": knobs(),
                "get": {
                    "operationId": "index",
                    "summary": "List the endpoints, as text",
                    "tags": ["system"],
                    "responses": {
                        "200": {
                            "description": "The endpoint list",
                            "content": { "text/plain": { "schema": { "type": "string" } } }
                        },
                        "default": injected
                    }
                }
            },
            "/health": {
                "parameters": knobs(),
                "get": {
                    "operationId": "health",
                    "summary": "Liveness: status, uptime and the server's clock",
                    "tags": ["system"],
                    "responses": {
                        "200": json_response("The service is up", "Health"),
                        "default": injected
                    }
                }
            },
            "/api/v1/tools": {
                "parameters": knobs(),
                "get": {
                    "operationId": "listTools",
                    "summary": "List the tool catalog, optionally filtered",
                    "tags": ["catalog"],
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "description": "Most tools returned; larger values are cut to 100.",
                            "schema": { "type": "integer", "minimum": 0, "default": 20 },
                            "example": 20
                        },
                        {
                            "name": "q",
                            "in": "query",
                            "description": "Case-insensitive substring of a tool's name, category or description.",
                            "schema": { "type": "string" },
                            "example": "load"
                        }
                    ],
                    "responses": {
                        "200": json_response("The matching tools (at most `limit`) and how many matched", "ToolList"),
                        "400": error("`limit` is not a whole number"),
                        "default": injected
                    }
                }
            },
            "/api/v1/tools/{name}": {
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": true,
                        "description": "The tool's name.",
                        "schema": { "type": "string" },
                        "example": "curl"
                    },
                    { "$ref": "#/components/parameters/delay" },
                    { "$ref": "#/components/parameters/fail" },
                    { "$ref": "#/components/parameters/fail_status" }
                ],
                "get": {
                    "operationId": "getTool",
                    "summary": "One tool of the catalog",
                    "tags": ["catalog"],
                    "responses": {
                        "200": json_response("The tool", "Tool"),
                        "404": error("No tool has this name"),
                        "default": injected
                    }
                }
            },
            "/auth/login": {
                "parameters": knobs(),
                "post": {
                    "operationId": "login",
                    "summary": "Log in: any username with the password \"demo\" gets a bearer token",
                    "tags": ["auth"],
                    "requestBody": {
                        "required": true,
                        "description": "Read as JSON whatever the content type.",
                        "content": {
                            "application/json": {
                                "schema": { "$ref": "#/components/schemas/LoginRequest" },
                                "example": { "username": "alice", "password": DEMO_PASSWORD }
                            }
                        }
                    },
                    "responses": {
                        "200": json_response("A token for `Authorization: Bearer <token>`", "LoginResponse"),
                        "400": error("The body is not the expected JSON"),
                        "401": error("Wrong password, or a username that is empty, too long or not printable ASCII"),
                        "default": injected
                    }
                }
            },
            "/api/v1/me": {
                "parameters": knobs(),
                "get": {
                    "operationId": "getMe",
                    "summary": "Who the bearer token belongs to",
                    "tags": ["auth"],
                    "security": [{ "bearerAuth": [] }],
                    "responses": {
                        "200": json_response("The token's user", "Me"),
                        "401": {
                            "description": "No token, or an invalid or expired one",
                            "headers": {
                                "WWW-Authenticate": {
                                    "description": "`Bearer realm=\"stampede-demo\"`, with `error=\"invalid_token\"` when a token was given",
                                    "schema": { "type": "string" }
                                }
                            },
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                        },
                        "default": injected
                    }
                }
            },
            "/calls/outbound": {
                "parameters": knobs(),
                "post": {
                    "operationId": "createOutboundCall",
                    "summary": "Queue an outbound call; rate limited per client",
                    "description": "Clients are told apart by the `x-client-id` header, else the bearer token, else the peer address. Over the limit (default 20/s), the answer is 429 with `Retry-After`.",
                    "tags": ["calls"],
                    "parameters": [{
                        "name": "x-client-id",
                        "in": "header",
                        "description": "Names the client the rate limit counts against.",
                        "schema": { "type": "string" }
                    }],
                    "requestBody": {
                        "required": true,
                        "description": "Read as JSON whatever the content type.",
                        "content": {
                            "application/json": {
                                "schema": { "$ref": "#/components/schemas/OutboundCall" },
                                "example": { "to": "+15550100" }
                            }
                        }
                    },
                    "responses": {
                        "201": {
                            "description": "The call is queued",
                            "headers": rate_limit_headers(),
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Call" } } }
                        },
                        "400": error("The body is not JSON, or has no `to`"),
                        "429": {
                            "description": "Over the rate limit",
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds until the client's window resets",
                                    "schema": { "type": "integer", "minimum": 0 }
                                },
                                "RateLimit-Limit": { "$ref": "#/components/headers/RateLimit-Limit" },
                                "RateLimit-Remaining": { "$ref": "#/components/headers/RateLimit-Remaining" },
                                "RateLimit-Reset": { "$ref": "#/components/headers/RateLimit-Reset" }
                            },
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RateLimited" } } }
                        },
                        "default": injected
                    }
                }
            },
            "/status/{code}": {
                "parameters": [
                    {
                        "name": "code",
                        "in": "path",
                        "required": true,
                        "description": "The status to answer with.",
                        "schema": { "type": "integer", "minimum": 200, "maximum": 599 },
                        "example": 200
                    },
                    { "$ref": "#/components/parameters/delay" },
                    { "$ref": "#/components/parameters/fail" },
                    { "$ref": "#/components/parameters/fail_status" }
                ],
                "get": {
                    "operationId": "getStatus",
                    "summary": "Answer with the status asked for",
                    "tags": ["testing"],
                    "responses": status_responses()
                },
                "post": {
                    "operationId": "postStatus",
                    "summary": "Answer with the status asked for (the body is ignored)",
                    "tags": ["testing"],
                    "responses": status_responses()
                }
            },
            "/bytes/{n}": {
                "parameters": [
                    {
                        "name": "n",
                        "in": "path",
                        "required": true,
                        "description": "How many bytes (at most 10 MiB).",
                        "schema": { "type": "integer", "minimum": 0, "maximum": 10_485_760 },
                        "example": 1024
                    },
                    { "$ref": "#/components/parameters/delay" },
                    { "$ref": "#/components/parameters/fail" },
                    { "$ref": "#/components/parameters/fail_status" }
                ],
                "get": {
                    "operationId": "getBytes",
                    "summary": "A body of n bytes, streamed with a Content-Length",
                    "tags": ["testing"],
                    "responses": {
                        "200": {
                            "description": "n printable bytes",
                            "content": { "application/octet-stream": { "schema": { "type": "string" } } }
                        },
                        "400": json_response("n is not a whole number up to 10 MiB", "Error"),
                        "default": injected
                    }
                }
            },
            "/echo": {
                "parameters": knobs(),
                "post": {
                    "operationId": "echo",
                    "summary": "Echo the body with its content type",
                    "tags": ["testing"],
                    "requestBody": {
                        "required": true,
                        "content": {
                            "text/plain": { "schema": { "type": "string" }, "example": "hello" },
                            "application/json": { "schema": {}, "example": { "hello": "world" } },
                            "application/octet-stream": { "schema": { "type": "string" } }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "The body as sent, with the request's content type (application/octet-stream if none)",
                            "content": {
                                "text/plain": { "schema": { "type": "string" } },
                                "application/json": { "schema": {} },
                                "application/octet-stream": { "schema": { "type": "string" } }
                            }
                        },
                        "default": injected
                    }
                }
            },
            "/admin/stall": {
                "parameters": knobs(),
                "post": {
                    "operationId": "stall",
                    "summary": "Hold every other request until the stall ends",
                    "description": "For testing that a load tool does not hide a stalled target (coordinated omission). A shorter stall never cuts a longer one short.",
                    "tags": ["testing"],
                    "parameters": [{
                        "name": "for",
                        "in": "query",
                        "description": "How long (default 1s, at most 60s).",
                        "schema": { "$ref": "#/components/schemas/Duration", "default": "1s" },
                        "example": "2s"
                    }],
                    "responses": {
                        "200": json_response("The stall is in force", "Stall"),
                        "400": error("`for` is not a duration"),
                        "default": injected
                    }
                }
            },
            "/openapi.json": {
                "parameters": knobs(),
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "tags": ["system"],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document, with this server's address",
                            "content": { "application/json": { "schema": { "type": "object" } } }
                        },
                        "default": injected
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from POST /auth/login (`$.token`), valid for an hour."
                }
            },
            "parameters": {
                "delay": {
                    "name": "delay",
                    "in": "query",
                    "description": "Latency added before answering (at most 60s).",
                    "schema": { "$ref": "#/components/schemas/Duration" }
                },
                "fail": {
                    "name": "fail",
                    "in": "query",
                    "description": "Fraction of requests answered with `fail_status` instead.",
                    "schema": { "type": "number", "minimum": 0, "maximum": 1 }
                },
                "fail_status": {
                    "name": "fail_status",
                    "in": "query",
                    "description": "The status of injected failures (default 500).",
                    "schema": { "type": "integer", "minimum": 200, "maximum": 599, "default": 500 }
                }
            },
            "headers": {
                "RateLimit-Limit": {
                    "description": "Requests allowed per window (also sent as X-RateLimit-Limit)",
                    "schema": { "type": "integer", "minimum": 0 }
                },
                "RateLimit-Remaining": {
                    "description": "Requests left in the current window (also X-RateLimit-Remaining)",
                    "schema": { "type": "integer", "minimum": 0 }
                },
                "RateLimit-Reset": {
                    "description": "Seconds until the window resets (also X-RateLimit-Reset)",
                    "schema": { "type": "integer", "minimum": 0 }
                }
            },
            "responses": {
                "Injected": {
                    "description": "An injected failure (`?fail=`, with `fail_status`), or 400 for a malformed `delay`, `fail` or `fail_status`",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            },
            "schemas": {
                "Duration": {
                    "type": "string",
                    "description": "A duration like 50ms, 1.5s or 2m.",
                    "examples": ["50ms", "1.5s"]
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": { "type": "string", "description": "A machine-readable code such as not_found or invalid_query." },
                        "detail": { "type": "string" }
                    },
                    "examples": [{ "error": "not_found" }]
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "service", "uptime", "timestamp"],
                    "properties": {
                        "status": { "const": "ok" },
                        "service": { "type": "string", "examples": ["stampede-demo"] },
                        "uptime": { "type": "number", "minimum": 0, "description": "Seconds since the server started." },
                        "timestamp": { "type": "string", "format": "date-time" }
                    },
                    "additionalProperties": false
                },
                "Tool": {
                    "type": "object",
                    "required": ["name", "version", "category", "enabled", "description"],
                    "properties": {
                        "name": { "type": "string", "examples": ["curl"] },
                        "version": { "type": "string", "examples": ["8.11.1"] },
                        "category": { "type": "string", "examples": ["http"] },
                        "enabled": { "type": "boolean" },
                        "description": { "type": "string" }
                    },
                    "additionalProperties": false
                },
                "ToolList": {
                    "type": "object",
                    "required": ["tools", "total"],
                    "properties": {
                        "tools": { "type": "array", "maxItems": 100, "items": { "$ref": "#/components/schemas/Tool" } },
                        "total": { "type": "integer", "minimum": 0, "description": "How many tools matched, before `limit`." }
                    },
                    "additionalProperties": false
                },
                "LoginRequest": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 64,
                            "pattern": "^[!-~]+$",
                            "description": "Any printable ASCII name."
                        },
                        "password": { "type": "string", "description": "Always \"demo\"." }
                    }
                },
                "User": {
                    "type": "object",
                    "required": ["username"],
                    "properties": { "username": { "type": "string" } },
                    "additionalProperties": false
                },
                "LoginResponse": {
                    "type": "object",
                    "required": ["token", "token_type", "expires_in", "user"],
                    "properties": {
                        "token": { "type": "string" },
                        "token_type": { "const": "Bearer" },
                        "expires_in": { "const": TOKEN_TTL_SECS, "description": "Seconds the token stays valid." },
                        "user": { "$ref": "#/components/schemas/User" }
                    },
                    "additionalProperties": false
                },
                "Me": {
                    "type": "object",
                    "required": ["user"],
                    "properties": { "user": { "$ref": "#/components/schemas/User" } },
                    "additionalProperties": false
                },
                "OutboundCall": {
                    "type": "object",
                    "required": ["to"],
                    "properties": { "to": { "type": "string", "minLength": 1, "examples": ["+15550100"] } }
                },
                "Call": {
                    "type": "object",
                    "required": ["call_id", "to", "status"],
                    "properties": {
                        "call_id": { "type": "string", "pattern": "^call_[0-9a-f]{16}$" },
                        "to": { "type": "string" },
                        "status": { "const": "queued" }
                    },
                    "additionalProperties": false
                },
                "RateLimited": {
                    "type": "object",
                    "required": ["error", "retry_after"],
                    "properties": {
                        "error": { "const": "rate_limited" },
                        "retry_after": { "type": "integer", "minimum": 0 }
                    },
                    "additionalProperties": false
                },
                "StatusBody": {
                    "type": "object",
                    "required": ["status", "reason"],
                    "properties": {
                        "status": { "type": "integer", "minimum": 200, "maximum": 599 },
                        "reason": { "type": ["string", "null"], "description": "The status's reason phrase, if it has one." }
                    },
                    "additionalProperties": false
                },
                "Stall": {
                    "type": "object",
                    "required": ["stalled_until_ms"],
                    "properties": {
                        "stalled_until_ms": { "type": "integer", "description": "When the stall ends, in Unix milliseconds." }
                    },
                    "additionalProperties": false
                }
            }
        }
    })
}

/// The rate-limit headers every answer of `POST /calls/outbound` carries.
fn rate_limit_headers() -> Value {
    json!({
        "RateLimit-Limit": { "$ref": "#/components/headers/RateLimit-Limit" },
        "RateLimit-Remaining": { "$ref": "#/components/headers/RateLimit-Remaining" },
        "RateLimit-Reset": { "$ref": "#/components/headers/RateLimit-Reset" }
    })
}

/// Responses of `/status/{code}`: the code asked for, with a small JSON body (none for 204,
/// 205 and 304).
fn status_responses() -> Value {
    json!({
        "200": json_response("The status asked for (200 in the example; any code from 200 to 599)", "StatusBody"),
        "400": json_response("The code is not a number from 200 to 599", "Error"),
        "default": {
            "description": "The status asked for; 204, 205 and 304 have no body",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/StatusBody" } } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in the document points at something that exists.
    #[test]
    fn every_reference_resolves() {
        let doc = document(DEFAULT_SERVER);
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 20, "{refs:?}");
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("not a local ref: {r}"));
            assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    /// The served text is the whole document, in reading order.
    #[test]
    fn the_text_keeps_every_part_in_order() {
        let doc = document(DEFAULT_SERVER);
        let text = to_ordered_json(&doc);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc, "nothing is lost or added");
        assert_eq!(doc.as_object().unwrap().len(), TOP_ORDER.len());
        let at = |needle: &str| text.find(&format!("\"{needle}\":{{")).unwrap_or_else(|| panic!("{needle}"));
        assert!(
            at("/") < at("/health")
                && at("/auth/login") < at("/api/v1/me")
                && at("/echo") < at("/admin/stall")
        );
    }

    /// Operation ids are unique, and every route of the router is documented.
    #[test]
    fn every_route_is_documented_once() {
        let doc = document(DEFAULT_SERVER);
        let paths = doc["paths"].as_object().unwrap();
        let mut ids = Vec::new();
        for item in paths.values() {
            for (method, op) in item.as_object().unwrap() {
                if method != "parameters" {
                    ids.push(op["operationId"].as_str().unwrap().to_string());
                }
            }
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        for path in PATH_ORDER {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
        assert_eq!(paths.len(), PATH_ORDER.len(), "every documented path has its place in PATH_ORDER");
    }
}
