//! Comparison and grading on synthetic runs with known properties: summaries are built in code
//! by feeding a real `Aggregator` with seeded random samples, so every expectation is known.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stampede_metrics::{Aggregator, Registry, Sample, TagSetId, builtin};
use stampede_report::compare::{ChangeVerdict, ComparedMetric, render_text};
use stampede_report::grade::{Band, ComponentKind, GradeWeights, Severity, Target};
use stampede_report::{
    CompareOptions, Comparison, GradingConfig, ScenarioSummary, StageSummary, Summary, SummaryInput,
    ThresholdResult, Verdict, compare, grade,
};

const SEC: u64 = 1_000_000;

/// One second of load in a synthetic run.
#[derive(Clone, Copy)]
struct Second {
    vus: f64,
    requests: usize,
}

/// What a synthetic run's requests look like.
struct Shape<'a> {
    seconds: Vec<Second>,
    /// Latency in ms of request `i` of second `s`.
    latency: &'a mut dyn FnMut(usize, usize) -> f64,
    /// Failure kind of request `i` of second `s`, if it fails.
    failure: &'a mut dyn FnMut(usize, usize) -> Option<&'static str>,
    stages: Vec<StageSummary>,
    thresholds: Vec<ThresholdResult>,
}

fn build(shape: Shape<'_>) -> Summary {
    let registry = Arc::new(Registry::new());
    let mut agg = Aggregator::new(registry.clone());
    let ok = registry.intern(&[("name", "api")]);
    let mut error_tags = std::collections::HashMap::new();
    let mut batch = Vec::new();
    let sample = |metric, tags: TagSetId, time: u64, value: f64| Sample { metric, tags, time, value };
    for (s, sec) in shape.seconds.iter().enumerate() {
        let start = s as u64 * SEC;
        batch.push(sample(builtin::VUS, TagSetId::EMPTY, start, sec.vus));
        for i in 0..sec.requests {
            let t = start + (i as u64 * SEC) / sec.requests as u64;
            let failure = (shape.failure)(s, i);
            let tags = match failure {
                Some(kind) => *error_tags
                    .entry(kind)
                    .or_insert_with(|| registry.intern(&[("name", "api"), ("error", kind)])),
                None => ok,
            };
            batch.push(sample(builtin::HTTP_REQS, tags, t, 1.0));
            batch.push(sample(builtin::HTTP_REQ_DURATION, tags, t, (shape.latency)(s, i)));
            batch.push(sample(builtin::HTTP_REQ_FAILED, tags, t, if failure.is_some() { 1.0 } else { 0.0 }));
        }
        // The last VU count stays in the gauge's last second.
        batch.push(sample(builtin::VUS, TagSetId::EMPTY, start + SEC - 1, sec.vus));
    }
    agg.ingest(&batch);
    let secs = shape.seconds.len() as u64;
    agg.finish(secs * SEC);
    let elapsed = Duration::from_secs(secs);
    let snapshot = agg.snapshot(elapsed);
    let verdict = if shape.thresholds.iter().all(|t| t.ok) { Verdict::Passed } else { Verdict::Failed };
    Summary::new(SummaryInput {
        plan: "synthetic".into(),
        started_at: UNIX_EPOCH + Duration::from_secs(1_764_000_000),
        duration: elapsed,
        snapshot,
        thresholds: shape.thresholds,
        verdict,
        interruption: None,
        scenarios: vec![ScenarioSummary {
            name: "s".into(),
            executor: "ramping-vus".into(),
            start_time_secs: 0.0,
            duration_secs: secs as f64,
            max_vus: shape.seconds.iter().map(|s| s.vus as u32).max().unwrap_or(0),
            stages: shape.stages,
            iterations: 0,
            dropped_iterations: 0,
        }],
        max_vus: shape.seconds.iter().map(|s| s.vus as u64).max().unwrap_or(0),
        dropped_samples: 0,
        breaking_point: None,
        grading: Default::default(),
    })
}

/// A stage as planned; the per-stage figures are filled in by `Summary::new`.
fn stage(start_secs: f64, duration_secs: f64, target: u32) -> StageSummary {
    StageSummary::vus(start_secs, duration_secs, target)
}

