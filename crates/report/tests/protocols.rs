//! A run that mixes HTTP requests and gRPC calls: the per-request table lists both, each row
//! marked with its protocol, in the results file (still valid against its schema), every
//! renderer, grading and `compare` (which matches rows by protocol and name). Summaries are
//! built by feeding a real `Aggregator`, with an HTTP request and a gRPC call of the same name
//! so that a match by name alone would show.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use stampede_metrics::{Aggregator, MetricId, Registry, Sample, TagSetId, builtin};
use stampede_report::compare::ComparedMetric;
use stampede_report::{
    CompareOptions, GradingConfig, HtmlExtras, RequestProtocol, Summary, SummaryInput, Verdict, compare, csv,
    grade, markdown, render_html, terminal,
};

const SEC: u64 = 1_000_000;

/// Per second for 4 s: 10 HTTP `search` requests of `http_ms` (one failing), 5 gRPC `search`
/// calls of `grpc_ms` and 5 gRPC `transcribe` calls of 40 ms.
fn mixed_run(http_ms: f64, grpc_ms: f64) -> Summary {
    let registry = Arc::new(Registry::new());
    let mut agg = Aggregator::new(registry.clone());
    let search = registry.intern(&[("name", "search")]);
    let failed = registry.intern(&[("name", "search"), ("error", "status_503")]);
    let transcribe = registry.intern(&[("name", "transcribe")]);
    // The VU gauges every results file has.
    let mut batch: Vec<Sample> = [builtin::VUS, builtin::VUS_MAX]
        .map(|metric| Sample { metric, tags: TagSetId::EMPTY, time: 0, value: 1.0 })
        .to_vec();
    let mut call = |(reqs, duration, failed_metric): (MetricId, MetricId, MetricId),
                    tags,
                    time,
                    (ms, failed): (f64, bool)| {
        batch.push(Sample { metric: reqs, tags, time, value: 1.0 });
        batch.push(Sample { metric: duration, tags, time, value: ms });
        batch.push(Sample { metric: failed_metric, tags, time, value: f64::from(u8::from(failed)) });
    };
    let http = (builtin::HTTP_REQS, builtin::HTTP_REQ_DURATION, builtin::HTTP_REQ_FAILED);
    let grpc = (builtin::GRPC_REQS, builtin::GRPC_REQ_DURATION, builtin::GRPC_REQ_FAILED);
    for s in 0..4u64 {
        for i in 0..10u64 {
            let t = s * SEC + i * SEC / 10;
            let jitter = (i % 5) as f64;
            let tags = if i == 0 { failed } else { search };
            call(http, tags, t, (http_ms + jitter, i == 0));
            if i % 2 == 0 {
                call(grpc, search, t, (grpc_ms + jitter, false));
                call(grpc, transcribe, t, (40.0 + jitter, false));
            }
        }
    }
    agg.ingest(&batch);
    agg.finish(4 * SEC);
    let duration = Duration::from_secs(4);
    Summary::new(SummaryInput {
        plan: "mixed".into(),
        started_at: UNIX_EPOCH + Duration::from_secs(1_764_000_000),
        duration,
        snapshot: agg.snapshot(duration),
        thresholds: Vec::new(),
        verdict: Verdict::Passed,
        interruption: None,
        scenarios: Vec::new(),
        max_vus: 1,
        dropped_samples: 0,
        breaking_point: None,
        grading: Default::default(),
    })
}

fn row(s: &Summary, protocol: RequestProtocol, name: &str) -> stampede_report::RequestStats {
    s.requests
        .iter()
        .find(|r| r.protocol == protocol && r.name == name)
        .unwrap_or_else(|| panic!("no {protocol:?} row {name}: {:?}", s.requests))
        .clone()
}

#[test]
fn grpc_calls_get_rows_beside_http_requests_of_the_same_name() {
    let s = mixed_run(10.0, 100.0);
    let shape: Vec<(RequestProtocol, &str)> =
        s.requests.iter().map(|r| (r.protocol, r.name.as_str())).collect();
    assert_eq!(
        shape,
        [
            (RequestProtocol::Http, "search"),
            (RequestProtocol::Grpc, "search"),
            (RequestProtocol::Grpc, "transcribe")
        ]
    );
    let http = row(&s, RequestProtocol::Http, "search");
    assert_eq!((http.requests, http.failures), (40, 4));
    let grpc = row(&s, RequestProtocol::Grpc, "search");
    assert_eq!((grpc.requests, grpc.failures), (20, 0));
    // Each row's times are its own protocol's: 100–104 ms for the gRPC call, not HTTP's 10–14.
    assert!((100.0..=104.5).contains(&grpc.med) && grpc.min >= 100.0, "{grpc:?}");
    assert!(http.max < 15.0, "{http:?}");
    assert_eq!(row(&s, RequestProtocol::Grpc, "transcribe").rps, 5.0);
}

