//! The sections of the HTML report, each appended to the page as it is rendered.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::markup::{count, esc, number, observed, pct, secs};
use super::timeline::{ChartCard, resource_unit};
use crate::charts::data::{self, stage_figures};
use crate::charts::readable_time;
use crate::compare::{ChangeVerdict, format_interval};
use crate::grade::{Band, Severity};
use crate::{Comparison, Grade, RequestProtocol, Summary, Verdict, format_bytes, format_ms};

fn open_card(out: &mut String, (anchor, title): (&str, &str), aside: &str) {
    let _ = write!(
        out,
        "<section class=\"card\" id=\"{anchor}\">\n<div class=\"card-head\"><h2>{}</h2><span class=\"muted\">{aside}</span></div>\n",
        esc(title)
    );
}

fn close_card(out: &mut String) {
    out.push_str("</section>\n");
}

fn verdict_detail(s: &Summary) -> String {
    let failed = s.thresholds.iter().filter(|t| !t.ok).count();
    match s.run.verdict {
        Verdict::Passed if s.thresholds.is_empty() => "no thresholds defined".to_string(),
        Verdict::Passed => format!("all {} thresholds held", s.thresholds.len()),
        Verdict::Failed => format!("{failed} of {} thresholds crossed", s.thresholds.len()),
        Verdict::Aborted => {
            format!("aborted: {}", s.run.interruption.as_deref().unwrap_or("a threshold was crossed"))
        }
        Verdict::Interrupted => "interrupted; results are partial".to_string(),
    }
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed => "failed",
        Verdict::Aborted => "aborted",
        Verdict::Interrupted => "interrupted",
    }
}

struct Kpi {
    label: &'static str,
    value: String,
    sub: String,
    is_bad: bool,
}

fn kpis(s: &Summary) -> Vec<Kpi> {
    let v = |m: &str, stat: &str| s.value(m, stat);
    let secs_run = s.run.duration_secs.max(1e-9);
    let mut out = Vec::new();
    let reqs = v("http_reqs", "count").unwrap_or(0.0);
    out.push(Kpi {
        label: "Requests",
        value: count(reqs),
        sub: format!("{:.1} req/s", reqs / secs_run),
        is_bad: false,
    });
    if let (Some(passes), Some(fails)) = (v("http_req_failed", "passes"), v("http_req_failed", "fails")) {
        out.push(Kpi {
            label: "Failed",
            value: pct(passes, passes + fails),
            sub: format!("{} of {}", count(passes), count(passes + fails)),
            is_bad: passes > 0.0,
        });
    }
    if let Some(p95) = v("http_req_duration", "p(95)") {
        out.push(Kpi {
            label: "p95 response",
            value: format_ms(p95),
            sub: format!("median {}", format_ms(v("http_req_duration", "med").unwrap_or(0.0))),
            is_bad: false,
        });
    }
    if let Some(p99) = v("http_req_duration", "p(99)") {
        out.push(Kpi {
            label: "p99 response",
            value: format_ms(p99),
            sub: format!("max {}", format_ms(v("http_req_duration", "max").unwrap_or(0.0))),
            is_bad: false,
        });
    }
    if let (Some(passes), Some(fails)) = (v("checks", "passes"), v("checks", "fails")) {
        out.push(Kpi {
            label: "Checks",
            value: pct(passes, passes + fails),
            sub: format!("✓ {}  ✗ {}", count(passes), count(fails)),
            is_bad: fails > 0.0,
        });
    }
    if let Some(it) = v("iterations", "count") {
        out.push(Kpi {
            label: "Iterations",
            value: count(it),
            sub: format!("{:.1}/s", it / secs_run),
            is_bad: false,
        });
    }
    out.push(Kpi {
        label: "Peak VUs",
        value: count(s.run.max_vus as f64),
        sub: match s.run.scenarios.len() {
            1 => "1 scenario".to_string(),
            n => format!("{n} scenarios"),
        },
        is_bad: false,
    });
    let received = v("data_received", "count").unwrap_or(0.0);
    let sent = v("data_sent", "count").unwrap_or(0.0);
    out.push(Kpi {
        label: "Data received",
        value: format_bytes(received),
        sub: format!("sent {}", format_bytes(sent)),
        is_bad: false,
    });
    out
}

