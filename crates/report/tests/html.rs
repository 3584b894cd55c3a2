//! The HTML report, rendered from recorded results files (`tests/fixtures`, written by the real
//! binary against the demo target): content checks on the markup, then the page in a real
//! headless Chromium — it renders, every chart has data, no script error, and a screenshot.
//!
//! The Chromium tests skip with a loud message when no Chromium is installed, unless
//! `STAMPEDE_REQUIRE_CHROMIUM` is set (`scripts/test.sh` sets it, so CI never skips silently).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stampede_report::{CompareOptions, GradingConfig, HtmlExtras, Summary, compare, grade, render_html};

fn fixture(name: &str) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    Summary::from_json(&std::fs::read_to_string(&path).expect("fixture exists")).expect("fixture parses")
}

fn html(name: &str) -> String {
    render_html(&fixture(name), &HtmlExtras::default())
}

/// The text between `<tag ... id="id" ...>` and the next `</tag>`.
fn element<'a>(page: &'a str, tag: &str, id: &str) -> &'a str {
    let at = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element #{id}"));
    let start = page[at..].find('>').unwrap() + at + 1;
    let end = page[start..].find(&format!("</{tag}>")).unwrap() + start;
    &page[start..end]
}

#[test]
fn the_page_is_self_contained() {
    let page = html("run.json");
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Nothing is loaded from elsewhere: no external scripts, styles, fonts or images.
    for needle in ["<script src", "<link", "@import", "url(http", "src=\"http", "href=\"http", "<img"] {
        assert!(!page.contains(needle), "the report refers to something outside it: {needle}");
    }
    // uPlot and its stylesheet are inlined.
    assert!(page.contains("uPlot"), "uPlot missing");
    assert!(page.contains(".uplot"), "uPlot's CSS missing");
    assert!(page.len() < 400_000, "report is {} bytes", page.len());
}

#[test]
fn the_verdict_thresholds_and_checks_come_first() {
    let s = fixture("errors.json");
    let page = render_html(&s, &HtmlExtras::default());
    let verdict = element(&page, "span", "verdict");
    assert!(verdict.contains("FAILED"), "verdict: {verdict}");
    let order: Vec<usize> =
        ["id=\"verdict\"", "id=\"thresholds\"", "id=\"checks\"", "id=\"over-time\"", "id=\"requests\""]
            .iter()
            .map(|needle| page.find(needle).unwrap_or_else(|| panic!("{needle} missing")))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "sections out of order: {order:?}");
    let thresholds = element(&page, "table", "thresholds-table");
    assert_eq!(thresholds.matches("<tr class=\"fail\">").count(), 1, "one threshold crossed");
    assert_eq!(thresholds.matches("<tr class=\"ok\">").count(), 3);
    // Observed values in their unit: a rate as a percentage, a time in ms.
    let failed = s.thresholds.iter().find(|t| t.metric == "http_req_failed").unwrap();
    assert!(thresholds.contains(&format!("{:.2}%", failed.observed.unwrap() * 100.0)));
    let p95 = s.thresholds.iter().find(|t| t.metric == "http_req_duration").unwrap();
    assert!(thresholds.contains(&stampede_report::format_ms(p95.observed.unwrap())));
    let checks = element(&page, "table", "checks-table");
    assert!(checks.contains("status is 200") && checks.contains("✗ FAIL"));
}

#[test]
fn user_text_is_escaped_everywhere() {
    let page = html("errors.json");
    // The plan name and a request name are full of HTML.
    assert!(!page.contains("<script>alert"), "a request name was not escaped");
    assert!(!page.contains("<demo>"), "the plan name was not escaped");
    assert!(page.contains("errors &lt;demo&gt; &amp; co"));
    assert!(page.contains("home &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"));
    // In the embedded data the name is still whole, with `<` escaped for the script element.
    let data = element(&page, "script", "report-data");
    assert!(!data.contains('<'), "raw < inside the JSON data");
    let parsed: serde_json::Value = serde_json::from_str(data).expect("embedded data is JSON");
    let labels: Vec<&str> = parsed["charts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["series"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()))
        .collect();
    assert!(labels.contains(&"home <script>alert('x')</script> & \"q\""), "{labels:?}");
}

#[test]
fn chart_data_covers_the_run_with_stage_marks() {
    let s = fixture("errors.json");
    let page = render_html(&s, &HtmlExtras::default());
    let data: serde_json::Value = serde_json::from_str(element(&page, "script", "report-data")).unwrap();
    let seconds = s.snapshot.series.t.len();
    assert_eq!(data["t"].as_array().unwrap().len(), seconds);
    let ids: Vec<&str> =
        data["charts"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["throughput", "latency", "errors", "vus", "latency_by_name"]);
    for chart in data["charts"].as_array().unwrap() {
        let id = chart["id"].as_str().unwrap();
        assert!(page.contains(&format!("data-chart=\"{id}\"")), "no container for {id}");
        for series in chart["series"].as_array().unwrap() {
            assert_eq!(series["values"].as_array().unwrap().len(), seconds, "{id}: {}", series["label"]);
        }
    }
    // Latency percentiles, in order, and the per-second requests add up to the run's count.
    let latency = &data["charts"][1]["series"];
    let labels: Vec<&str> =
        latency.as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["p50", "p90", "p95", "p99"]);
    // Errors: the total and one line per failing request name.
    let errors: Vec<&str> = data["charts"][2]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["failed requests/s", "list tools", "slow search", "timeout probe"]);
    // Stage boundaries of both scenarios, in time order.
    let marks: Vec<(f64, &str)> = data["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["at"].as_f64().unwrap(), m["label"].as_str().unwrap()))
        .collect();
    assert_eq!(
        marks,
        [
            (2.0, "probes start"),
            (3.0, "shoppers stage 2 · 6 VUs"),
            (7.0, "shoppers stage 3 · 2 VUs"),
            (8.0, "probes end"),
            (10.0, "shoppers end"),
        ]
    );
}