fn normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// 20 s at 1000 req/s of log-normal latencies (median 20 ms × `scale`), `error_rate` failing.
fn lognormal_run(seed: u64, scale: f64, error_rate: f64) -> Summary {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut rng2 = SmallRng::seed_from_u64(seed ^ 0xfeed);
    let mut latency = |_: usize, _: usize| 20.0 * scale * (0.5 * normal(&mut rng)).exp();
    let mut failure = |_: usize, _: usize| (rng2.random::<f64>() < error_rate).then_some("status_503");
    build(Shape {
        seconds: vec![Second { vus: 20.0, requests: 1000 }; 20],
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 20.0, 20)],
        thresholds: Vec::new(),
    })
}

fn row<'a>(
    c: &'a Comparison,
    scope: Option<&str>,
    metric: ComparedMetric,
) -> &'a stampede_report::compare::ComparisonRow {
    c.rows
        .iter()
        .find(|r| r.scope.as_deref() == scope && r.metric == metric)
        .unwrap_or_else(|| panic!("no row {scope:?} {metric:?} in\n{}", render_text(c)))
}

#[test]
fn a_ten_percent_p95_regression_is_flagged() {
    let base = lognormal_run(1, 1.0, 0.01);
    let new = lognormal_run(2, 1.10, 0.01);
    let c = compare(&base, &new, &CompareOptions::default());
    let text = render_text(&c);
    for scope in [None, Some("api")] {
        let p95 = row(&c, scope, ComparedMetric::P95);
        assert_eq!(p95.verdict, ChangeVerdict::Regressed, "{text}");
        let change = p95.change.unwrap();
        assert!((0.07..0.13).contains(&change), "p95 change {change}\n{text}");
        let ci = p95.interval.unwrap();
        assert!(ci[0] > 0.0 && ci[0] < change && change < ci[1], "interval {ci:?} around {change}");
        assert_eq!(row(&c, scope, ComparedMetric::P50).verdict, ChangeVerdict::Regressed, "{text}");
        assert_eq!(row(&c, scope, ComparedMetric::Avg).verdict, ChangeVerdict::Regressed, "{text}");
        assert_eq!(row(&c, scope, ComparedMetric::ErrorRate).verdict, ChangeVerdict::Unchanged, "{text}");
        assert_eq!(row(&c, scope, ComparedMetric::Throughput).verdict, ChangeVerdict::Unchanged, "{text}");
    }
    assert!(c.has_regressions());
    // The same data the other way round is an improvement.
    let back = compare(&new, &base, &CompareOptions::default());
    assert_eq!(
        row(&back, None, ComparedMetric::P95).verdict,
        ChangeVerdict::Improved,
        "{}",
        render_text(&back)
    );
    assert!(text.contains("✗ regressed"), "{text}");
}

#[test]
fn samples_of_the_same_distribution_are_unchanged() {
    for seed in 0..6u64 {
        let base = lognormal_run(100 + seed, 1.0, 0.01);
        let new = lognormal_run(200 + seed, 1.0, 0.01);
        let c = compare(&base, &new, &CompareOptions::default());
        let text = render_text(&c);
        assert_eq!(c.rows.len(), 12, "6 totals and 6 for the one request name:\n{text}");
        for r in &c.rows {
            assert_eq!(r.verdict, ChangeVerdict::Unchanged, "seed {seed}: {:?}\n{text}", r.metric);
        }
        assert!(!c.has_regressions());
    }
}

#[test]
fn a_significant_but_small_change_is_unchanged() {
    // 3% slower on 20 000 samples is real, but below the 5% minimum effect.
    let base = lognormal_run(7, 1.0, 0.0);
    let new = lognormal_run(8, 1.03, 0.0);
    let c = compare(&base, &new, &CompareOptions::default());
    let p50 = row(&c, None, ComparedMetric::P50);
    assert!(p50.interval.unwrap()[0] > 0.0, "significant: {:?}", p50.interval);
    assert_eq!(p50.verdict, ChangeVerdict::Unchanged, "{}", render_text(&c));
    // With a 1% minimum effect the same change counts.
    let strict = compare(&base, &new, &CompareOptions { min_effect: 0.01, ..Default::default() });
    assert_eq!(row(&strict, None, ComparedMetric::P50).verdict, ChangeVerdict::Regressed);
}

