//! The data behind the report's charts over time, embedded as JSON and drawn by
//! `assets/report.js` with uPlot.

use serde::Serialize;

use crate::Summary;
use crate::charts::data::{self, StageMark};

/// Everything the page's script draws.
#[derive(Debug, Serialize)]
pub(super) struct PageData {
    /// X positions: the middle of each second of the series.
    pub t: Vec<f64>,
    /// End of the x axis in seconds.
    pub x_max: f64,
    /// Stage boundaries drawn on every chart.
    pub marks: Vec<Mark>,
    /// The charts, in page order.
    pub charts: Vec<ChartData>,
}

/// A stage boundary.
#[derive(Debug, Serialize)]
pub(super) struct Mark {
    pub at: f64,
    pub label: String,
}

/// One chart's series.
#[derive(Debug, Serialize)]
pub(super) struct ChartData {
    /// Matches `data-chart` of its container.
    pub id: String,
    /// How the script formats values: `ms`, `rps`, `count`, `percent`, `bytes`.
    pub unit: &'static str,
    pub series: Vec<SeriesData>,
}

/// One line.
#[derive(Debug, Serialize)]
pub(super) struct SeriesData {
    pub label: String,
    pub color: &'static str,
    pub width: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash: Option<[u32; 2]>,
    pub values: Vec<Option<f64>>,
}

/// A chart with the heading the page shows above it.
#[derive(Debug)]
pub(super) struct ChartCard {
    pub title: String,
    pub subtitle: String,
    pub data: ChartData,
}

/// Colours of request names, in order (the PNG charts use the same).
const PALETTE: [&str; 8] =
    ["#4f46e5", "#0891b2", "#d97706", "#db2777", "#059669", "#7c3aed", "#65a30d", "#0284c7"];
/// Request names drawn one line each at most; the rest would be noise.
const MAX_NAMES: usize = 8;

/// Three decimals are plenty for a chart and keep the embedded JSON small.
fn rounded(values: Vec<Option<f64>>) -> Vec<Option<f64>> {
    values.into_iter().map(|v| v.filter(|x| x.is_finite()).map(|x| (x * 1000.0).round() / 1000.0)).collect()
}

fn line(label: impl Into<String>, color: &'static str, values: Vec<Option<f64>>) -> SeriesData {
    SeriesData { label: label.into(), color, width: 2.0, fill: None, dash: None, values: rounded(values) }
}

/// Request names, most requested first.
fn top_names(s: &Summary) -> Vec<&str> {
    let mut rows: Vec<_> = s.requests.iter().collect();
    rows.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.name.cmp(&b.name)));
    rows.into_iter().map(|r| r.name.as_str()).collect()
}

