//! The richer checks, `fail_request`, extraction and the cookie jar (issue #4), from plan
//! YAML to samples, against a real server on 127.0.0.1, over HTTP/1.1 and HTTP/2.

use stampede_metrics::builtin;
use stampede_proto::StepOutcome;

use super::support::{Harness, http_steps, hyper_server, load};

const VERSIONS: [&str; 2] = ["http1", "http2"];

#[tokio::test]
async fn every_check_kind_passes_and_fails_over_both_versions() {
    let (addr, _) = hyper_server().await;
    for version in VERSIONS {
        let plan = load(
            &format!("http://{addr}"),
            &format!("{{ http_version: {version} }}"),
            r#"      - http:
          name: login
          url: /login
          check:
            status: 2xx
            header: { content-type: present, x-session: s-42, x-absent: present, x-session: { matches: "^s-\\d+$" } }
            body_matches: "code=[A-Z0-9]+;"
            json_exists: ["$.token", "$.nope"]
            json_compare: { "$.count": ">= 3", "$.token": "> 1", "$.note": "== 'code=XYZ9;'", "$['note']": "< d", "$['token']": t0k, "$.tools[0]": "== x" }
            json_length: { "$.tools": 5, "$.count": ">= 1" }
            duration: "< 10s"
      - http:
          name: slowcheck
          url: /login
          check: { duration: "< 0ms", body_matches: "nomatch", header: { x-session: s-43, content-type: { matches: "^text/" } } }
"#
            .replace("x-session: { matches", "x-session2: { matches")
            .as_str(),
        );
        let steps = http_steps(&plan);
        let mut h = Harness::new(&format!("http://{addr}"), plan.defaults.clone());
        let first = h.compile(steps[0].clone());
        assert_eq!(h.run(&first).await, StepOutcome { failed: false, status: Some(200) });
        let s = h.samples();
        let results: Vec<(String, f64)> =
            s.of(builtin::CHECKS).map(|x| (s.tag(x, "check").unwrap(), x.value)).collect();
        let expected = [
            ("status is 2xx", 1.0),
            ("header content-type present", 1.0),
            ("header x-session == \"s-42\"", 1.0),
            ("header x-absent present", 0.0),
            ("header x-session2 matches \"^s-\\\\d+$\"", 0.0),
            ("body matches \"code=[A-Z0-9]+;\"", 1.0),
            ("$.token exists", 1.0),
            ("$.nope exists", 0.0),
            ("$.count >= 3", 1.0),
            ("$.token > 1", 0.0),
            ("$.note == \"code=XYZ9;\"", 1.0),
            ("$['note'] < \"d\"", 1.0),
            ("$['token'] == \"t0k\"", 1.0),
            ("$.tools[0] == \"x\"", 0.0),
            ("length of $.tools == 5", 1.0),
            ("length of $.count >= 1", 0.0),
            ("duration < 10s", 1.0),
        ];
        let expected: Vec<(String, f64)> = expected.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        assert_eq!(results, expected, "{version}");
        let second = h.compile(steps[1].clone());
        h.run(&second).await;
        let s = h.samples();
        let failed: Vec<(String, f64)> =
            s.of(builtin::CHECKS).map(|x| (s.tag(x, "check").unwrap(), x.value)).collect();
        let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "header x-session == \"s-43\"",
                "header content-type matches \"^text/\"",
                "body matches \"nomatch\"",
                "duration < 0ms"
            ],
            "{version}: a present header that differs fails its check"
        );
        assert!(failed.iter().all(|(_, v)| *v == 0.0), "{version}: {failed:?}");
        assert_eq!(s.one(builtin::HTTP_REQ_FAILED), 0.0, "checks alone do not fail a request");
    }
}

#[tokio::test]
async fn header_regex_matches_the_received_value() {
    let (addr, _) = hyper_server().await;
    let plan = load(
        &format!("http://{addr}"),
        "{}",
        "      - http: { url: /login, check: { header: { x-session: { matches: \"^s-\\\\d+$\" } } } }\n",
    );
    let mut h = Harness::new(&format!("http://{addr}"), plan.defaults.clone());
    let a = h.compile(http_steps(&plan)[0].clone());
    h.run(&a).await;
    assert_eq!(h.samples().values(builtin::CHECKS), [1.0]);
}

#[tokio::test]
async fn fail_request_turns_a_failed_check_into_a_failed_request() {
    let (addr, _) = hyper_server().await;
    for version in VERSIONS {
        let plan = load(
            &format!("http://{addr}"),
            &format!("{{ http_version: {version} }}"),
            "      - http: { url: /login, check: { body_contains: nope, fail_request: true } }\n      - http: { url: /login, check: { body_contains: t0k, fail_request: true } }\n",
        );
        let steps = http_steps(&plan);
        let mut h = Harness::new(&format!("http://{addr}"), plan.defaults.clone());
        let failing = h.compile(steps[0].clone());
        assert_eq!(h.run(&failing).await, StepOutcome { failed: true, status: Some(200) });
        let s = h.samples();
        assert_eq!(s.one(builtin::HTTP_REQ_FAILED), 1.0);
        assert_eq!(s.tag_of(builtin::HTTP_REQS, "error").as_deref(), Some("check"));
        assert_eq!(s.values(builtin::CHECKS), [0.0]);
        let passing = h.compile(steps[1].clone());
        assert_eq!(h.run(&passing).await, StepOutcome { failed: false, status: Some(200) });
        assert_eq!(h.samples().one(builtin::HTTP_REQ_FAILED), 0.0);
    }
}