/// The header: plan, when, verdict, key figures and warnings.
pub(super) fn hero(out: &mut String, s: &Summary, grade: Option<&Grade>) {
    let class = verdict_class(s.run.verdict);
    let _ = write!(out, "<header class=\"hero {class}\">\n<div class=\"hero-top\">\n<div>\n");
    let _ = writeln!(out, "<div class=\"brand\">stampede · load test report</div>");
    let _ = writeln!(out, "<h1>{}</h1>", esc(&s.run.plan));
    let scenarios: Vec<String> =
        s.run.scenarios.iter().map(|sc| format!("{} ({})", esc(&sc.name), esc(&sc.executor))).collect();
    let _ = writeln!(
        out,
        "<div class=\"meta\"><span>started {}</span><span>ran {}</span><span>{}</span></div>",
        esc(&readable_time(&s.run.started_at)),
        secs(s.run.duration_secs),
        if scenarios.is_empty() { "no scenarios".to_string() } else { scenarios.join(", ") }
    );
    out.push_str("</div>\n<div>\n<div class=\"verdict-box\">");
    if let Some(g) = grade {
        let _ = write!(
            out,
            "<a class=\"grade {}\" href=\"#grade\" id=\"grade-badge\"><span class=\"letter\">{}</span>\
             <span><span class=\"score\">{}/100</span><br><span class=\"muted\">{}</span></span></a>",
            band_class(g.band),
            g.band.letter(),
            g.score,
            g.band.label()
        );
    }
    let _ = write!(
        out,
        "<span class=\"verdict {class}\" id=\"verdict\">{}</span>",
        if s.run.verdict == Verdict::Passed {
            "✓ PASSED".to_string()
        } else {
            format!("✗ {}", s.run.verdict.label())
        }
    );
    let _ = write!(
        out,
        "</div>\n<div class=\"verdict-detail\">{}</div>\n</div>\n</div>\n",
        esc(&verdict_detail(s))
    );

    out.push_str("<div class=\"kpis\">\n");
    for k in kpis(s) {
        let _ = writeln!(
            out,
            "<div class=\"kpi{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"sub\">{}</div></div>",
            if k.is_bad { " bad" } else { "" },
            k.label,
            esc(&k.value),
            esc(&k.sub)
        );
    }
    out.push_str("</div>\n");
    if s.run.dropped_samples > 0 {
        let _ = writeln!(
            out,
            "<div class=\"callout bad\"><strong>{} samples were dropped:</strong> the load generator could \
             not keep up, so the figures below are incomplete.</div>",
            count(s.run.dropped_samples as f64)
        );
    }
    if let Some(b) = &s.run.breaking_point {
        let text = match (b.broke_at_secs, b.breaking_rate) {
            (Some(at), Some(rate)) => format!(
                "Breaking point: thresholds held up to {:.1} iterations/s and broke at {} ({rate:.1} iterations/s).",
                b.max_passing_rate,
                secs(at)
            ),
            _ => format!("No breaking point up to {:.1} iterations/s.", b.max_passing_rate),
        };
        let _ = writeln!(out, "<div class=\"callout\"><a href=\"#breaking-point\">{}</a></div>", esc(&text));
    }
    if s.run.verdict == Verdict::Interrupted {
        out.push_str("<div class=\"callout\">The run was interrupted; everything below covers only the part that ran.</div>\n");
    }
    out.push_str("</header>\n");
}

/// Links to the sections.
pub(super) fn toc(out: &mut String, entries: &[(&str, &str)]) {
    out.push_str("<nav class=\"toc\">");
    for (anchor, title) in entries {
        let _ = write!(out, "<a href=\"#{anchor}\">{}</a>", esc(title));
    }
    out.push_str("</nav>\n");
}

fn pass_pill(ok: bool) -> &'static str {
    if ok { "<span class=\"pill ok\">✓ PASS</span>" } else { "<span class=\"pill fail\">✗ FAIL</span>" }
}