#[test]
fn tables_list_requests_errors_and_stages() {
    let s = fixture("errors.json");
    let page = render_html(&s, &HtmlExtras::default());
    let requests = element(&page, "table", "requests-table");
    assert!(
        requests.contains("class=\"sortable\"")
            || page.contains("table class=\"sortable\" id=\"requests-table\"")
    );
    assert_eq!(requests.matches("<tr><td class=\"name\">").count(), s.requests.len());
    assert!(requests.contains("<tfoot><tr><td>all requests</td>"));
    for r in &s.requests {
        assert!(requests.contains(&format!("data-v=\"{}\"", r.p95)), "p95 of {} not sortable", r.name);
    }
    let errors = element(&page, "table", "errors-table");
    for e in &s.errors {
        assert!(errors.contains(&format!("<code>{}</code>", e.kind)), "{} missing", e.kind);
    }
    let kinds = element(&page, "section", "errors");
    assert!(kinds.contains("status_503") && kinds.contains("timeout") && kinds.contains("status_500"));
    let stages = element(&page, "table", "stages-table");
    // Three stages of `shoppers` and the single stage of `probes`.
    assert_eq!(stages.matches("<tr><td").count(), 4);
    assert!(stages.contains(">shoppers<") && stages.contains(">probes<"));
}

#[test]
fn optional_sections_appear_only_with_their_data() {
    let s = fixture("run.json");
    let page = render_html(&s, &HtmlExtras::default());
    assert!(!page.contains("id=\"dropped\""), "no dropped iterations recorded");
    assert!(!page.contains("id=\"resources\""), "no resource metrics recorded");
    assert!(page.contains("✓ No failed requests."));

    // The same run as if an arrival-rate executor had dropped iterations and a resource
    // monitor had run.
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run.json"))
            .unwrap(),
    )
    .unwrap();
    let seconds = json["snapshot"]["series"]["t"].as_array().unwrap().len();
    json["metrics"]["dropped_iterations"] =
        serde_json::json!({ "type": "counter", "contains": "default", "count": 42.0, "rate": 4.7 });
    json["metrics"]["process_cpu_percent"] =
        serde_json::json!({ "type": "gauge", "contains": "default", "value": 12.5, "min": 3.0, "max": 55.0 });
    json["snapshot"]["series"]["metrics"]["process_cpu_percent"] =
        serde_json::json!({ "kind": "gauge", "value": vec![Some(20.0); seconds] });
    json["snapshot"]["series"]["metrics"]["dropped_iterations"] =
        serde_json::json!({ "kind": "counter", "sum": vec![5.0; seconds] });
    json["run"]["breaking_point"] = serde_json::json!({
        "max_passing_rate": 40.0, "broke_at_secs": 5.0, "breaking_rate": 45.0,
        "evidence": [{ "metric": "http_req_duration", "expr": "p(95)<1", "ok": false, "observed": 3.2, "abort_on_fail": true }]
    });
    let s = Summary::from_json(&json.to_string()).unwrap();
    let page = render_html(&s, &HtmlExtras::default());
    assert!(element(&page, "span", "dropped-count").contains("42 dropped"));
    // The breaking point: stated at the top, with its evidence, and marked on the time charts.
    assert!(page.contains("broke at 5.0s (45.0 iterations/s)"));
    let evidence = element(&page, "table", "breaking-point-table");
    assert!(evidence.contains("p(95)&lt;1") && evidence.contains("3.20ms"), "{evidence}");
    let resources = element(&page, "table", "resources-table");
    assert!(resources.contains("process_cpu_percent") && resources.contains("55.0%"));
    let data: serde_json::Value = serde_json::from_str(element(&page, "script", "report-data")).unwrap();
    let ids: Vec<&str> =
        data["charts"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"resource_0"), "{ids:?}");
    assert!(
        data["marks"].as_array().unwrap().iter().any(|m| m["label"] == "breaking point" && m["at"] == 5.0)
    );
    let errors = data["charts"].as_array().unwrap().iter().find(|c| c["id"] == "errors").unwrap();
    assert!(errors["series"].as_array().unwrap().iter().any(|s| s["label"] == "dropped iterations/s"));
}