#[test]
fn error_rates_use_a_two_proportion_test() {
    let base = lognormal_run(11, 1.0, 0.01);
    let worse = lognormal_run(12, 1.0, 0.02);
    let c = compare(&base, &worse, &CompareOptions::default());
    let r = row(&c, None, ComparedMetric::ErrorRate);
    assert_eq!(r.verdict, ChangeVerdict::Regressed, "{}", render_text(&c));
    assert!((0.007..0.013).contains(&r.change.unwrap()), "absolute change {:?}", r.change);
    let better = compare(&worse, &base, &CompareOptions::default());
    assert_eq!(row(&better, None, ComparedMetric::ErrorRate).verdict, ChangeVerdict::Improved);
}

#[test]
fn extreme_percentiles_of_small_runs_are_not_judged() {
    // 20 s × 1000 requests against 2 s × 100: p99 of the small run has 2 samples beyond it.
    let base = lognormal_run(31, 1.0, 0.0);
    let mut rng = SmallRng::seed_from_u64(32);
    let mut latency = |_: usize, _: usize| 40.0 * (0.5 * normal(&mut rng)).exp();
    let mut failure = |_: usize, _: usize| None;
    let small = build(Shape {
        seconds: vec![Second { vus: 20.0, requests: 100 }; 2],
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 2.0, 20)],
        thresholds: Vec::new(),
    });
    let c = compare(&base, &small, &CompareOptions::default());
    let text = render_text(&c);
    let p99 = row(&c, None, ComparedMetric::P99);
    assert_eq!(p99.verdict, ChangeVerdict::TooFewSamples, "{text}");
    assert!(p99.change.is_some() && p99.interval.is_none());
    // The median of 200 samples is judged: twice as slow.
    assert_eq!(row(&c, None, ComparedMetric::P50).verdict, ChangeVerdict::Regressed, "{text}");
    assert!(c.tally().contains("with too few samples"), "{}", c.tally());
}

#[test]
fn comparisons_repeat_exactly_and_serialize() {
    let base = lognormal_run(21, 1.0, 0.01);
    let new = lognormal_run(22, 1.05, 0.01);
    let a = compare(&base, &new, &CompareOptions::default());
    let b = compare(&base, &new, &CompareOptions::default());
    assert_eq!(a, b, "seeded bootstrap");
    let json = serde_json::to_string(&a).unwrap();
    let back: Comparison = serde_json::from_str(&json).unwrap();
    assert_eq!(a, back);
    assert!(
        json.contains("\"verdict\":\"regressed\"") || json.contains("\"verdict\":\"unchanged\""),
        "{json}"
    );
}

// ---------------------------------------------------------------------------------------------
// Grades

fn threshold(metric: &str, expr: &str) -> ThresholdResult {
    ThresholdResult {
        metric: metric.into(),
        expr: expr.into(),
        ok: true,
        observed: None,
        abort_on_fail: false,
    }
}

/// 10 s at 100 req/s, every request taking `latency_ms`, `failures` of them failing.
fn fixed_run(latency_ms: f64, failures: usize, thresholds: Vec<ThresholdResult>) -> Summary {
    let mut latency = |_: usize, _: usize| latency_ms;
    let mut failure = |s: usize, i: usize| (s * 100 + i < failures).then_some("timeout");
    build(Shape {
        seconds: vec![Second { vus: 10.0, requests: 100 }; 10],
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 10.0, 10)],
        thresholds,
    })
}

#[test]
fn latency_alone_moves_the_grade_across_each_band_edge() {
    // Only latency weighs: the score is 100 × credit, full at 100 ms, none at 200 ms.
    let config = GradingConfig {
        weights: GradeWeights { latency: 1.0, errors: 0.0, throughput: 0.0, consistency: 0.0 },
        latency_ms: Target::config(100.0),
        ..GradingConfig::default()
    };
    let cases = [
        (100.0, 100, Band::A),
        (110.0, 90, Band::A),
        (111.0, 89, Band::B),
        (130.0, 70, Band::B),
        (131.0, 69, Band::C),
        (150.0, 50, Band::C),
        (151.0, 49, Band::D),
        (250.0, 0, Band::D),
    ];
    for (latency, score, band) in cases {
        let g = grade(&fixed_run(latency, 0, Vec::new()), &config);
        assert_eq!((g.score, g.band), (score, band), "p95 {latency} ms: {g:#?}");
    }
    assert_eq!(Band::A.label(), "EXCELLENT");
    assert_eq!(Band::D.label(), "POOR");
}

