//! Drawing the chart specs with plotters, generic over the backend so one function makes both
//! the SVG and the PNG of a chart.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::StageMark;
use crate::format_ms;

/// Result of drawing on backend `DB`.
pub(super) type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The font family registered with plotters (see `charts::ensure_font`); SVG viewers fall back
/// to their own sans-serif font under the same name.
pub(super) const FAMILY: &str = "sans-serif";

const INK: RGBColor = RGBColor(17, 24, 39);
const MUTED: RGBColor = RGBColor(100, 116, 139);
const GRID: RGBColor = RGBColor(226, 232, 240);
const WHITE_INK: RGBColor = RGBColor(255, 255, 255);
const MARK: RGBColor = RGBColor(148, 163, 184);

/// Unit of a value axis, which decides how numbers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    /// Milliseconds, printed as `850µs`, `12.34ms`, `1.52s`.
    Ms,
    /// Something per second.
    PerSecond,
    /// Percent (0–100).
    Percent,
    /// A plain count.
    Count,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Ms => format_ms(v),
            Unit::PerSecond => format!("{}/s", short_number(v)),
            Unit::Percent if v != 0.0 && v.abs() < 1.0 => format!("{v:.2}%"),
            Unit::Percent => format!("{v:.1}%"),
            Unit::Count => short_number(v),
        }
    }
}

impl Unit {
    /// An axis tick: as [`Unit::format`] but without trailing zeros (`100ms`, not `100.00ms`).
    pub fn tick(self, v: f64) -> String {
        if v == 0.0 {
            return "0".to_string();
        }
        match self {
            Unit::Ms if v < 1.0 => format!("{}µs", trim(v * 1000.0)),
            Unit::Ms if v < 1000.0 => format!("{}ms", trim(v)),
            Unit::Ms => format!("{}s", trim(v / 1000.0)),
            Unit::Percent => format!("{}%", trim(v)),
            _ => self.format(v),
        }
    }
}

