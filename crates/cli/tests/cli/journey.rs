//! Data and correlation end to end: a CSV of users drawn once each, log in, carry the token
//! into later requests; run-time templates (built-ins, extracted values); the load-time
//! errors of templates and data files.

use super::support::{metric, run, run_demo, text, valid_results, write_plan};

const USERS: &str = "username,password\nalice,demo\nbob,demo\n\"carol,jr\",demo\ndave,demo\nerin,demo\n";

const LOGIN_JOURNEY: &str = r#"
target: http://127.0.0.1:9
data:
  users: { file: users.csv, mode: unique, per: vu, on_exhausted: stop }
scenarios:
  members:
    executor: constant-vus
    vus: 8
    duration: 2s
    on_start:
      - http:
          name: login
          method: POST
          url: /auth/login
          json: { username: "{{ users.username }}", password: "{{ users.password }}" }
          check: { status: 200 }
          extract:
            token: { json: "$.token" }
    flow:
      - http:
          name: me
          url: /api/v1/me?vu={{ vu_id }}
          headers: { Authorization: "Bearer {{ token }}" }
          check: { status: 200, json_exists: "$.user.username" }
          extract: { me: { json: "$.user.username" } }
        record: { own_user: "me == users.username" }
      - think: 100ms
metrics:
  own_user: rate
thresholds:
  own_user: ["rate==1"]
  "http_reqs{name:login}": ["count<=5"]
  "http_reqs{name:me}": ["count>5"]
  http_req_failed: ["rate==0"]
  checks: ["rate==1"]
"#;

#[test]
fn login_token_journey_draws_each_csv_row_once() {
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), "users.csv", USERS);
    let plan = write_plan(dir.path(), "plan.yaml", LOGIN_JOURNEY);
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = valid_results(&out);
    // Five rows, eight VUs: five logins exactly, the other three VUs stop at their draw.
    assert_eq!(metric(&r, "http_reqs{name:login}", "count"), 5.0);
    assert!(metric(&r, "http_reqs{name:me}", "count") > 5.0);
    // Every `me` carried a valid token: a missing or wrong one would be a 401.
    assert_eq!(metric(&r, "http_req_failed", "rate"), 0.0);
    assert_eq!(metric(&r, "checks", "rate"), 1.0);
    // And each VU is the user of its own row.
    assert_eq!(metric(&r, "own_user", "rate"), 1.0);
}

const BUILTINS: &str = r#"
target: http://127.0.0.1:9
scenarios:
  echo:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    flow:
      - http:
          name: echo
          method: POST
          url: /echo
          json:
            vu: "{{ vu_id }}"
            it: "{{ iteration }}"
            id: "{{ uuid }}"
            n: "{{ random_int(7, 7) }}"
            s: "{{ random_string(6) }}"
            pick: "{{ random_choice(red, green) }}"
            scenario: "{{ scenario }}"
            quote: "say \"{{ random_choice(hi) }}\""
          check:
            status: 200
            body_matches:
              - "\"id\":\"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\""
              - "\"n\":\"7\""
              - "\"s\":\"[A-Za-z0-9]{6}\""
              - "\"pick\":\"(red|green)\""
              - "\"scenario\":\"echo\""
              - "\"quote\":\"say \\\\\"hi\\\\\"\""
          extract:
            echoed: { json: "$.id" }
      - http:
          name: form
          method: POST
          url: /echo?seq={{ sequence }}
          form: { id: "{{ echoed }}", note: "a&b c" }
          check: { status: 200, body_matches: "^id=[0-9a-f-]{36}&note=a%26b\\+c$" }
      - http:
          name: unset
          url: /health?x={{ later }}
      - http:
          name: sets-later
          url: /health
          extract:
            later: { json: "$.status" }
thresholds:
  checks: ["rate==1"]
  "http_req_failed{error:variable}": ["rate==1"]
"#;