#[test]
fn grade_and_comparison_appear_when_given() {
    let s = fixture("errors.json");
    let plain = render_html(&s, &HtmlExtras::default());
    assert!(!plain.contains("id=\"grade\"") && !plain.contains("id=\"comparison\""));

    let g = grade(&s, &GradingConfig::for_summary(&s));
    let base = fixture("run.json");
    let c = compare(&base, &s, &CompareOptions::default());
    let page = render_html(&s, &HtmlExtras { grade: Some(&g), comparison: Some(&c) });
    let badge = element(&page, "a", "grade-badge");
    assert!(badge.contains(&format!("{}/100", g.score)) && badge.contains(g.band.label()), "{badge}");
    // The grade and comparison come right after the header, before the thresholds.
    let (grade_at, comparison_at, thresholds_at) = (
        page.find("id=\"grade\"").unwrap(),
        page.find("id=\"comparison\"").unwrap(),
        page.find("id=\"thresholds\"").unwrap(),
    );
    assert!(grade_at < comparison_at && comparison_at < thresholds_at);
    let breakdown = element(&page, "table", "grade-table");
    for component in &g.components {
        assert!(breakdown.contains(component.kind.name()), "{} missing", component.kind.name());
    }
    assert!(!g.recommendations.is_empty(), "a run with 7% failures has findings");
    let recs = element(&page, "ul", "recommendations");
    assert_eq!(recs.matches("<li>").count(), g.recommendations.len());
    let table = element(&page, "table", "comparison-table");
    assert_eq!(table.matches("<tr><td").count(), c.rows.len());
    assert!(table.contains("regressed") || table.contains("improved") || table.contains("unchanged"));
    assert!(!page.contains("<script>alert"), "names in the comparison are escaped");
}

// ---------------------------------------------------------------------------------------
// In a real browser

/// Chromium, or `None` (after saying so loudly) when it is missing and not required.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("STAMPEDE_CHROMIUM").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|n| dir.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("STAMPEDE_REQUIRE_CHROMIUM").is_none(),
            "STAMPEDE_REQUIRE_CHROMIUM is set but no chromium was found (apt-get install chromium)"
        );
        // Written to the real stderr, past the test harness' capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! SKIPPED: chromium is not installed; the HTML report was NOT tested in a browser !!!!!!!!\n"
        );
    }
    found
}

