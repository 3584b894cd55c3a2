//! Requests with run-time values (issue #4): rendered per request from the VU's extracted
//! variables and built-ins, over HTTP/1.1 and HTTP/2, against a real server on 127.0.0.1.

use stampede_metrics::builtin;
use stampede_plan::HttpStep;
use stampede_proto::StepOutcome;

use super::support::{Harness, http_steps, hyper_server, load};

fn steps(target: &str, version: &str, flow: &str) -> Vec<HttpStep> {
    http_steps(&load(target, &format!("{{ http_version: {version} }}"), flow))
}

/// Defaults speaking `version` (`http1` or `http2`).
fn defaults(version: &str) -> stampede_plan::Defaults {
    let http_version = if version == "http2" {
        stampede_plan::HttpVersion::Http2
    } else {
        stampede_plan::HttpVersion::Http1
    };
    stampede_plan::Defaults { http_version, ..Default::default() }
}

const FLOW: &str = r#"      - http:
          url: /login
          extract: { token: { json: "$.token" } }
      - http:
          method: POST
          url: "/echo?tok={{ token }}&n={{ random_int(3, 3) }}&vu={{ vu_id }}"
          headers:
            authorization: "Bearer {{ token }}"
            content-type: "application/{{ random_choice(json) }}"
            x-fixed: plain
          json: { t: "{{ token }}", q: "say \"{{ token }}\"", n: 1 }
"#;

#[tokio::test]
async fn extracted_values_and_builtins_are_rendered_per_request_over_both_versions() {
    let (addr, seen) = hyper_server().await;
    for version in ["http1", "http2"] {
        let steps = steps(&format!("http://{addr}"), version, FLOW);
        assert!(steps[0].dynamic.is_none() && steps[1].dynamic.is_some());
        let mut h = Harness::new(&format!("http://{addr}"), defaults(version));
        let login = h.compile(steps[0].clone());
        let templated = h.compile(steps[1].clone());

        // Before the token is extracted, the request is not sent: a counted failure.
        let before = seen.requests.lock().unwrap().len();
        assert_eq!(h.run(&templated).await, StepOutcome { failed: true, status: None }, "{version}");
        assert_eq!(seen.requests.lock().unwrap().len(), before, "nothing was sent");
        let s = h.samples();
        assert_eq!(s.values(builtin::HTTP_REQ_FAILED), [1.0]);
        assert!(s.values(builtin::HTTP_REQS).is_empty(), "not a request");
        assert_eq!(s.tag_of(builtin::HTTP_REQ_FAILED, "error").as_deref(), Some("variable"));

        h.run(&login).await;
        h.samples();
        assert_eq!(h.run(&templated).await.status, Some(200), "{version}");
        let req = seen.last();
        assert_eq!(
            (req.path.as_str(), req.query.as_deref()),
            ("/echo", Some("tok=t0k&n=3&vu=1")),
            "{version}"
        );
        assert_eq!(req.header("authorization"), Some("Bearer t0k"));
        let content_types: Vec<_> = req.headers.get_all("content-type").iter().collect();
        assert_eq!(content_types, ["application/json"], "the step's header replaces the automatic one");
        assert_eq!(req.header("x-fixed"), Some("plain"));
        assert_eq!(req.body, br#"{"t":"t0k","q":"say \"t0k\"","n":1}"#.as_slice(), "{version}");
        assert_eq!(req.header("content-length"), Some(&*req.body.len().to_string()));
    }
}

#[tokio::test]
async fn the_cookie_jar_matches_the_rendered_path_not_the_skeleton() {
    let (addr, seen) = hyper_server().await;
    let flow = r#"      - http: { url: /login }
      - http: { url: "/{{ random_choice(other) }}/x", expect_status: 500 }
"#;
    let steps = steps(&format!("http://{addr}"), "http1", flow);
    let mut h = Harness::new(&format!("http://{addr}"), stampede_plan::Defaults::default());
    let (login, scoped) = (h.compile(steps[0].clone()), h.compile(steps[1].clone()));
    h.run(&login).await;
    h.run(&scoped).await;
    let req = seen.last();
    assert_eq!(req.path, "/other/x");
    // `scoped=1; Path=/other` applies to the rendered path; the skeleton `//x` would miss it.
    let cookie = req.header("cookie").unwrap_or_default();
    assert!(cookie.contains("scoped=1") && cookie.contains("sid=abc123"), "cookie: {cookie}");
}

const ENCODED: &str = r#"      - http:
          url: /login
          extract:
            note: { json: "$.note" }
            app_ms: { header: server-timing, regex: "app;dur=([0-9.]+)" }
      - http:
          method: POST
          url: "/echo/{{ random_choice('x y/é') }}?q={{ random_choice('a b&c=d, e') }}&p={{ note }}&pct=50%25"
          headers: { cookie: "mine=1" }
          json: { d: "{{ app_ms | number }}", s: "{{ app_ms }}", v: "{{ vu_id | number }}" }
          expect_status: 500
      - http:
          method: POST
          url: /echo
          json: { n: "{{ note | number }}" }
"#;

#[tokio::test]
async fn url_values_are_percent_encoded_numbers_stay_numbers_and_a_step_cookie_is_sent_alone() {
    let (addr, seen) = hyper_server().await;
    for version in ["http1", "http2"] {
        let steps = steps(&format!("http://{addr}"), version, ENCODED);
        let mut h = Harness::new(&format!("http://{addr}"), defaults(version));
        let (login, encoded, not_a_number) =
            (h.compile(steps[0].clone()), h.compile(steps[1].clone()), h.compile(steps[2].clone()));
        assert_eq!(h.run(&login).await.status, Some(200));
        h.samples();

        assert_eq!(h.run(&encoded).await, StepOutcome { failed: false, status: Some(500) }, "{version}");
        let req = seen.last();
        // One path segment stays one (the `/` a value holds is kept: it may be a sub-path), a
        // query value cannot end its parameter, and `%25` written by the plan is not encoded again.
        assert_eq!(req.path, "/echo/x%20y/%C3%A9", "{version}");
        assert_eq!(req.query.as_deref(), Some("q=a%20b%26c%3Dd,%20e&p=code%3DXYZ9;&pct=50%25"), "{version}");
        // The regex read the header; `| number` wrote it bare, without it it is a string.
        assert_eq!(req.body, br#"{"d":12.5,"s":"12.5","v":1}"#.as_slice(), "{version}");
        // The jar holds `sid` from /login, but the step's own Cookie header is sent alone.
        let cookies: Vec<_> = req.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["mine=1"], "{version}");
        h.samples();

        // `| number` on a value that is not one: not sent, a counted failure.
        let before = seen.requests.lock().unwrap().len();
        assert_eq!(h.run(&not_a_number).await, StepOutcome { failed: true, status: None });
        assert_eq!(seen.requests.lock().unwrap().len(), before, "nothing was sent");
        let s = h.samples();
        assert_eq!(s.tag_of(builtin::HTTP_REQ_FAILED, "error").as_deref(), Some("variable"));
    }
}