/// Thresholds with their observed values.
pub(super) fn thresholds(out: &mut String, s: &Summary) {
    let failed = s.thresholds.iter().filter(|t| !t.ok).count();
    let aside = if s.thresholds.is_empty() {
        String::new()
    } else if failed == 0 {
        format!("all {} held", s.thresholds.len())
    } else {
        format!("{failed} of {} crossed", s.thresholds.len())
    };
    open_card(out, ("thresholds", "Thresholds"), &aside);
    if s.thresholds.is_empty() {
        out.push_str(
            "<p class=\"empty\">No thresholds were defined, so the run passes whatever it measured. \
             Add <code>thresholds:</code> to the plan to gate on latency and errors.</p>\n",
        );
        return close_card(out);
    }
    out.push_str(
        "<div class=\"table-wrap\"><table id=\"thresholds-table\">\n<thead><tr><th>Result</th><th>Metric</th>\
         <th>Rule</th><th class=\"num\">Observed</th><th></th></tr></thead>\n<tbody>\n",
    );
    for t in &s.thresholds {
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"num{}\">{}</td><td>{}</td></tr>",
            if t.ok { "ok" } else { "fail" },
            pass_pill(t.ok),
            esc(&t.metric),
            esc(&t.expr),
            if t.ok { "" } else { " bad-text" },
            esc(&observed(s, t)),
            if t.abort_on_fail { "<span class=\"pill neutral\">aborts the run</span>" } else { "" }
        );
    }
    out.push_str("</tbody></table></div>\n");
    close_card(out);
}

fn share_bar(passes: u64, total: u64) -> String {
    let share = if total == 0 { 0.0 } else { passes as f64 * 100.0 / total as f64 };
    let class = if passes == total { "ok" } else { "bad" };
    format!("<div class=\"bar {class}\"><span style=\"width:{share:.1}%\"></span></div>")
}

/// Checks with pass rates.
pub(super) fn checks(out: &mut String, s: &Summary) {
    let passes: u64 = s.checks.iter().map(|c| c.passes).sum();
    let fails: u64 = s.checks.iter().map(|c| c.fails).sum();
    let aside = if s.checks.is_empty() {
        String::new()
    } else {
        format!(
            "{} passed · ✓ {} ✗ {}",
            pct(passes as f64, (passes + fails) as f64),
            count(passes as f64),
            count(fails as f64)
        )
    };
    open_card(out, ("checks", "Checks"), &aside);
    if s.checks.is_empty() {
        out.push_str("<p class=\"empty\">The plan has no checks.</p>\n");
        return close_card(out);
    }
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"sortable\" id=\"checks-table\">\n<thead><tr><th>Result</th>\
         <th data-sort>Request</th><th data-sort>Check</th><th class=\"num\" data-sort>Passed</th>\
         <th class=\"bar-cell\"></th><th class=\"num\" data-sort>✓</th><th class=\"num\" data-sort>✗</th></tr></thead>\n<tbody>\n",
    );
    for c in &s.checks {
        let total = c.passes + c.fails;
        let rate = if total == 0 { 0.0 } else { c.passes as f64 / total as f64 };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"name\">{}</td><td><code>{}</code></td><td class=\"num\" data-v=\"{rate}\">{}</td>\
             <td class=\"bar-cell\">{}</td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num{}\" data-v=\"{}\">{}</td></tr>",
            pass_pill(c.fails == 0),
            esc(c.request.as_deref().unwrap_or("–")),
            esc(&c.name),
            pct(c.passes as f64, total as f64),
            share_bar(c.passes, total),
            c.passes,
            count(c.passes as f64),
            if c.fails > 0 { " bad-text" } else { "" },
            c.fails,
            count(c.fails as f64),
        );
    }
    out.push_str("</tbody></table></div>\n");
    close_card(out);
}

/// A grid of charts over time, drawn by the page's script.
pub(super) fn chart_grid(out: &mut String, head: (&str, &str), cards: &[ChartCard], note: &str) {
    open_card(out, head, "");
    out.push_str("<div class=\"charts\">\n");
    for c in cards {
        let _ = writeln!(
            out,
            "<div class=\"chart-card\"><h3>{}</h3><div class=\"sub\">{}</div><div class=\"chart\" data-chart=\"{}\" data-series=\"{}\"></div></div>",
            esc(&c.title),
            esc(&c.subtitle),
            esc(&c.data.id),
            c.data.series.len()
        );
    }
    out.push_str("</div>\n");
    let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(note));
    close_card(out);
}