#[test]
fn runtime_templates_render_builtins_and_extracted_values_and_count_unset_ones() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.yaml", BUILTINS);
    let (o, out) = run_demo(dir.path(), &plan);
    let r = valid_results(&out);
    assert_eq!(metric(&r, "checks", "rate"), 1.0, "{}", text(&o));
    assert_eq!(metric(&r, "http_reqs{name:echo}", "count"), 6.0);
    assert_eq!(metric(&r, "http_reqs{name:form}", "count"), 6.0);
    // `later` is set by the step after `unset`: unset in each VU's first iteration only.
    // Requests that were not sent are in the errors table, by kind and request.
    let errors = r["errors"].as_array().unwrap();
    let variable = errors.iter().find(|e| e["kind"] == "variable").unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!((variable["name"].as_str(), variable["count"].as_u64()), (Some("unset"), Some(2)));
    let unset = &r["metrics"]["http_req_failed{error:variable}"];
    assert_eq!(unset["passes"].as_f64().or(unset["count"].as_f64()), Some(2.0), "{unset}");
}

#[test]
fn template_and_data_mistakes_are_load_errors_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), "users.csv", USERS);
    write_plan(dir.path(), "ragged.csv", "a,b\n1,2\n3\n");
    let plan = write_plan(
        dir.path(),
        "plan.yaml",
        r#"target: http://127.0.0.1:9
data:
  users: users.csv
  bad: ragged.csv
  seq: { file: users.csv, mode: sequential, on_exhausted: recycle }
vars: { region: eu }
vus: 1
duration: 1s
flow:
  - http:
      url: /x/{{ tokn }}
      headers: { X-User: "{{ users.usernme }}" }
      extract: { token: { json: "$.t" } }
      check: { body_contains: "{{ token }}" }
  - http: { url: "{{ token }}/y" }
  - http: { url: "/z?{{ random_intt(1, 2) }}" }
  - http: { url: "/z?{{ nodata.col }}" }
  - http: { url: /a, extract: { region: { status: true } } }
  - http: { url: "/z?{{ token | upper }}", json: { n: "{{ region | number }}" } }
"#,
    );
    let o = run(&["validate", plan.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = text(&o);
    for needle in [
        "plan.yaml:4:8: data source `bad`",
        "line 3: 1 field, the header has 2",
        "plan.yaml:5:59: `on_exhausted:` is for `mode: unique`",
        "plan.yaml:11:15: unknown variable `tokn`",
        "did you mean `token`?",
        "plan.yaml:12:27: data source `users` has no column `usernme`; did you mean `username`?",
        "plan.yaml:14:32: `{{ token }}` is only known while the test runs",
        "plan.yaml:15:18: the start of a URL",
        "plan.yaml:18:33: `region` is also a plan variable",
        "plan.yaml:19:22: unknown filter `upper`",
        "plan.yaml:19:55: `eu` is not a number",
        "did you mean `random_int`?",
        "unknown data source `nodata`",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

const ITEMS: &str =
    r#"[{"code": 200, "note": "ok"}, {"code": 201}, {"code": 202, "note": null}, {"code": 204}]"#;

const FEEDERS: &str = r#"
target: http://127.0.0.1:9
data:
  once: { file: items.json, mode: unique, on_exhausted: stop }
  again: { file: items.json, mode: unique, on_exhausted: recycle }
scenarios:
  drain:
    executor: shared-iterations
    vus: 3
    iterations: 50
    flow:
      - http: { name: once, url: "/status/{{ once.code }}", expect_status: 2xx }
  recycle:
    executor: per-vu-iterations
    vus: 1
    iterations: 6
    flow:
      - http: { name: again, url: "/status/{{ again.code }}", expect_status: 2xx }
thresholds:
  "http_reqs{name:once}": ["count==4"]
  "http_reqs{name:again}": ["count==6"]
  "http_reqs{name:once,status:201}": ["count==1"]
  "http_reqs{name:again,status:200}": ["count==2"]
  http_req_failed: ["rate==0"]
"#;

#[test]
fn json_feeders_stop_when_unique_rows_run_out_or_recycle_them() {
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), "items.json", ITEMS);
    let plan = write_plan(dir.path(), "plan.yaml", FEEDERS);
    let (o, out) = run_demo(dir.path(), &plan);
    // Every threshold states an exact count: four rows once each, then the scenario stops
    // (not 50 iterations); six draws from four recycled rows.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = valid_results(&out);
    assert_eq!(metric(&r, "http_reqs{name:once}", "count"), 4.0);
    assert_eq!(metric(&r, "http_reqs{name:again}", "count"), 6.0);
}

const USED_UP: &str = r#"
target: http://127.0.0.1:9
data:
  orders: { file: items.json, mode: unique }
  seq: items.json
  any: { file: items.json, mode: random }
scenarios:
  orders:
    executor: constant-vus
    vus: 2
    duration: 60s
    flow:
      - http: { name: order, url: "/status/{{ orders.code }}", expect_status: 2xx }
      - http: { name: seq, url: "/status/{{ seq.code }}", expect_status: 2xx }
      - http: { name: any, url: "/status/{{ any.code }}", expect_status: [200, 201, 202, 204] }
      - think: 50ms
    on_stop:
      - http: { name: logout, url: /health }
thresholds:
  "http_reqs{name:order}": ["count==4"]
  "http_reqs{name:seq,status:200}": ["count==1"]
  "http_reqs{name:seq,status:201}": ["count==1"]
  "http_reqs{name:seq,status:202}": ["count==1"]
  "http_reqs{name:seq,status:204}": ["count==1"]
  "http_reqs{name:any}": ["count==4"]
  "http_reqs{name:logout}": ["count==2"]
  http_req_failed: ["rate==0"]
"#;

#[test]
fn a_used_up_source_ends_a_timed_scenario_and_its_vus_still_run_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), "items.json", ITEMS);
    let plan = write_plan(dir.path(), "plan.yaml", USED_UP);
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = valid_results(&out);
    // Four rows, drawn once each per iteration: the 60 s scenario ends when they are used up
    // (both VUs log out), and the sequential source went through its rows in file order.
    let took = r["run"]["duration_secs"].as_f64().unwrap();
    assert!(took < 30.0, "the scenario ran on after its data was used up: {took} s");
    assert_eq!(metric(&r, "http_reqs{name:order}", "count"), 4.0);
    assert_eq!(metric(&r, "http_reqs{name:logout}", "count"), 2.0);
}

