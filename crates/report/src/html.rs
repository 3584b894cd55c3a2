//! The HTML report (`--report report.html`): one self-contained file that opens offline.
//!
//! Everything the page needs is inside it: the stylesheet, uPlot (vendored from npm in
//! `assets/uplot`, MIT) and the page's own script, inlined with `include_str!`; the chart data is
//! embedded as JSON in a `<script type="application/json">` element. There is no CDN, no font
//! download, no fetch, so a report attached to a ticket still opens years later.
//!
//! The page reads top-down the way people triage a run: the verdict (and grade), what crossed a
//! threshold, checks, the run over time (throughput, latency percentiles, errors, VUs, with stage
//! boundaries marked), per-request figures, errors by kind, figures per stage, and the breaking
//! point, dropped iterations and resource use when the run recorded them. All text from the plan
//! or the run is HTML-escaped; the tables sort by clicking their headers.
//!
//! For the browser test, the page records every script error, failed load and `console.error`
//! into the hidden `#report-errors` element, and each chart reports `data-points` once drawn.

mod markup;
mod sections;
mod timeline;

use std::fmt::Write;

use crate::{Comparison, Grade, Summary};
use markup::{esc, script_json};

const UPLOT_JS: &str = include_str!("../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/uplot/uPlot.min.css");
const REPORT_CSS: &str = include_str!("../assets/report.css");
const REPORT_JS: &str = include_str!("../assets/report.js");
const CAPTURE_JS: &str = include_str!("../assets/capture.js");

/// What a report can show beyond the run's own summary.
///
/// The grade and the comparison with a baseline are computed elsewhere ([`crate::grade()`],
/// [`crate::compare()`]) and handed in, so that this renderer stays a pure function of its
/// inputs. Each section is left out when its field is `None`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HtmlExtras<'a> {
    /// The score, its breakdown and recommendations: shown beside the verdict and as a section.
    pub grade: Option<&'a Grade>,
    /// The comparison with a baseline run (`run --baseline`).
    pub comparison: Option<&'a Comparison>,
}

/// The sections a report can have, in page order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    BreakingPoint,
    Grade,
    Comparison,
    Thresholds,
    Checks,
    OverTime,
    Requests,
    Errors,
    Stages,
    Dropped,
    Resources,
}

impl Section {
    fn anchor(self) -> &'static str {
        match self {
            Section::BreakingPoint => "breaking-point",
            Section::Grade => "grade",
            Section::Comparison => "comparison",
            Section::Thresholds => "thresholds",
            Section::Checks => "checks",
            Section::OverTime => "over-time",
            Section::Requests => "requests",
            Section::Errors => "errors",
            Section::Stages => "stages",
            Section::Dropped => "dropped",
            Section::Resources => "resources",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Section::BreakingPoint => "Breaking point",
            Section::Grade => "Grade",
            Section::Comparison => "Compared with baseline",
            Section::Thresholds => "Thresholds",
            Section::Checks => "Checks",
            Section::OverTime => "Over time",
            Section::Requests => "Requests",
            Section::Errors => "Errors",
            Section::Stages => "Stages",
            Section::Dropped => "Dropped iterations",
            Section::Resources => "Resource use",
        }
    }
}