/// The per-request-name table, sortable, with a total row.
pub(super) fn requests(out: &mut String, s: &Summary) {
    open_card(out, ("requests", "Requests"), "by request name · click a header to sort");
    if s.requests.is_empty() {
        out.push_str("<p class=\"empty\">No requests were made.</p>\n");
        return close_card(out);
    }
    // A run with gRPC calls marks every row's protocol: names are unique per protocol only.
    let marked = s.has_non_http_requests();
    out.push_str("<div class=\"table-wrap\"><table class=\"sortable\" id=\"requests-table\">\n<thead><tr><th data-sort>Name</th>");
    if marked {
        out.push_str("<th data-sort>Protocol</th>");
    }
    out.push_str(
        "<th class=\"num\" data-sort>Requests</th><th class=\"num\" data-sort>Failed</th>\
         <th class=\"num\" data-sort>Error rate</th><th class=\"num\" data-sort>req/s</th><th class=\"num\" data-sort>avg</th>\
         <th class=\"num\" data-sort>min</th><th class=\"num\" data-sort>med</th><th class=\"num\" data-sort>p90</th>\
         <th class=\"num\" data-sort>p95</th><th class=\"num\" data-sort>p99</th><th class=\"num\" data-sort>max</th>\
         </tr></thead>\n<tbody>\n",
    );
    let ms = |v: f64| format!("<td class=\"num\" data-v=\"{v}\">{}</td>", format_ms(v));
    for r in &s.requests {
        let rate = if r.requests == 0 { 0.0 } else { r.failures as f64 / r.requests as f64 };
        let bad = if r.failures > 0 { " bad-text" } else { "" };
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}</td>{}<td class=\"num\" data-v=\"{}\">{}</td><td class=\"num{bad}\" data-v=\"{}\">{}</td>\
             <td class=\"num{bad}\" data-v=\"{rate}\">{}</td><td class=\"num\" data-v=\"{}\">{:.1}</td>{}{}{}{}{}{}{}</tr>",
            esc(&r.name),
            if marked { format!("<td>{}</td>", r.protocol.label()) } else { String::new() },
            r.requests,
            count(r.requests as f64),
            r.failures,
            count(r.failures as f64),
            pct(r.failures as f64, r.requests as f64),
            r.rps,
            r.rps,
            ms(r.avg),
            ms(r.min),
            ms(r.med),
            ms(r.p90),
            ms(r.p95),
            ms(r.p99),
            ms(r.max),
        );
    }
    out.push_str("</tbody>\n");
    // The totals are HTTP's; a run of gRPC calls only has none to show.
    if !s.requests.iter().any(|r| r.protocol == RequestProtocol::Http) {
        out.push_str("</table></div>\n");
        return close_card(out);
    }
    let (label, spacer) = if marked { ("all HTTP requests", "<td></td>") } else { ("all requests", "") };
    let v = |m: &str, stat: &str| s.value(m, stat).unwrap_or(0.0);
    let (reqs, failed) = (v("http_reqs", "count"), v("http_req_failed", "passes"));
    let d = |stat: &str| format!("<td class=\"num\">{}</td>", format_ms(v("http_req_duration", stat)));
    let _ = writeln!(
        out,
        "<tfoot><tr><td>{label}</td>{spacer}<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{:.1}</td>{}{}{}{}{}{}{}</tr></tfoot>",
        count(reqs),
        count(failed),
        pct(failed, reqs),
        reqs / s.run.duration_secs.max(1e-9),
        d("avg"),
        d("min"),
        d("med"),
        d("p(90)"),
        d("p(95)"),
        d("p(99)"),
        d("max"),
    );
    out.push_str("</table></div>\n");
    close_card(out);
}