struct Output {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `page` with a fresh profile, offline, bounded in time.
fn run_chromium(chromium: &Path, page: &Path, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        // Anything the page tried to fetch from a network would fail and be recorded.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("chromium starts");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Output { stdout: reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// An attribute's value on the first element that has `marker` in its tag.
fn attr<'a>(dom: &'a str, marker: &str, name: &str) -> Option<&'a str> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag_end = dom[at..].find('>')? + at;
    let tag = &dom[tag_start..tag_end];
    let key = format!("{name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(&tag[v..v + tag[v..].find('"')?])
}

fn assert_no_uncaught(stderr: &str) {
    let bad: Vec<&str> = stderr.lines().filter(|l| l.contains("Uncaught")).collect();
    assert!(bad.is_empty(), "script errors in chromium's log:\n{}", bad.join("\n"));
}

/// Where screenshots are kept for people to look at.
fn keep_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    std::fs::create_dir_all(&target).unwrap();
    target
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn check_in_chromium(fixture_name: &str, screenshot_name: &str, with_extras: bool) {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let s = fixture(fixture_name);
    let g = grade(&s, &GradingConfig::for_summary(&s));
    let c = compare(&fixture("run.json"), &s, &CompareOptions::default());
    let extras = if with_extras {
        HtmlExtras { grade: Some(&g), comparison: Some(&c) }
    } else {
        HtmlExtras::default()
    };
    let html = render_html(&s, &extras);
    std::fs::write(&page, &html).unwrap();
    std::fs::write(keep_dir().join(screenshot_name.replace(".png", ".html")), &html).unwrap();

    let dom = run_chromium(&chromium, &page, &["--dump-dom".to_string()]);
    assert_no_uncaught(&dom.stderr);
    let errors = attr(&dom.stdout, "id=\"report-errors\"", "data-count").unwrap_or_else(|| {
        panic!("no #report-errors in the DOM:\n{}", &dom.stdout[..dom.stdout.len().min(2000)])
    });
    let error_text = dom.stdout.split("id=\"report-errors\"").nth(1).and_then(|r| r.split("</div>").next());
    assert_eq!(errors, "0", "errors on the page: {error_text:?}");
    let expected =
        attr(&dom.stdout, "id=\"report-status\"", "data-charts-expected").expect("charts were set up");
    let drawn = attr(&dom.stdout, "id=\"report-status\"", "data-charts-drawn").unwrap();
    assert_eq!(drawn, expected, "not every chart was drawn");
    assert!(expected.parse::<usize>().unwrap() >= 4);
    let mut charts = 0;
    // The markup before the embedded data and scripts (which mention `data-chart` too).
    let markup = &dom.stdout[..dom.stdout.find("id=\"report-data\"").expect("data element kept")];
    for part in markup.split("data-chart=\"").skip(1) {
        let tag = &part[..part.find('>').unwrap()];
        let id = &tag[..tag.find('"').unwrap()];
        assert!(tag.contains("data-drawn=\"1\""), "chart {id} not drawn: {tag}");
        let points: usize = attr(part, "\"", "data-points")
            .or_else(|| tag.split("data-points=\"").nth(1).and_then(|v| v.split('"').next()))
            .unwrap_or_else(|| panic!("chart {id} has no data-points: {tag}"))
            .parse()
            .unwrap();
        assert!(points > 0, "chart {id} has no data");
        charts += 1;
    }
    assert_eq!(charts.to_string(), expected);
    // uPlot drew each chart on a canvas.
    assert!(dom.stdout.matches("<canvas").count() >= charts, "fewer canvases than charts");

    let shot = dir.path().join("shot.png");
    let out = run_chromium(
        &chromium,
        &page,
        &[format!("--screenshot={}", shot.display()), "--window-size=1280,2400".to_string()],
    );
    assert_no_uncaught(&out.stderr);
    let bytes =
        std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot; chromium said:\n{}", out.stderr));
    assert_eq!(png_size(&bytes), (1280, 2400));
    // A blank page compresses to a few kB; a page of text, tables and charts does not.
    assert!(bytes.len() > 60_000, "screenshot is only {} bytes: the page looks empty", bytes.len());
    let keep = keep_dir().join(screenshot_name);
    std::fs::write(&keep, &bytes).unwrap();
    println!("screenshot: {}", keep.display());
}

#[test]
fn chromium_renders_the_report_with_data_and_no_errors() {
    check_in_chromium("run.json", "report-screenshot.png", false);
}

#[test]
fn chromium_renders_a_failed_run_with_grade_comparison_and_hostile_names() {
    check_in_chromium("errors.json", "report-screenshot-errors.png", true);
}

#[test]
fn chromium_sorts_tables_by_clicking_headers() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let s = fixture("errors.json");
    // The report plus a test script that clicks the p95 header once (ascending) and again
    // (descending), writing the row order it sees into the DOM.
    let probe = r#"<script>
document.addEventListener("DOMContentLoaded", function () {
  setTimeout(function () {
    var table = document.getElementById("requests-table");
    var th = Array.prototype.find.call(table.tHead.rows[0].cells, function (c) { return c.textContent === "p95"; });
    function order() {
      return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[0].textContent; }).join("|");
    }
    th.click();
    var up = order();
    th.click();
    var down = order();
    var out = document.createElement("div");
    out.id = "sort-probe";
    out.setAttribute("data-up", up);
    out.setAttribute("data-down", down);
    out.setAttribute("data-aria", th.getAttribute("aria-sort"));
    document.body.appendChild(out);
  }, 0);
});
</script>
</body>"#;
    let html = render_html(&s, &HtmlExtras::default()).replace("</body>", probe);
    std::fs::write(&page, html).unwrap();
    let dom = run_chromium(&chromium, &page, &["--dump-dom".to_string()]);
    assert_no_uncaught(&dom.stderr);
    let unescape =
        |v: &str| v.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    let up = unescape(attr(&dom.stdout, "id=\"sort-probe\"", "data-up").expect("probe ran"));
    let down = unescape(attr(&dom.stdout, "id=\"sort-probe\"", "data-down").unwrap());
    let mut by_p95: Vec<_> = s.requests.iter().collect();
    by_p95.sort_by(|a, b| a.p95.total_cmp(&b.p95));
    let expected: Vec<&str> = by_p95.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(up, expected.join("|"));
    let reversed: Vec<&str> = expected.iter().rev().copied().collect();
    assert_eq!(down, reversed.join("|"));
    assert_eq!(attr(&dom.stdout, "id=\"sort-probe\"", "data-aria"), Some("descending"));
}