/// Renders the report as one self-contained HTML document.
pub fn render_html(summary: &Summary, extras: &HtmlExtras<'_>) -> String {
    let s = summary;
    let cards = timeline::charts(s);
    let resource_cards = timeline::resource_charts(s);

    let mut list = Vec::new();
    if s.run.breaking_point.is_some() {
        list.push(Section::BreakingPoint);
    }
    if extras.grade.is_some() {
        list.push(Section::Grade);
    }
    if extras.comparison.is_some() {
        list.push(Section::Comparison);
    }
    list.extend([Section::Thresholds, Section::Checks]);
    if !cards.is_empty() {
        list.push(Section::OverTime);
    }
    list.extend([Section::Requests, Section::Errors]);
    if s.run.scenarios.iter().any(|sc| !sc.stages.is_empty()) {
        list.push(Section::Stages);
    }
    if s.metrics.contains_key("dropped_iterations") {
        list.push(Section::Dropped);
    }
    if !resource_cards.is_empty() {
        list.push(Section::Resources);
    }

    let mut out = String::with_capacity(UPLOT_JS.len() + 128 * 1024);
    let title = format!("{} · {} · stampede report", s.run.plan, s.run.verdict.label());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"stampede {version}\">\n<title>{title}</title>\n\
         <script>\n{CAPTURE_JS}</script>\n<style>\n{UPLOT_CSS}\n{REPORT_CSS}</style>\n</head>\n<body>\n\
         <div id=\"report-errors\" hidden data-count=\"0\"></div>\n\
         <div id=\"report-status\" hidden data-charts-drawn=\"0\"></div>\n<div class=\"wrap\">\n",
        version = esc(&s.tool.version),
        title = esc(&title),
    );
    sections::hero(&mut out, s, extras.grade);
    let toc: Vec<(&str, &str)> = list.iter().map(|x| (x.anchor(), x.title())).collect();
    sections::toc(&mut out, &toc);
    for section in &list {
        let head = (section.anchor(), section.title());
        match section {
            Section::BreakingPoint => sections::breaking_point(&mut out, s),
            Section::Grade => extras.grade.into_iter().for_each(|g| sections::grade(&mut out, g)),
            Section::Comparison => {
                extras.comparison.into_iter().for_each(|c| sections::comparison(&mut out, c))
            }
            Section::Thresholds => sections::thresholds(&mut out, s),
            Section::Checks => sections::checks(&mut out, s),
            Section::OverTime => sections::chart_grid(&mut out, head, &cards, &over_time_note(s)),
            Section::Requests => sections::requests(&mut out, s),
            Section::Errors => sections::errors(&mut out, s),
            Section::Stages => sections::stages(&mut out, s),
            Section::Dropped => sections::dropped(&mut out, s),
            Section::Resources => {
                let note = "CPU, memory and other resources recorded during the run.";
                sections::chart_grid(&mut out, head, &resource_cards, note);
                sections::resource_table(&mut out, s);
            }
        }
    }

    let mut all_cards = cards;
    all_cards.extend(resource_cards);
    let data = timeline::page_data(s, all_cards);
    let _ = write!(
        out,
        "<footer>Generated by stampede {} from a results file of schema version {} · charts drawn \
         with uPlot (MIT)</footer>\n</div>\n\
         <script type=\"application/json\" id=\"report-data\">{}</script>\n\
         <script>\n{UPLOT_JS}\n</script>\n<script>\n{REPORT_JS}</script>\n</body>\n</html>\n",
        esc(&s.tool.version),
        s.schema_version,
        script_json(&data),
    );
    out
}

fn over_time_note(s: &Summary) -> String {
    let mut note =
        String::from("Values per second of run time; drag across a chart to zoom, double-click to reset.");
    if s.run.scenarios.iter().any(|sc| sc.stages.len() > 1) || s.run.scenarios.len() > 1 {
        note.push_str(" Dashed lines mark stage boundaries.");
    }
    if s.snapshot.series.late_samples > 0 {
        let _ = write!(
            note,
            " {} samples arrived too late for their second and are counted in the totals only.",
            s.snapshot.series.late_samples
        );
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_assets_cannot_end_their_element_early() {
        // A vendored file updated one day must not carry `</script` or `</style` (the page would
        // end the element there and show the rest as text).
        for (name, text) in [("uPlot", UPLOT_JS), ("report.js", REPORT_JS), ("capture.js", CAPTURE_JS)] {
            assert!(!text.to_ascii_lowercase().contains("</script"), "{name} contains </script");
        }
        for (name, text) in [("uPlot.css", UPLOT_CSS), ("report.css", REPORT_CSS)] {
            assert!(!text.to_ascii_lowercase().contains("</style"), "{name} contains </style");
        }
    }
}