/// Errors by kind and by request name.
pub(super) fn errors(out: &mut String, s: &Summary) {
    let total: u64 = s.errors.iter().map(|e| e.count).sum();
    let failed = s.value("http_req_failed", "passes").unwrap_or(0.0) as u64;
    let aside = if total == 0 { String::new() } else { format!("{} errors in all", count(total as f64)) };
    open_card(out, ("errors", "Errors"), &aside);
    if let Some(r) = &s.rate_limits {
        // 429s are not errors, but belong beside them: the server asked the client to slow down.
        let _ = writeln!(out, "<p id=\"rate-limits\">{}.</p>", esc(&r.headline()));
    }
    if total == 0 && failed == 0 {
        out.push_str("<p class=\"good-news\">✓ No failed requests.</p>\n");
        return close_card(out);
    }
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &s.errors {
        *by_kind.entry(e.kind.as_str()).or_default() += e.count;
    }
    let mut kinds: Vec<(&str, u64)> = by_kind.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    out.push_str("<h3>By kind</h3>\n<div class=\"kinds\" id=\"error-kinds\">\n");
    for (kind, n) in &kinds {
        let share = *n as f64 * 100.0 / total.max(1) as f64;
        let _ = writeln!(
            out,
            "<div class=\"kind\"><code>{}</code><span class=\"num\">{} · {share:.1}%</span>\
             <div class=\"bar bad\"><span style=\"width:{share:.1}%\"></span></div></div>",
            esc(kind),
            count(*n as f64)
        );
    }
    out.push_str("</div>\n");
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"sortable\" id=\"errors-table\">\n<thead><tr><th data-sort>Kind</th>\
         <th data-sort>Request</th><th class=\"num\" data-sort>Count</th><th class=\"num\" data-sort>Share</th>\
         <th class=\"bar-cell\"></th></tr></thead>\n<tbody>\n",
    );
    for e in &s.errors {
        let share = e.count as f64 * 100.0 / total.max(1) as f64;
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"name\">{}</td><td class=\"num\" data-v=\"{}\">{}</td>\
             <td class=\"num\" data-v=\"{share}\">{share:.1}%</td><td class=\"bar-cell\"><div class=\"bar bad\">\
             <span style=\"width:{share:.1}%\"></span></div></td></tr>",
            esc(&e.kind),
            esc(if e.name.is_empty() { "–" } else { &e.name }),
            e.count,
            count(e.count as f64),
        );
    }
    out.push_str("</tbody></table></div>\n");
    let mut note = String::from("Failures over time are in the Errors chart above.");
    if failed > total {
        let _ = write!(
            note,
            " {} failed requests carry no error kind (for example an unexpected status).",
            count((failed - total) as f64)
        );
    }
    let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(&note));
    close_card(out);
}

/// Throughput and latency per load stage.
pub(super) fn stages(out: &mut String, s: &Summary) {
    let rows = stage_figures(s);
    open_card(out, ("stages", "Stages"), "throughput per load stage");
    let best = rows.iter().map(|r| r.rps()).fold(0.0, f64::max);
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"sortable\" id=\"stages-table\">\n<thead><tr><th data-sort>Scenario</th>\
         <th class=\"num\" data-sort>Stage</th><th class=\"num\" data-sort>From</th><th class=\"num\" data-sort>To</th>\
         <th class=\"num\" data-sort>Target</th><th class=\"num\" data-sort>Avg VUs</th>\
         <th class=\"num\" data-sort>it/s</th><th class=\"num\" data-sort>Dropped</th>\
         <th class=\"num\" data-sort>Requests</th><th class=\"num\" data-sort>req/s</th><th class=\"bar-cell\"></th>\
         <th class=\"num\" data-sort>Failed</th><th class=\"num\" data-sort>p95 ≈</th></tr></thead>\n<tbody>\n",
    );
    for r in &rows {
        let rps = r.rps();
        let width = if best > 0.0 { rps * 100.0 / best } else { 0.0 };
        let failure = r.failure_percent();
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}</td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td>\
             <td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td>\
             <td class=\"num\" data-v=\"{}\">{:.1}</td><td class=\"num{}\" data-v=\"{}\">{}</td>\
             <td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{rps}\">{rps:.1}</td>\
             <td class=\"bar-cell\"><div class=\"bar\"><span style=\"width:{width:.1}%\"></span></div></td>\
             <td class=\"num{}\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td></tr>",
            esc(&r.scenario),
            r.index,
            r.index,
            r.start,
            secs(r.start),
            r.end,
            secs(r.end),
            r.target_value,
            esc(&r.target),
            r.avg_vus.unwrap_or(0.0),
            r.avg_vus.map_or_else(|| "–".to_string(), |v| format!("{v:.1}")),
            r.iterations_per_sec,
            r.iterations_per_sec,
            if r.dropped_iterations.unwrap_or(0) > 0 { " bad-text" } else { "" },
            r.dropped_iterations.unwrap_or(0),
            r.dropped_iterations.map_or_else(|| "–".to_string(), |n| n.to_string()),
            r.requests,
            count(r.requests.round()),
            if failure.unwrap_or(0.0) > 0.0 { " bad-text" } else { "" },
            failure.unwrap_or(0.0),
            failure.map_or_else(|| "–".to_string(), |f| format!("{f:.2}%")),
            r.p95.unwrap_or(0.0),
            r.p95.map_or_else(|| "–".to_string(), format_ms),
        );
    }
    out.push_str("</tbody></table></div>\n");
    let mut note = String::from(
        "From the per-second series over each stage's time range; a second split by a boundary counts \
         in proportion. p95 ≈ is the request-weighted mean of the per-second p95.",
    );
    if s.run.scenarios.len() > 1 {
        note.push_str(
            " Scenarios that overlap share their requests: each stage counts every request made during it.",
        );
    }
    let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(&note));
    close_card(out);
}