#[test]
fn the_results_file_marks_protocols_and_still_matches_its_schema() {
    let s = mixed_run(10.0, 100.0);
    let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    let protocols: Vec<&str> =
        json["requests"].as_array().unwrap().iter().map(|r| r["protocol"].as_str().unwrap()).collect();
    assert_eq!(protocols, ["http", "grpc", "grpc"]);
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/results.v1.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "results do not match the schema:\n{}", errors.join("\n"));
    // A file written before rows had a protocol reads as HTTP, and a row without one is valid.
    let mut old = json.clone();
    for r in old["requests"].as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("protocol");
    }
    assert!(validator.is_valid(&old));
    let read = Summary::from_json(&old.to_string()).unwrap();
    assert!(read.requests.iter().all(|r| r.protocol == RequestProtocol::Http));
    assert!(!read.has_non_http_requests());
}

#[test]
fn every_renderer_marks_the_protocol_of_each_row() {
    let s = mixed_run(10.0, 100.0);
    let g = grade(&s, &GradingConfig::for_summary(&s));

    let text = terminal::render_with(&s, &g);
    let table = &text[text.find("REQUESTS").expect("a REQUESTS section")..];
    let lines: Vec<&str> = table.lines().take(4).collect();
    assert!(lines[1].contains("proto"), "{table}");
    let marked = |line: &str, name: &str, proto: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.first() == Some(&name) && words.get(1) == Some(&proto)
    };
    assert!(marked(lines[2], "search", "http"), "{table}");
    assert!(marked(lines[3], "search", "grpc"), "{table}");

    let md = markdown::render(&s, &g, None);
    assert!(md.contains("| Name | Protocol | Requests |"), "{md}");
    assert!(md.contains("| transcribe | grpc | 20 | 0 |"), "{md}");

    let stats = csv::stats(&s);
    let lines: Vec<&str> = stats.lines().collect();
    assert!(lines[0].ends_with(",Protocol"), "{stats}");
    assert!(lines[2].starts_with("search,20,0,") && lines[2].ends_with(",grpc"), "{stats}");
    assert!(lines[4].starts_with("Aggregated,40,4,") && lines[4].ends_with(','), "{stats}");

    let html = render_html(&s, &HtmlExtras { grade: Some(&g), comparison: None });
    let table = &html[html.find("id=\"requests-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(table.contains("<th data-sort>Protocol</th>"), "{table}");
    assert_eq!(table.matches("<td>grpc</td>").count(), 2, "{table}");
    assert!(table.contains("all HTTP requests"), "{table}");
}

#[test]
fn a_pure_http_run_reads_as_before() {
    let mut s = mixed_run(10.0, 100.0);
    s.requests.retain(|r| r.protocol == RequestProtocol::Http);
    let text = terminal::render(&s);
    assert!(!text.contains("proto"), "{text}");
    let md = markdown::render(&s, &grade(&s, &GradingConfig::for_summary(&s)), None);
    assert!(md.contains("| Name | Requests |"), "{md}");
    let html = render_html(&s, &HtmlExtras::default());
    assert!(!html.contains("<th data-sort>Protocol</th>") && html.contains("<td>all requests</td>"));
}

#[test]
fn compare_matches_rows_by_protocol_and_name() {
    // Only the gRPC `search` got slower; the HTTP request of the same name did not.
    let (base, new) = (mixed_run(10.0, 100.0), mixed_run(10.0, 200.0));
    let c = compare(&base, &new, &CompareOptions::default());
    let p50 = |protocol: RequestProtocol, name: &str| {
        c.rows
            .iter()
            .find(|r| {
                r.protocol == protocol && r.scope.as_deref() == Some(name) && r.metric == ComparedMetric::P50
            })
            .unwrap_or_else(|| panic!("no p50 row for {protocol:?} {name}"))
            .clone()
    };
    let http = p50(RequestProtocol::Http, "search");
    let grpc = p50(RequestProtocol::Grpc, "search");
    assert_eq!(http.change, Some(0.0), "{http:?}");
    let change = grpc.change.expect("both runs have the call");
    assert!((0.9..=1.1).contains(&change), "gRPC p50 doubled: {grpc:?}");
    assert_eq!(grpc.scope_label(), "search (grpc)");
    assert_eq!(http.scope_label(), "search");
    // Every named row is one of the three requests: none is made up from a name in two protocols.
    let scopes = c.rows.iter().filter(|r| r.scope.is_some()).count();
    assert_eq!(scopes, 3 * 6, "six figures for each of three requests");
}

#[test]
fn grading_names_the_slowest_request_of_the_graded_protocol() {
    // HTTP is graded (the run made HTTP requests); the far slower gRPC call is not its evidence.
    let s = mixed_run(900.0, 5_000.0);
    let mut config = GradingConfig::for_summary(&s);
    config.latency_ms.value = 100.0;
    let g = grade(&s, &config);
    let evidence: Vec<&str> = g.recommendations.iter().map(|r| r.evidence.as_str()).collect();
    assert!(evidence.iter().any(|e| e.contains("target")), "a latency finding: {evidence:?}");
    // One HTTP row: no slowest request to name (a match across protocols would name gRPC's).
    assert!(evidence.iter().all(|e| !e.contains("slowest")), "{evidence:?}");
}