/// Up to two decimals, trailing zeros dropped.
fn trim(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn short_number(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Seconds of run time as `45s`, `2m`, `2m30s`.
pub(super) fn format_secs(secs: f64) -> String {
    let s = secs.round() as i64;
    match (s / 60, s % 60) {
        (0, sec) => format!("{sec}s"),
        (m, 0) => format!("{m}m"),
        (m, sec) => format!("{m}m{sec:02}s"),
    }
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub label: String,
    pub color: RGBColor,
    /// One value per second; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
    pub width: u32,
    /// Drawn against the right-hand axis.
    pub on_secondary: bool,
}

/// A chart of values over run time.
#[derive(Debug, Clone)]
pub(super) struct LineChart {
    pub title: String,
    pub subtitle: String,
    pub unit: Unit,
    /// The right-hand axis' name and unit, for lines `on_secondary`.
    pub secondary: Option<(String, Unit)>,
    pub lines: Vec<Line>,
    pub marks: Vec<StageMark>,
    /// Run time shown, in seconds.
    pub x_max: f64,
}

/// One set of bars (one per category) of a bar chart.
#[derive(Debug, Clone)]
pub(super) struct Bars {
    pub label: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

/// Horizontal bars, grouped by category (request name).
#[derive(Debug, Clone)]
pub(super) struct BarChart {
    pub title: String,
    pub subtitle: String,
    pub unit: Unit,
    pub categories: Vec<String>,
    pub groups: Vec<Bars>,
    /// Text after the value of a category's bar (single-group charts), e.g. `15 of 118`.
    pub notes: Vec<String>,
}

impl BarChart {
    /// Canvas height that gives every bar room.
    pub fn height(&self) -> u32 {
        let per_category = self.groups.len().max(1) as u32 * 18 + 16;
        (150 + self.categories.len().max(1) as u32 * per_category).max(320)
    }
}

fn font(size: f64, color: &'static RGBColor) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(color)
}

/// A round upper bound for an axis holding `max`.
fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// Draws the title, the subtitle and a legend row; returns the area left for the chart.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    legend: &[(&str, RGBColor)],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = root.dim_in_pixel();
    root.draw_text(title, &font(22.0, &INK), (24, 16))?;
    root.draw_text(subtitle, &font(13.0, &MUTED), (24, 46))?;
    let legend_font = font(13.0, &INK);
    let (mut x, mut y) = (24i32, 72i32);
    for (label, color) in legend {
        let (tw, _) = root.estimate_text_size(label, &legend_font)?;
        if x + 22 + tw as i32 > w as i32 - 24 {
            x = 24;
            y += 20;
        }
        root.draw(&Rectangle::new([(x, y + 4), (x + 14, y + 12)], color.filled()))?;
        root.draw_text(label, &legend_font, (x + 20, y))?;
        x += 20 + tw as i32 + 22;
    }
    let top = if legend.is_empty() { 76 } else { y + 28 };
    Ok(root.split_vertically(top).1)
}

fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let style = font(16.0, &MUTED).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(text, &style, (w as i32 / 2, h as i32 / 2 - 20))
}

/// Splits a column into runs of present values, each at the middle of the second it describes.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) if v.is_finite() => current.push((i as f64 + 0.5, *v)),
            _ if !current.is_empty() => out.push(std::mem::take(&mut current)),
            _ => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn axis_max(lines: &[&Line], headroom: f64) -> f64 {
    let max = lines.iter().flat_map(|l| l.values.iter().flatten()).copied().fold(0.0, f64::max);
    nice_max(max * headroom)
}

/// Draws a line chart on `root` (the whole canvas).
pub(super) fn lines<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &LineChart) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let legend: Vec<(&str, RGBColor)> = c.lines.iter().map(|l| (l.label.as_str(), l.color)).collect();
    let body = header(root, &c.title, &c.subtitle, &legend)?;
    if c.lines.iter().all(|l| l.values.iter().all(Option::is_none)) {
        return no_data(&body, "no data recorded");
    }
    let primary: Vec<&Line> = c.lines.iter().filter(|l| !l.on_secondary).collect();
    let secondary: Vec<&Line> = c.lines.iter().filter(|l| l.on_secondary).collect();
    // Room above the data for the stage labels.
    let headroom = if c.marks.is_empty() { 1.08 } else { 1.25 };
    let (y_max, y2_max) = (axis_max(&primary, headroom), axis_max(&secondary, headroom));
    let x_max = c.x_max.max(1.0);
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(if c.secondary.is_some() { 12 } else { 32 })
        .margin_bottom(12)
        .margin_top(8)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .right_y_label_area_size(if c.secondary.is_some() { 56 } else { 0 })
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?
        .set_secondary_coord(0f64..x_max, 0f64..y2_max);
    let (unit, unit2) = (c.unit, c.secondary.as_ref().map_or(Unit::Count, |s| s.1));
    let x_fmt = |x: &f64| format_secs(*x);
    let y_fmt = |y: &f64| unit.tick(*y);
    let y2_fmt = |y: &f64| unit2.tick(*y);
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(MARK)
        .label_style(font(12.0, &MUTED))
        .axis_desc_style(font(12.0, &MUTED))
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc("run time")
        .draw()?;
    if let Some((name, _)) = &c.secondary {
        chart
            .configure_secondary_axes()
            .axis_style(MARK)
            .label_style(font(12.0, &MUTED))
            .axis_desc_style(font(12.0, &MUTED))
            .y_labels(8)
            .y_label_formatter(&y2_fmt)
            .y_desc(name.as_str())
            .draw()?;
    }
    // Labels go on the first of three rows where they do not overlap an earlier one (a label
    // near the right edge goes left of its line); a label that fits nowhere is left out.
    let mut row_ends = [i32::MIN; 3];
    let label_font = font(11.0, &MUTED);
    for m in c.marks.iter().filter(|m| m.at < x_max) {
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(m.at, 0.0), (m.at, y_max)],
            5,
            4,
            MARK.stroke_width(1),
        )))?;
        let (x, top) = chart.backend_coord(&(m.at, y_max));
        let (right, _) = chart.backend_coord(&(x_max, y_max));
        let width = root.estimate_text_size(&m.label, &label_font)?.0 as i32;
        let from = if x + width + 6 > right { x - width - 4 } else { x + 4 };
        if let Some(row) = row_ends.iter().position(|&end| from > end.saturating_add(8)) {
            row_ends[row] = from + width;
            let y = top + 4 + row as i32 * 15;
            root.draw(&Rectangle::new(
                [(from - 2, y - 1), (from + width + 2, y + 13)],
                WHITE.mix(0.85).filled(),
            ))?;
            root.draw_text(&m.label, &label_font, (from, y))?;
        }
    }
    for line in &c.lines {
        let style = line.color.stroke_width(line.width);
        for run in runs(&line.values) {
            if run.len() == 1 {
                let dot = Circle::new(run[0], 3, line.color.filled());
                if line.on_secondary {
                    chart.draw_secondary_series(std::iter::once(dot))?;
                } else {
                    chart.draw_series(std::iter::once(dot))?;
                }
            } else if line.on_secondary {
                chart.draw_secondary_series(LineSeries::new(run, style))?;
            } else {
                chart.draw_series(LineSeries::new(run, style))?;
            }
        }
    }
    root.present()
}

