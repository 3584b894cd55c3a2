//! The collector: the one owner of the aggregated metrics. It drains the sample channel,
//! closes per-second buckets, evaluates thresholds every second (aborting the run when an
//! `abort_on_fail` threshold is crossed), and publishes live figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use stampede_metrics::{
    Aggregator, MetricId, Registry, Sample, Snapshot, Stat, SubMetricId, TagSetId, builtin,
};
use stampede_plan::{Plan, ThresholdRule};
use stampede_proto::LiveMetrics;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::open::RateSchedule;
use crate::vu::VuCounts;

/// Live figures, published once a second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveStats {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Planned total duration (longest scenario end, without graceful stop).
    pub planned: Duration,
    /// VUs active now.
    pub vus: u64,
    /// One entry per protocol the plan uses, in the order the binary registered them.
    pub protocols: Vec<LiveProtocol>,
    /// Completed iterations so far.
    pub iterations: u64,
    /// Threshold rules failing right now.
    pub failing_thresholds: usize,
}

/// One protocol's live figures, from the metrics it names in
/// [`stampede_proto::Protocol::live_metrics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveProtocol {
    /// The protocol's name (`http`).
    pub name: &'static str,
    /// What one call is (`req`, `msg`, `call`).
    pub unit: &'static str,
    /// Calls so far.
    pub count: u64,
    /// Calls in the last second.
    pub per_second: f64,
    /// Failed fraction so far.
    pub error_rate: f64,
    /// p95 of the call duration so far, in ms (`None` before the first).
    pub p95_ms: Option<f64>,
}

/// One threshold rule's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdOutcome {
    /// The metric key, e.g. `http_req_duration{name:health}`.
    pub key: String,
    /// The expression, e.g. `p(95)<500`.
    pub source: String,
    /// Whether it held. A metric without data passes (as in k6) and has no observed value.
    pub passed: bool,
    /// The value the expression was checked against.
    pub observed: Option<f64>,
    /// Whether a failure aborts the run.
    pub abort_on_fail: bool,
}

/// Most batches taken from the channel at once.
const DRAIN_BATCHES: usize = 1024;

pub(crate) struct CollectorSetup {
    pub rx: mpsc::Receiver<Vec<Sample>>,
    pub registry: Arc<Registry>,
    pub plan: Arc<Plan>,
    pub epoch: Instant,
    pub counts: Arc<VuCounts>,
    /// Per scenario: the `scenario` tag set and its active VU count (the `vus{scenario}` gauge).
    pub per_scenario: Vec<(TagSetId, Arc<AtomicU64>)>,
    pub kill: CancellationToken,
    pub live: Option<watch::Sender<LiveStats>>,
    /// Per protocol the plan uses: its name and the metrics of its live figures.
    pub live_metrics: Vec<(&'static str, LiveMetrics)>,
    /// The breakpoint scenario's start and rate schedule, if the plan has one: then every
    /// threshold ends the run when crossed, and the result names the breaking point.
    pub breakpoint: Option<(Duration, RateSchedule)>,
}

pub(crate) struct CollectorOutcome {
    pub snapshot: Snapshot,
    pub thresholds: Vec<ThresholdOutcome>,
    pub abort: Option<String>,
    pub duration: Duration,
    pub breaking_point: Option<BreakingPoint>,
}

/// What a breakpoint test found.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakingPoint {
    /// The highest arrival rate (per second) at which every threshold still held.
    pub max_passing_rate: f64,
    /// When a threshold broke (from the run's start) and the rate then; `None` when the test
    /// reached its max rate without breaking.
    pub broke: Option<(Duration, f64)>,
    /// The thresholds that were crossed at the break, with their observed values.
    pub evidence: Vec<ThresholdOutcome>,
}

struct CompiledRule {
    key: String,
    metric: MetricId,
    sub: Option<SubMetricId>,
    rule: ThresholdRule,
}