#[test]
fn default_grading_takes_its_targets_from_thresholds() {
    let thresholds = vec![
        threshold("http_req_duration", "p(95)<50"),
        threshold("http_req_failed", "rate<0.01"),
        threshold("http_reqs", "rate>200"),
    ];
    // 40 ms against 50: full latency. 1% errors against 1%: full. 100 req/s against 200: none.
    // Consistency is full (every request takes the same time). (40 + 30 + 0 + 10) / 100.
    let s = fixed_run(40.0, 10, thresholds.clone());
    let g = grade(&s, &GradingConfig::for_summary(&s));
    assert_eq!(g.score, 80, "{g:#?}");
    assert_eq!(g.band, Band::B);
    assert_eq!(g.headline(), "B · 80/100 GOOD");
    let throughput = g.components.iter().find(|c| c.kind == ComponentKind::Throughput).unwrap();
    assert_eq!(throughput.points, Some(0.0));
    assert!(
        throughput.detail.contains("100.0 req/s vs target 200 req/s (threshold)"),
        "{}",
        throughput.detail
    );
    assert!(g.recommendations.iter().any(|r| r.finding == "throughput below target"), "{g:#?}");

    // 2% errors against 1% leaves no error points: 50 of 100 is still C, the edge of FAIR.
    let s = fixed_run(40.0, 20, thresholds.clone());
    let g = grade(&s, &GradingConfig::for_summary(&s));
    assert_eq!((g.score, g.band), (50, Band::C), "{g:#?}");
    // And a latency just past its target drops it below the edge.
    let s = fixed_run(51.0, 20, thresholds);
    let g = grade(&s, &GradingConfig::for_summary(&s));
    assert_eq!((g.score, g.band), (49, Band::D), "{g:#?}");
}

#[test]
fn without_a_throughput_target_the_other_components_make_the_score() {
    let s = fixed_run(10.0, 0, Vec::new());
    let g = grade(&s, &GradingConfig::for_summary(&s));
    assert_eq!(g.score, 100);
    assert_eq!(g.breakdown(), "latency 40/40 · errors 30/30 · throughput – · consistency 10/10");
    assert!(g.recommendations.is_empty(), "{g:#?}");
}

// ---------------------------------------------------------------------------------------------
// Recommendations

#[test]
fn a_long_tail_and_timeouts_are_explained_with_evidence() {
    // 97% at 10 ms, 3% at 50 ms: p95 10 ms, p99 50 ms. The slow ones time out.
    let mut latency = |_: usize, i: usize| if i % 100 < 3 { 50.0 } else { 10.0 };
    let mut failure = |_: usize, i: usize| match i % 100 {
        0 | 1 => Some("timeout"),
        2 => Some("status_429"),
        _ => None,
    };
    let s = build(Shape {
        seconds: vec![Second { vus: 10.0, requests: 100 }; 10],
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 10.0, 10)],
        thresholds: Vec::new(),
    });
    let g = grade(&s, &GradingConfig::for_summary(&s));
    let find = |finding: &str| {
        g.recommendations
            .iter()
            .find(|r| r.finding == finding)
            .unwrap_or_else(|| panic!("no {finding:?} in {g:#?}"))
    };
    let tail = find("a long tail");
    // HDR buckets: 10 ms reads as 10.01 ms at three significant figures.
    assert!(tail.evidence.starts_with("p99/p95 = 5.0 (p95 10.01ms, p99 50.00ms)"), "{}", tail.evidence);
    let timeouts = find("timeouts");
    assert_eq!(timeouts.evidence, "67% of errors are timeout (20 of 30, all from api)");
    assert_eq!(timeouts.severity, Severity::Critical);
    let limited = find("rate limited");
    assert!(limited.evidence.starts_with("33% of errors are status_429"), "{}", limited.evidence);
    let rate = find("error rate above the 1.0% target");
    assert!(rate.evidence.starts_with("3.0% of requests failed (30 of 1000)"), "{}", rate.evidence);
    // Most severe first.
    assert!(g.recommendations.windows(2).all(|w| w[0].severity <= w[1].severity), "{g:#?}");
}

