//! Charts as image files (`--charts DIR`): PNG for documents and chat, SVG for the web.
//!
//! Four charts, each written as `<name>.png` and `<name>.svg`:
//!
//! * `response_time_by_name` — p50, p95 and p99 of `http_req_duration` per request name;
//! * `p95_over_time` — p95 per second, in total and per request name, stage boundaries marked;
//! * `error_rate_by_name` — the failed share of each request name's requests;
//! * `throughput_vus_over_time` — requests per second and active VUs, stage boundaries marked.
//!
//! Drawn with plotters without its system-font features: the text is set in Open Sans, embedded
//! in the binary (`assets/fonts`, Apache-2.0), so a chart looks the same on every machine and
//! nothing needs fontconfig. Each chart is rendered to memory first ([`render`]), so the caller
//! decides how files are written (the CLI writes them atomically).

mod canvas;
pub(crate) mod data;
mod draw;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{ReportError, Summary};
use canvas::PngCanvas;
use draw::{BarChart, Bars, Line, LineChart, Unit};

/// Open Sans Regular, from Debian's `fonts-open-sans` (Apache-2.0; licence beside the file).
static FONT: &[u8] = include_bytes!("../assets/fonts/OpenSans-Regular.ttf");

const WIDTH: u32 = 1000;
const LINE_HEIGHT: u32 = 560;
/// Bar charts list at most this many request names (the most requested); more would not read.
const MAX_BAR_NAMES: usize = 25;
/// Over-time charts draw at most this many request names besides the total.
const MAX_LINE_NAMES: usize = 8;

/// Colours of request names, in order.
const PALETTE: [RGBColor; 8] = [
    RGBColor(79, 70, 229),
    RGBColor(8, 145, 178),
    RGBColor(217, 119, 6),
    RGBColor(219, 39, 119),
    RGBColor(5, 150, 105),
    RGBColor(124, 58, 237),
    RGBColor(101, 163, 13),
    RGBColor(2, 132, 199),
];

/// One rendered file, not yet written.
#[derive(Debug, Clone)]
pub struct ChartFile {
    /// File name, e.g. `p95_over_time.svg`.
    pub file_name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Renders every chart as PNG and SVG in memory, in a fixed order.
pub fn render(summary: &Summary) -> Result<Vec<ChartFile>, ReportError> {
    ensure_font()?;
    let mut files = Vec::new();
    for (name, spec) in specs(summary) {
        let (svg, png) = match &spec {
            Spec::Lines(c) => (
                svg(name, LINE_HEIGHT, |a| draw::lines(a, c))?,
                png(name, LINE_HEIGHT, |a| draw::lines(a, c))?,
            ),
            Spec::Bars(c) => {
                let h = c.height();
                (svg(name, h, |a| draw::bars(a, c))?, png(name, h, |a| draw::bars(a, c))?)
            }
        };
        files.push(ChartFile { file_name: format!("{name}.png"), bytes: png });
        files.push(ChartFile { file_name: format!("{name}.svg"), bytes: svg.into_bytes() });
    }
    Ok(files)
}

/// Renders every chart into `dir` (created if missing); returns the paths written.
pub fn render_charts(summary: &Summary, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let files = render(summary)?;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let mut written = Vec::with_capacity(files.len());
    for f in files {
        let path = dir.join(&f.file_name);
        std::fs::write(&path, &f.bytes).map_err(|source| ReportError::Io { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

fn ensure_font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(draw::FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Chart { chart: "all".into(), detail: "the embedded font does not load".into() })
    }
}

fn chart_error(chart: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart { chart: chart.to_string(), detail: e.to_string() }
}

fn svg<F>(name: &str, height: u32, draw: F) -> Result<String, ReportError>
where
    F: for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> draw::DrawResult<SVGBackend<'a>>,
{
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        draw(&root).map_err(|e| chart_error(name, e))?;
    }
    Ok(out)
}

fn png<F>(name: &str, height: u32, draw: F) -> Result<Vec<u8>, ReportError>
where
    F: for<'a> FnOnce(&DrawingArea<PngCanvas<'a>, Shift>) -> draw::DrawResult<PngCanvas<'a>>,
{
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = PngCanvas::new(BitMapBackend::with_buffer(&mut rgb, (WIDTH, height))).into_drawing_area();
        draw(&root).map_err(|e| chart_error(name, e))?;
    }
    encode_png(&rgb, WIDTH, height).map_err(|e| chart_error(name, e))
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

enum Spec {
    Lines(LineChart),
    Bars(BarChart),
}

/// `2026-11-24T15:02:19.818Z` → `2026-11-24 15:02:19 UTC`.
pub(crate) fn readable_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..19)) {
        (Some(date), Some(time)) if rfc3339.ends_with('Z') => format!("{date} {time} UTC"),
        _ => rfc3339.to_string(),
    }
}