/// Iterations an arrival-rate executor could not start.
pub(super) fn dropped(out: &mut String, s: &Summary) {
    let n = s.value("dropped_iterations", "count").unwrap_or(0.0);
    let rate = n / s.run.duration_secs.max(1e-9);
    open_card(out, ("dropped", "Dropped iterations"), "");
    if n > 0.0 {
        let started = s.value("iterations", "count").unwrap_or(0.0);
        let _ = writeln!(
            out,
            "<p><span class=\"pill fail\" id=\"dropped-count\">{} dropped</span> {rate:.2}/s · {} of the iterations \
             due. No VU was free when they were due to start: the target was slower than the arrival rate \
             needs, or <code>max_vus</code> is too low. Their absence is in the Errors chart as dropped iterations/s.</p>",
            count(n),
            pct(n, n + started),
        );
    } else {
        out.push_str("<p class=\"good-news\" id=\"dropped-count\">✓ No iterations were dropped: every arrival started on time.</p>\n");
    }
    close_card(out);
}

/// Minimum, maximum and last value of each resource metric.
pub(super) fn resource_table(out: &mut String, s: &Summary) {
    out.push_str(
        "<section class=\"card\"><div class=\"table-wrap\"><table id=\"resources-table\">\n<thead><tr><th>Metric</th>\
         <th class=\"num\">min</th><th class=\"num\">max</th><th class=\"num\">last</th></tr></thead>\n<tbody>\n",
    );
    for key in data::resource_keys(s) {
        let unit = resource_unit(key);
        let f = |stat: &str| {
            s.value(key, stat).map_or_else(
                || "–".to_string(),
                |v| match unit {
                    "bytes" => format_bytes(v),
                    "percent" => format!("{v:.1}%"),
                    _ => number(v),
                },
            )
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(key),
            f("min"),
            f("max"),
            f("value")
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn band_class(band: Band) -> &'static str {
    match band {
        Band::A => "a",
        Band::B => "b",
        Band::C => "c",
        Band::D => "d",
    }
}

/// The score's breakdown and the recommendations with their evidence.
pub(super) fn grade(out: &mut String, g: &Grade) {
    open_card(out, ("grade", "Grade"), &format!("{} · {}/100 {}", g.band.letter(), g.score, g.band.label()));
    out.push_str(
        "<div class=\"table-wrap\"><table id=\"grade-table\">\n<thead><tr><th>Component</th><th>Measured against</th>\
         <th class=\"num\">Points</th><th class=\"bar-cell\"></th></tr></thead>\n<tbody>\n",
    );
    for c in &g.components {
        let (points, bar) = match c.points {
            Some(p) => {
                let share = if c.weight > 0.0 { p * 100.0 / c.weight } else { 0.0 };
                let class = if share >= 90.0 {
                    "ok"
                } else if share < 50.0 {
                    "bad"
                } else {
                    ""
                };
                (
                    format!("{} / {}", number(p), number(c.weight)),
                    format!("<div class=\"bar {class}\"><span style=\"width:{share:.1}%\"></span></div>"),
                )
            }
            None => ("not graded".to_string(), String::new()),
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"bar-cell\">{bar}</td></tr>",
            esc(c.kind.name()),
            esc(&c.detail),
            esc(&points)
        );
    }
    out.push_str("</tbody></table></div>\n");
    if g.recommendations.is_empty() {
        out.push_str("<p class=\"good-news\">✓ Nothing to recommend: no finding stood out.</p>\n");
    } else {
        out.push_str("<h3 style=\"margin-top:16px\">Recommendations</h3>\n<ul class=\"recs\" id=\"recommendations\">\n");
        for r in &g.recommendations {
            let (class, label) = match r.severity {
                Severity::Critical => ("fail", "critical"),
                Severity::Warning => ("warn", "warning"),
                Severity::Info => ("neutral", "info"),
            };
            let _ = writeln!(
                out,
                "<li><span class=\"pill {class}\">{label}</span> <strong>{}</strong><div class=\"evidence\">{}</div>\
                 <div class=\"advice\">{}</div></li>",
                esc(&r.finding),
                esc(&r.evidence),
                esc(&r.advice)
            );
        }
        out.push_str("</ul>\n");
    }
    close_card(out);
}

/// The comparison with a baseline run, figure by figure.
pub(super) fn comparison(out: &mut String, c: &Comparison) {
    open_card(out, ("comparison", "Compared with baseline"), &c.tally());
    let _ = writeln!(
        out,
        "<p class=\"muted\">Baseline: <strong>{}</strong> started {} ({}, {}).</p>",
        esc(&c.base.plan),
        esc(&readable_time(&c.base.started_at)),
        secs(c.base.duration_secs),
        c.base.verdict.label()
    );
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"sortable\" id=\"comparison-table\">\n<thead><tr><th data-sort>Scope</th>\
         <th data-sort>Figure</th><th class=\"num\" data-sort>Baseline</th><th class=\"num\" data-sort>This run</th>\
         <th class=\"num\" data-sort>Change</th><th class=\"num\">Interval</th><th data-sort>Verdict</th></tr></thead>\n<tbody>\n",
    );
    for r in &c.rows {
        let f = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| r.metric.format(v));
        let (class, mark) = match r.verdict {
            ChangeVerdict::Regressed => ("fail", "✗"),
            ChangeVerdict::Improved => ("ok", "↑"),
            ChangeVerdict::Unchanged => ("neutral", "="),
            ChangeVerdict::TooFewSamples => ("neutral", "?"),
            ChangeVerdict::NotComparable => ("neutral", "·"),
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}</td><td>{}</td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td>\
             <td class=\"num{}\" data-v=\"{}\">{}</td><td class=\"num muted\">{}</td><td><span class=\"pill {class}\">{mark} {}</span></td></tr>",
            esc(&r.scope_label()),
            esc(r.metric.label()),
            r.base.unwrap_or(0.0),
            esc(&f(r.base)),
            r.new.unwrap_or(0.0),
            esc(&f(r.new)),
            match r.verdict {
                ChangeVerdict::Regressed => " bad-text",
                ChangeVerdict::Improved => " good-text",
                _ => "",
            },
            r.change.unwrap_or(0.0),
            r.change.map_or_else(|| "–".to_string(), |ch| esc(&r.metric.format_change(ch))),
            r.interval.map_or_else(|| "–".to_string(), |ci| esc(&format_interval(r.metric, ci))),
            r.verdict.label()
        );
    }
    out.push_str("</tbody></table></div>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">A change counts only when it is both significant and large enough: {}.</p>",
        esc(&c.method())
    );
    close_card(out);
}