/// Cuts a label to `max` characters.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Draws a horizontal bar chart on `root` (the whole canvas).
pub(super) fn bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &BarChart) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let legend: Vec<(&str, RGBColor)> = if c.groups.len() > 1 {
        c.groups.iter().map(|g| (g.label.as_str(), g.color)).collect()
    } else {
        Vec::new()
    };
    let body = header(root, &c.title, &c.subtitle, &legend)?;
    if c.categories.is_empty() {
        return no_data(&body, "no requests recorded");
    }
    let names: Vec<String> = c.categories.iter().map(|n| clip(n, 32)).collect();
    let name_font = font(13.0, &INK).pos(Pos::new(HPos::Right, VPos::Center));
    let mut label_width = 60;
    for n in &names {
        label_width = label_width.max(root.estimate_text_size(n, &name_font)?.0 + 20);
    }
    let unit = c.unit;
    let max = c.groups.iter().flat_map(|g| g.values.iter()).copied().fold(0.0, f64::max);
    // Room to the right of most bars for their value labels; the longest ones carry theirs
    // inside. A share never needs an axis past 100%.
    let mut x_max = nice_max(max * 1.25);
    if unit == Unit::Percent {
        x_max = x_max.min(100.0);
    }
    let n = c.categories.len() as f64;
    let mut chart = ChartBuilder::on(&body)
        .margin_left(12)
        .margin_right(32)
        .margin_bottom(12)
        .x_label_area_size(36)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0f64..x_max, 0f64..n)?;
    let x_fmt = |x: &f64| unit.tick(*x);
    let no_label = |_: &f64| String::new();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(MARK)
        .label_style(font(12.0, &MUTED))
        .x_labels(8)
        .y_labels(0)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&no_label)
        .draw()?;
    let g = c.groups.len().max(1) as f64;
    let band = 0.76;
    let value_font = font(12.0, &INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, name) in names.iter().enumerate() {
        // The first category at the top.
        let center = n - i as f64 - 0.5;
        let (x, y) = chart.backend_coord(&(0.0, center));
        root.draw_text(name, &name_font, (x - 10, y))?;
        for (j, group) in c.groups.iter().enumerate() {
            let v = group.values.get(i).copied().unwrap_or(0.0);
            let height = band / g;
            let top = center + band / 2.0 - j as f64 * height;
            let bottom = top - height * 0.82;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, bottom), (v, top)],
                group.color.filled(),
            )))?;
            let mut text = unit.format(v);
            if let Some(note) = c.notes.get(i).filter(|n| !n.is_empty()) {
                text = format!("{text}  ({note})");
            }
            let (dx, style) = if v > x_max * 0.7 {
                (-6, font(12.0, &WHITE_INK).pos(Pos::new(HPos::Right, VPos::Center)))
            } else {
                (6, value_font.clone())
            };
            chart.draw_series(std::iter::once(
                EmptyElement::at((v, (top + bottom) / 2.0)) + Text::new(text, (dx, 0), style),
            ))?;
        }
    }
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 8.0);
        assert_eq!(nice_max(101.0), 120.0);
        assert_eq!(nice_max(0.42), 0.5);
    }

    #[test]
    fn gaps_split_lines() {
        let r = runs(&[Some(1.0), None, Some(2.0), Some(3.0), None]);
        assert_eq!(r, vec![vec![(0.5, 1.0)], vec![(2.5, 2.0), (3.5, 3.0)]]);
    }

    #[test]
    fn run_time_reads_naturally() {
        assert_eq!(format_secs(45.0), "45s");
        assert_eq!(format_secs(120.0), "2m");
        assert_eq!(format_secs(150.0), "2m30s");
        assert_eq!(Unit::Percent.format(0.5), "0.50%");
        assert_eq!(Unit::Ms.tick(100.0), "100ms");
        assert_eq!(Unit::Ms.tick(2500.0), "2.5s");
        assert_eq!(Unit::Ms.tick(0.25), "250µs");
        assert_eq!(Unit::Ms.tick(0.0), "0");
        assert_eq!(Unit::PerSecond.format(12.34), "12.3/s");
    }
}