fn subtitle(s: &Summary) -> String {
    format!(
        "{} · {} · {:.1}s · max {} VUs · {}",
        s.run.plan,
        readable_time(&s.run.started_at),
        s.run.duration_secs,
        s.run.max_vus,
        s.run.verdict.label()
    )
}

/// Request names, most requested first.
fn names_by_requests(s: &Summary) -> Vec<&crate::RequestStats> {
    let mut rows: Vec<_> = s.requests.iter().collect();
    rows.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.name.cmp(&b.name)));
    rows
}

fn specs(s: &Summary) -> Vec<(&'static str, Spec)> {
    let sub = subtitle(s);
    // Points sit mid-second (see `draw::runs`), so the last one is at `len - 0.5`.
    let x_max = (data::seconds(s).len() as f64 - 0.5).max(s.run.duration_secs).max(1.0);
    let marks = data::stage_marks(s);

    let mut by_p95: Vec<_> = names_by_requests(s).into_iter().take(MAX_BAR_NAMES).collect();
    by_p95.sort_by(|a, b| b.p95.total_cmp(&a.p95));
    let response_time = BarChart {
        title: "Response time by request name".into(),
        subtitle: sub.clone(),
        unit: Unit::Ms,
        categories: by_p95.iter().map(|r| r.name.clone()).collect(),
        groups: vec![
            Bars {
                label: "p50".into(),
                color: RGBColor(96, 165, 250),
                values: by_p95.iter().map(|r| r.med).collect(),
            },
            Bars {
                label: "p95".into(),
                color: RGBColor(245, 158, 11),
                values: by_p95.iter().map(|r| r.p95).collect(),
            },
            Bars {
                label: "p99".into(),
                color: RGBColor(220, 38, 38),
                values: by_p95.iter().map(|r| r.p99).collect(),
            },
        ],
        notes: Vec::new(),
    };

    let mut p95_lines = Vec::new();
    if let Some(t) = data::trend(s, "http_req_duration") {
        p95_lines.push(Line {
            label: "all requests".into(),
            color: RGBColor(17, 24, 39),
            values: data::widen(&t.p95),
            width: 3,
            on_secondary: false,
        });
    }
    for (i, r) in names_by_requests(s).into_iter().take(MAX_LINE_NAMES).enumerate() {
        if let Some(t) = data::trend(s, &data::by_name("http_req_duration", &r.name)) {
            p95_lines.push(Line {
                label: r.name.clone(),
                color: PALETTE[i % PALETTE.len()],
                values: data::widen(&t.p95),
                width: 2,
                on_secondary: false,
            });
        }
    }
    let p95 = LineChart {
        title: "p95 response time over time".into(),
        subtitle: sub.clone(),
        unit: Unit::Ms,
        secondary: None,
        lines: p95_lines,
        marks: marks.clone(),
        x_max,
    };

    let mut by_errors: Vec<_> = names_by_requests(s).into_iter().take(MAX_BAR_NAMES).collect();
    let share = |r: &crate::RequestStats| {
        if r.requests == 0 { 0.0 } else { r.failures as f64 * 100.0 / r.requests as f64 }
    };
    by_errors.sort_by(|a, b| share(b).total_cmp(&share(a)).then_with(|| a.name.cmp(&b.name)));
    let error_rate = BarChart {
        title: "Error rate by request name".into(),
        subtitle: sub.clone(),
        unit: Unit::Percent,
        categories: by_errors.iter().map(|r| r.name.clone()).collect(),
        groups: vec![Bars {
            label: "failed requests".into(),
            color: RGBColor(220, 38, 38),
            values: by_errors.iter().map(|r| share(r)).collect(),
        }],
        notes: by_errors.iter().map(|r| format!("{} of {}", r.failures, r.requests)).collect(),
    };

    let mut tp_lines = Vec::new();
    if let Some(v) = data::counter_per_second(s, "http_reqs") {
        tp_lines.push(Line {
            label: "requests per second".into(),
            color: RGBColor(79, 70, 229),
            values: v,
            width: 3,
            on_secondary: false,
        });
    }
    if let Some(v) = data::gauge(s, "vus") {
        tp_lines.push(Line {
            label: "active VUs (right axis)".into(),
            color: RGBColor(16, 185, 129),
            values: v.to_vec(),
            width: 2,
            on_secondary: true,
        });
    }
    let throughput = LineChart {
        title: "Throughput and active VUs over time".into(),
        subtitle: sub,
        unit: Unit::PerSecond,
        secondary: Some(("VUs".into(), Unit::Count)),
        lines: tp_lines,
        marks,
        x_max,
    };

    vec![
        ("response_time_by_name", Spec::Bars(response_time)),
        ("p95_over_time", Spec::Lines(p95)),
        ("error_rate_by_name", Spec::Bars(error_rate)),
        ("throughput_vus_over_time", Spec::Lines(throughput)),
    ]
}