pub(crate) async fn run(setup: CollectorSetup) -> CollectorOutcome {
    let CollectorSetup {
        mut rx,
        registry,
        plan,
        epoch,
        counts,
        per_scenario,
        kill,
        live,
        live_metrics,
        breakpoint,
    } = setup;
    let mut agg = Aggregator::new(registry.clone());
    let rules = compile_rules(&plan, &registry, &mut agg);
    let planned =
        plan.scenarios.iter().map(|s| s.start_time + s.executor.duration()).max().unwrap_or_default();

    let mut tick = tokio::time::interval_at(epoch + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut abort: Option<String> = None;
    let mut last_counts = vec![0u64; live_metrics.len()];
    // Breakpoint: the last time every threshold held, and what broke.
    let mut last_passing = Duration::ZERO;
    let mut broke: Option<(Duration, Vec<ThresholdOutcome>)> = None;
    record_vus(&mut agg, &counts, &per_scenario, 0);
    // Drain many batches per wake-up: with thousands of VU tasks in the scheduler's queue, a
    // collector that took one batch per poll would fall behind and the VUs' buffers would grow.
    let mut batches: Vec<Vec<Sample>> = Vec::with_capacity(DRAIN_BATCHES);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batches, DRAIN_BATCHES) => {
                if n == 0 {
                    break;
                }
                for batch in batches.drain(..) {
                    agg.ingest(&batch);
                }
            }
            _ = tick.tick() => {
                let elapsed = epoch.elapsed();
                let now_us = elapsed.as_micros() as u64;
                record_vus(&mut agg, &counts, &per_scenario, now_us);
                agg.advance(now_us);
                let outcomes = evaluate(&agg, &rules, elapsed);
                if breakpoint.is_some() && broke.is_none() {
                    let crossed: Vec<ThresholdOutcome> = outcomes.iter().filter(|o| !o.passed).cloned().collect();
                    if crossed.is_empty() {
                        last_passing = elapsed;
                    } else {
                        abort = Some(format!("breaking point: {}: {}", crossed[0].key, crossed[0].source));
                        broke = Some((elapsed, crossed));
                        kill.cancel();
                    }
                }
                if abort.is_none() {
                    if let Some((o, _)) = outcomes.iter().zip(&rules).find(|(o, r)| {
                        !o.passed && o.abort_on_fail && elapsed >= r.rule.delay_abort_eval
                    }) {
                        abort = Some(format!("{}: {}", o.key, o.source));
                        kill.cancel();
                    }
                }
                if let Some(live) = &live {
                    let protocols = live_metrics
                        .iter()
                        .zip(&mut last_counts)
                        .map(|((name, m), last)| {
                            let count = count(&agg, m.count, elapsed);
                            let per_second = count.saturating_sub(*last) as f64;
                            *last = count;
                            LiveProtocol {
                                name,
                                unit: m.unit,
                                count,
                                per_second,
                                error_rate: agg.stat(m.failed, None, Stat::Rate, elapsed).unwrap_or(0.0),
                                p95_ms: agg.stat(m.duration, None, Stat::Percentile(95.0), elapsed),
                            }
                        })
                        .collect();
                    live.send_replace(LiveStats {
                        elapsed,
                        planned,
                        vus: counts.active.load(Ordering::Relaxed),
                        protocols,
                        iterations: count(&agg, builtin::ITERATIONS, elapsed),
                        failing_thresholds: outcomes.iter().filter(|o| !o.passed).count(),
                    });
                }
            }
        }
    }
    let elapsed = epoch.elapsed();
    let end_us = elapsed.as_micros() as u64;
    record_vus(&mut agg, &counts, &per_scenario, end_us);
    agg.finish(end_us);
    let thresholds = evaluate(&agg, &rules, elapsed);
    if let (Some(_), None) = (&breakpoint, &broke) {
        // Reached the end (or was cancelled) without a break: the final evaluation decides.
        if thresholds.iter().all(|t| t.passed) {
            last_passing = elapsed;
        }
    }
    let breaking_point = breakpoint.map(|(start, schedule)| {
        let rate_at = |t: Duration| schedule.rate_at(t.saturating_sub(start).as_secs_f64());
        BreakingPoint {
            max_passing_rate: rate_at(last_passing),
            broke: broke.as_ref().map(|(at, _)| (*at, rate_at(*at))),
            evidence: broke.map(|(_, e)| e).unwrap_or_default(),
        }
    });
    CollectorOutcome { snapshot: agg.snapshot(elapsed), thresholds, abort, duration: elapsed, breaking_point }
}

fn count(agg: &Aggregator, metric: MetricId, elapsed: Duration) -> u64 {
    agg.stat(metric, None, Stat::Count, elapsed).unwrap_or(0.0) as u64
}

fn record_vus(
    agg: &mut Aggregator,
    counts: &VuCounts,
    per_scenario: &[(TagSetId, Arc<AtomicU64>)],
    time: u64,
) {
    let vus = counts.active.load(Ordering::Relaxed) as f64;
    let vus_max = counts.allocated.load(Ordering::Relaxed) as f64;
    agg.ingest(&[
        Sample { metric: builtin::VUS, tags: TagSetId::EMPTY, time, value: vus },
        Sample { metric: builtin::VUS_MAX, tags: TagSetId::EMPTY, time, value: vus_max },
    ]);
    // Per scenario, only when there are several: with one, it is the total again.
    if per_scenario.len() > 1 {
        for (tags, active) in per_scenario {
            let value = active.load(Ordering::Relaxed) as f64;
            agg.ingest(&[Sample { metric: builtin::VUS, tags: *tags, time, value }]);
        }
    }
}

fn compile_rules(plan: &Plan, registry: &Registry, agg: &mut Aggregator) -> Vec<CompiledRule> {
    let mut rules = Vec::new();
    for threshold in &plan.thresholds {
        // The plan validated every metric name; one that is still unknown here has no data.
        let Some(metric) = registry.lookup(&threshold.metric) else { continue };
        let sub = (!threshold.tags.is_empty()).then(|| agg.track_submetric(metric, &threshold.tags));
        for rule in &threshold.rules {
            rules.push(CompiledRule { key: threshold.key.clone(), metric, sub, rule: rule.clone() });
        }
    }
    rules
}

fn evaluate(agg: &Aggregator, rules: &[CompiledRule], elapsed: Duration) -> Vec<ThresholdOutcome> {
    rules
        .iter()
        .map(|r| {
            let observed = agg.stat(r.metric, r.sub, r.rule.expr.stat, elapsed);
            ThresholdOutcome {
                key: r.key.clone(),
                source: r.rule.source.clone(),
                passed: observed.is_none_or(|v| r.rule.expr.is_met(v)),
                observed,
                abort_on_fail: r.rule.abort_on_fail,
            }
        })
        .collect()
}