/// What a breakpoint test found: the highest rate that held and the evidence of the break.
pub(super) fn breaking_point(out: &mut String, s: &Summary) {
    let Some(b) = &s.run.breaking_point else { return };
    let aside = match (b.broke_at_secs, b.breaking_rate) {
        (Some(at), Some(rate)) => format!("broke at {} ({rate:.1} it/s)", secs(at)),
        (Some(at), None) => format!("broke at {}", secs(at)),
        _ => "never broke".to_string(),
    };
    open_card(out, ("breaking-point", "Breaking point"), &aside);
    let _ = writeln!(
        out,
        "<p id=\"breaking-point-summary\">Every threshold held up to <strong>{:.1} iterations/s</strong>.{}</p>",
        b.max_passing_rate,
        match (b.broke_at_secs, b.breaking_rate) {
            (Some(at), Some(rate)) => format!(
                " At {} the rate had reached {rate:.1} iterations/s and the thresholds below were crossed; \
                 the time charts mark the moment.",
                secs(at)
            ),
            (Some(at), None) => format!(" At {} the thresholds below were crossed.", secs(at)),
            _ => " The run reached its highest rate without crossing a threshold: the breaking point is higher."
                .to_string(),
        }
    );
    if !b.evidence.is_empty() {
        out.push_str(
            "<div class=\"table-wrap\"><table id=\"breaking-point-table\">\n<thead><tr><th>Result</th><th>Metric</th>\
             <th>Rule</th><th class=\"num\">Observed at the break</th></tr></thead>\n<tbody>\n",
        );
        for t in &b.evidence {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"num{}\">{}</td></tr>",
                pass_pill(t.ok),
                esc(&t.metric),
                esc(&t.expr),
                if t.ok { "" } else { " bad-text" },
                esc(&observed(s, t)),
            );
        }
        out.push_str("</tbody></table></div>\n");
    }
    close_card(out);
}