const ROLES: &str = r#"
target: http://127.0.0.1:9
data:
  people: { file: people.csv, mode: unique, per: vu }
scenarios:
  s:
    executor: per-vu-iterations
    vus: 3
    iterations: 2
    flow:
      - http: { name: admin, url: "/health?who={{ people.name }}" }
        if: "people.role == 'admin'"
      - http: { name: everyone, url: /health }
thresholds:
  "http_reqs{name:admin}": ["count==4"]
  "http_reqs{name:everyone}": ["count==6"]
"#;

#[test]
fn conditions_read_data_columns() {
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), "people.csv", "name,role\nana,admin\nbo,user\ncy,admin\n");
    let plan = write_plan(dir.path(), "plan.yaml", ROLES);
    let (o, out) = run_demo(dir.path(), &plan);
    // Two of three VUs drew an admin row: their two iterations each ran the admin step.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(metric(&valid_results(&out), "http_reqs{name:admin}", "count"), 4.0);

    let bad = write_plan(dir.path(), "bad.yaml", &ROLES.replace("people.role ==", "people.rol =="));
    let o = run(&["validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("bad.yaml:12:14: invalid expression `people.rol == 'admin'`: data source `people` has no column `rol`; did you mean `role`?"),
        "{}",
        text(&o)
    );
}