/// The charts over time, in page order; charts without any data are left out.
pub(super) fn charts(s: &Summary) -> Vec<ChartCard> {
    let mut cards = Vec::new();
    let card = |id: &str, title: &str, subtitle: &str, unit, series: Vec<SeriesData>| ChartCard {
        title: title.to_string(),
        subtitle: subtitle.to_string(),
        data: ChartData { id: id.to_string(), unit, series },
    };

    if let Some(rps) = data::counter_per_second(s, "http_reqs") {
        let mut total = line("requests/s", "#4f46e5", rps);
        total.fill = Some("rgba(79, 70, 229, 0.08)");
        let mut series = vec![total];
        if let Some(it) = data::counter_per_second(s, "iterations") {
            let mut iterations = line("iterations/s", "#94a3b8", it);
            iterations.width = 1.5;
            series.push(iterations);
        }
        cards.push(card("throughput", "Throughput", "requests completed per second", "rps", series));
    }

    if let Some(t) = data::trend(s, "http_req_duration") {
        let series = vec![
            line("p50", "#38bdf8", data::widen(&t.p50)),
            line("p90", "#6366f1", data::widen(&t.p90)),
            line("p95", "#f59e0b", data::widen(&t.p95)),
            line("p99", "#dc2626", data::widen(&t.p99)),
        ];
        cards.push(card(
            "latency",
            "Response time percentiles",
            "http_req_duration per second: p50, p90, p95, p99",
            "ms",
            series,
        ));
    }

    if let Some(failed) = data::passes_per_second(s, "http_req_failed") {
        let mut total = line("failed requests/s", "#dc2626", failed);
        total.fill = Some("rgba(220, 38, 38, 0.08)");
        let mut series = vec![total];
        let failing = s.requests.iter().filter(|r| r.failures > 0);
        for (i, r) in failing.take(MAX_NAMES).enumerate() {
            if let Some(v) = data::passes_per_second(s, &data::by_name("http_req_failed", &r.name)) {
                let mut per_name = line(r.name.as_str(), PALETTE[i % PALETTE.len()], v);
                per_name.width = 1.5;
                series.push(per_name);
            }
        }
        if let Some(dropped) = data::counter_per_second(s, "dropped_iterations") {
            let mut d = line("dropped iterations/s", "#b45309", dropped);
            d.dash = Some([6, 4]);
            series.push(d);
        }
        cards.push(card(
            "errors",
            "Errors",
            "failed requests per second, in total and per request name",
            "rps",
            series,
        ));
    }

    if let Some(vus) = data::gauge(s, "vus") {
        let mut active = line("active VUs", "#10b981", vus.to_vec());
        active.fill = Some("rgba(16, 185, 129, 0.10)");
        cards.push(card("vus", "Active VUs", "virtual users running, all scenarios", "count", vec![active]));
    }

    let mut by_name = Vec::new();
    if let Some(t) = data::trend(s, "http_req_duration") {
        let mut total = line("all requests", "#0f172a", data::widen(&t.p95));
        total.dash = Some([6, 4]);
        by_name.push(total);
    }
    for (i, name) in top_names(s).into_iter().take(MAX_NAMES).enumerate() {
        if let Some(t) = data::trend(s, &data::by_name("http_req_duration", name)) {
            by_name.push(line(name, PALETTE[i % PALETTE.len()], data::widen(&t.p95)));
        }
    }
    if by_name.len() > 1 {
        cards.push(card(
            "latency_by_name",
            "p95 by request name",
            "per-second p95 of each request name (most requested first)",
            "ms",
            by_name,
        ));
    }

    cards
}

/// Charts of resource use (CPU, memory…), one per metric; empty when none was recorded.
pub(super) fn resource_charts(s: &Summary) -> Vec<ChartCard> {
    let mut cards = Vec::new();
    for key in data::resource_keys(s) {
        let (unit, values) = if let Some(g) = data::gauge(s, key) {
            (resource_unit(key), g.to_vec())
        } else if let Some(c) = data::counter_per_second(s, key) {
            ("count", c)
        } else {
            continue;
        };
        cards.push(ChartCard {
            title: key.to_string(),
            subtitle: "per second".to_string(),
            data: ChartData {
                id: format!("resource_{}", cards.len()),
                unit,
                series: vec![line(key, "#0891b2", values)],
            },
        });
    }
    cards
}

/// A resource gauge's unit, guessed from its name.
pub(super) fn resource_unit(key: &str) -> &'static str {
    if key.contains("bytes") || key.contains("memory") || key.contains("rss") {
        "bytes"
    } else if key.contains("cpu") || key.contains("percent") {
        "percent"
    } else {
        "count"
    }
}

/// The embedded page data for `cards`.
pub(super) fn page_data(s: &Summary, cards: Vec<ChartCard>) -> PageData {
    let t: Vec<f64> = data::seconds(s).iter().map(|&t| f64::from(t) + 0.5).collect();
    let x_max = t.last().copied().unwrap_or(0.0).max(s.run.duration_secs).max(1.0);
    let marks = data::stage_marks(s).into_iter().map(|StageMark { at, label }| Mark { at, label }).collect();
    PageData { t, x_max, marks, charts: cards.into_iter().map(|c| c.data).collect() }
}
