//! The richer checks, `fail_request`, `extract:` and the cookie defaults of http steps
//! (issue #4): what each compiles to, how it is named, and its mistakes at line and column.

use std::time::Duration;

use stampede_plan::{CheckKind, CompareOp, ExtractSource, HeaderTest};

use super::{assert_one, http_step, ok};

/// A plan whose only step is `GET /` with `extra` (YAML at the step's field indentation).
fn plan_with(extra: &str) -> String {
    format!(
        "target: http://127.0.0.1:1\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n    duration: 1s\n    flow:\n      - http:\n          url: /\n{extra}"
    )
}

#[test]
fn every_check_kind_compiles_with_a_readable_name() {
    let plan = ok(&plan_with(
        r#"          check:
            status: 2xx
            header: { content-type: present, x-a: exact, x-b: { matches: "^v\\d" } }
            body_matches: "id=\\d+"
            json_exists: ["$.a", "$.b"]
            json_compare: { "$.count": ">= 3", "$.n": 2 }
            json_length: { "$.tools": 5, "$.items": "> 0" }
            duration: "< 200ms"
            fail_request: true
"#,
    ));
    let step = http_step(&plan, 0);
    let names: Vec<&str> = step.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "status is 2xx",
            "header content-type present",
            "header x-a == \"exact\"",
            "header x-b matches \"^v\\\\d\"",
            "body matches \"id=\\\\d+\"",
            "$.a exists",
            "$.b exists",
            "$.count >= 3",
            "$.n == 2",
            "length of $.tools == 5",
            "length of $.items > 0",
            "duration < 200ms",
        ]
    );
    assert!(step.checks_fail_request);
    assert!(matches!(&step.checks[1].kind, CheckKind::Header { test: HeaderTest::Present, .. }));
    assert!(
        matches!(&step.checks[7].kind, CheckKind::JsonCompare { op: CompareOp::Ge, value, .. } if *value == 3.0)
    );
    assert!(matches!(
        &step.checks[11].kind,
        CheckKind::Duration { op: CompareOp::Lt, bound } if *bound == Duration::from_millis(200)
    ));
    assert!(!http_step(&ok(&plan_with("          check: { status: 200 }\n")), 0).checks_fail_request);
}

#[test]
fn extractions_compile_in_order() {
    let plan = ok(&plan_with(
        r#"          extract:
            token: { json: "$.token" }
            session: { header: x-session }
            sid: { cookie: sid }
            code: { regex: "code=(\\w+)" }
            st: { status: true }
"#,
    ));
    let ex = &http_step(&plan, 0).extract;
    let names: Vec<&str> = ex.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["token", "session", "sid", "code", "st"]);
    assert!(matches!(&ex[1].source, ExtractSource::Header(h, None) if h == "x-session"));
    assert!(matches!(&ex[2].source, ExtractSource::Cookie(c) if c == "sid"));
    assert!(matches!(ex[4].source, ExtractSource::Status));
}

#[test]
fn cookie_defaults() {
    let on = ok(&plan_with(""));
    assert!(on.defaults.cookies && !on.defaults.reset_cookies_each_iteration);
    let src = plan_with("").replace(
        "scenarios:",
        "defaults: { cookies: false, reset_cookies_each_iteration: true }\nscenarios:",
    );
    let off = ok(&src);
    assert!(!off.defaults.cookies && off.defaults.reset_cookies_each_iteration);
}

#[test]
fn check_and_extract_mistakes_at_their_position() {
    let at = |extra: &str, line, column, needle| assert_one(&plan_with(extra), line, column, needle);
    at(
        "          check: { body_matches: \"a(b\" }\n",
        10,
        34,
        "invalid regular expression `a(b`: unclosed group",
    );
    at(
        "          check: { header: { x-a: { matches: \"[\" } } }\n",
        10,
        46,
        "invalid regular expression `[`",
    );
    at("          check: { json_exists: [\"$.a[\"] }\n", 10, 38, "invalid JSONPath `$.a[`");
    at(
        "          check: { json_compare: { \"$.n\": \"=> 3\" } }\n",
        10,
        43,
        "expected a number or a comparison",
    );
    at("          check: { json_length: { \"$x\": 1 } }\n", 10, 37, "invalid JSONPath `$x`");
    at("          check: { duration: 200ms }\n", 10, 30, "expected a duration bound like \"< 200ms\"");
    at("          check: { duration: \"< 2 parsecs\" }\n", 10, 30, "unknown unit ` parsecs`");
    at(
        "          check: { header: { \"bad name\": present } }\n",
        10,
        30,
        "`bad name` is not a valid header name",
    );
    at("          check: { fail_request: true }\n", 10, 18, "`fail_request:` needs checks");
    at("          check: { status: 200, fail_reqest: true }\n", 10, 33, "did you mean `fail_request`?");
    at("          extract: { t: { jsn: \"$.a\" } }\n", 10, 27, "did you mean `json`?");
    at("          extract: { t: { json: \"$.a\", header: x } }\n", 10, 25, "an extraction has one source");
    at("          extract: { 2t: { status: true } }\n", 10, 22, "`2t` is not a variable name");
    at("          extract: { t: { regex: \"(\" } }\n", 10, 34, "invalid regular expression `(`");
    at("          extract: { t: { status: false } }\n", 10, 35, "`status: false` extracts nothing");
}