#[tokio::test]
async fn extraction_sets_vu_variables_and_counts_misses_as_failed_checks() {
    let (addr, _) = hyper_server().await;
    for version in VERSIONS {
        let plan = load(
            &format!("http://{addr}"),
            &format!("{{ http_version: {version} }}"),
            r#"      - http:
          url: /login
          check: { status: 200 }
          extract:
            token: { json: "$.token" }
            count: { json: "$.count" }
            session: { header: x-session }
            sid: { cookie: sid }
            code: { regex: "code=(\\w+)" }
            st: { status: true }
            missing: { json: "$.nope" }
            nocookie: { cookie: nope }
            noheader: { header: x-nope }
            nocode: { regex: "nomatch=(\\d+)" }
            app_ms: { header: server-timing, regex: "app;dur=([0-9.]+)" }
            cache_ms: { header: server-timing, regex: "cache;dur=([0-9.]+)" }
"#,
        );
        let mut h = Harness::new(&format!("http://{addr}"), plan.defaults.clone());
        let a = h.compile(http_steps(&plan)[0].clone());
        h.vu.vars.set("missing", "before");
        h.run(&a).await;
        let vars = &h.vu.vars;
        assert_eq!(vars.get("token"), Some("t0k"), "{version}");
        assert_eq!(vars.get("count"), Some("4"));
        assert_eq!(vars.get("session"), Some("s-42"));
        assert_eq!(vars.get("sid"), Some("abc123"));
        assert_eq!(vars.get("code"), Some("XYZ9"));
        assert_eq!(vars.get("st"), Some("200"));
        assert_eq!(vars.get("missing"), Some("before"), "a miss keeps the previous value");
        assert_eq!(vars.get("nocookie"), None);
        assert_eq!((vars.get("noheader"), vars.get("nocode")), (None, None));
        assert_eq!((vars.get("app_ms"), vars.get("cache_ms")), (Some("12.5"), None));
        let s = h.samples();
        let results: Vec<(String, f64)> =
            s.of(builtin::CHECKS).map(|x| (s.tag(x, "check").unwrap(), x.value)).collect();
        let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "status is 200",
                "extract token",
                "extract count",
                "extract session",
                "extract sid",
                "extract code",
                "extract st",
                "extract missing",
                "extract nocookie",
                "extract noheader",
                "extract nocode",
                "extract app_ms",
                "extract cache_ms"
            ]
        );
        let values: Vec<f64> = results.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(s.one(builtin::HTTP_REQ_FAILED), 0.0);
    }
}

#[tokio::test]
async fn the_jar_sends_cookies_back_by_path_and_can_be_off_or_reset() {
    let (addr, seen) = hyper_server().await;
    let steps =
        "      - http: { url: /login }\n      - http: { url: /hello }\n      - http: { url: /other/x }\n";
    for version in VERSIONS {
        let plan = load(&format!("http://{addr}"), &format!("{{ http_version: {version} }}"), steps);
        let steps = http_steps(&plan);
        let mut h = Harness::new(&format!("http://{addr}"), plan.defaults.clone());
        let actions: Vec<_> = steps.iter().map(|s| h.compile(s.clone())).collect();
        h.run(&actions[0]).await;
        assert_eq!(seen.last().header("cookie"), None, "{version}: nothing to send yet");
        h.run(&actions[1]).await;
        assert_eq!(seen.last().header("cookie"), Some("sid=abc123"), "{version}");
        h.run(&actions[2]).await;
        assert_eq!(seen.last().header("cookie"), Some("sid=abc123; scoped=1"), "{version}");

        // Off.
        let plan = load(
            &format!("http://{addr}"),
            &format!("{{ http_version: {version}, cookies: false }}"),
            steps_yaml(),
        );
        let mut h = Harness::new(&format!("http://{addr}"), plan.defaults.clone());
        let actions: Vec<_> = http_steps(&plan).iter().map(|s| h.compile(s.clone())).collect();
        h.run(&actions[0]).await;
        h.run(&actions[1]).await;
        assert_eq!(seen.last().header("cookie"), None, "{version}: the jar is off");

        // Reset when the VU starts another iteration.
        let plan = load(
            &format!("http://{addr}"),
            &format!("{{ http_version: {version}, reset_cookies_each_iteration: true }}"),
            steps_yaml(),
        );
        let mut h = Harness::new(&format!("http://{addr}"), plan.defaults.clone());
        let actions: Vec<_> = http_steps(&plan).iter().map(|s| h.compile(s.clone())).collect();
        h.run(&actions[0]).await;
        h.run(&actions[1]).await;
        assert_eq!(seen.last().header("cookie"), Some("sid=abc123"), "{version}");
        h.vu.iteration += 1;
        h.run(&actions[1]).await;
        assert_eq!(seen.last().header("cookie"), None, "{version}: a new iteration starts empty");
    }
}

fn steps_yaml() -> &'static str {
    "      - http: { url: /login }\n      - http: { url: /hello }\n"
}