#[test]
fn flat_throughput_while_vus_double_is_saturation() {
    // 10 VUs for 10 s, then 20 VUs for 10 s; throughput stays at 100 req/s, latency doubles.
    let seconds: Vec<Second> =
        (0..20).map(|s| Second { vus: if s < 10 { 10.0 } else { 20.0 }, requests: 100 }).collect();
    let mut latency = |s: usize, _: usize| if s < 10 { 100.0 } else { 200.0 };
    let mut failure = |_: usize, _: usize| None;
    let s = build(Shape {
        seconds,
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 10.0, 10), stage(10.0, 10.0, 20)],
        thresholds: Vec::new(),
    });
    let g = grade(&s, &GradingConfig::for_summary(&s));
    let r = g.recommendations.iter().find(|r| r.finding == "saturation").unwrap_or_else(|| panic!("{g:#?}"));
    assert!(
        r.evidence.starts_with("throughput flat at ~100 req/s while VUs doubled (10 → 20, 0s–20s)"),
        "{}",
        r.evidence
    );
    assert!(r.evidence.contains("p95 rose from 100.00ms to 200.00ms"), "{}", r.evidence);
    assert!(r.advice.contains("about 10 VUs"), "{}", r.advice);
}

#[test]
fn throughput_that_follows_the_vus_is_not_saturation() {
    let seconds: Vec<Second> =
        (0..20)
            .map(|s| {
                if s < 10 { Second { vus: 10.0, requests: 100 } } else { Second { vus: 20.0, requests: 200 } }
            })
            .collect();
    let mut latency = |_: usize, _: usize| 100.0;
    let mut failure = |_: usize, _: usize| None;
    let s = build(Shape {
        seconds,
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 10.0, 10), stage(10.0, 10.0, 20)],
        thresholds: Vec::new(),
    });
    let g = grade(&s, &GradingConfig::for_summary(&s));
    assert!(g.recommendations.is_empty(), "{g:#?}");
}

#[test]
fn latency_growing_at_a_steady_load_is_reported() {
    let mut latency = |s: usize, _: usize| 10.0 + s as f64;
    let mut failure = |_: usize, _: usize| None;
    let s = build(Shape {
        seconds: vec![Second { vus: 10.0, requests: 50 }; 30],
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 30.0, 10)],
        thresholds: Vec::new(),
    });
    let g = grade(&s, &GradingConfig::for_summary(&s));
    let r = g
        .recommendations
        .iter()
        .find(|r| r.finding == "latency grew under a steady load")
        .unwrap_or_else(|| panic!("{g:#?}"));
    assert!(r.evidence.contains("at a steady 10 VUs (0s–30s)"), "{}", r.evidence);
}

#[test]
fn a_sub_millisecond_tail_is_not_a_long_tail() {
    // p95 0.2 ms, p99 0.6 ms: a ratio of 3, but 0.4 ms is scheduling noise.
    let mut latency = |_: usize, i: usize| if i % 100 < 3 { 0.6 } else { 0.2 };
    let mut failure = |_: usize, _: usize| None;
    let s = build(Shape {
        seconds: vec![Second { vus: 10.0, requests: 100 }; 10],
        latency: &mut latency,
        failure: &mut failure,
        stages: vec![stage(0.0, 10.0, 10)],
        thresholds: Vec::new(),
    });
    let g = grade(&s, &GradingConfig::for_summary(&s));
    let c = g.components.iter().find(|c| c.kind == ComponentKind::Consistency).unwrap();
    assert_eq!(c.points, Some(10.0), "{c:?}");
    assert!(c.detail.contains("within 5.00ms of p95"), "{}", c.detail);
    assert!(g.recommendations.is_empty(), "{g:#?}");
    // Without the floor the ratio counts.
    let strict = GradingConfig { consistency_floor_ms: 0.0, ..GradingConfig::for_summary(&s) };
    let g = grade(&s, &strict);
    assert!(g.recommendations.iter().any(|r| r.finding == "a long tail"), "{g:#?}");
    assert!(g.score < 100);
}
