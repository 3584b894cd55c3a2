//! PNG and SVG charts rendered from recorded results files (`tests/fixtures`, written by the real
//! binary against the demo target; `errors.json` from `errors.yaml`, with failures of three kinds
//! and a request name full of HTML).

use std::path::{Path, PathBuf};

use stampede_report::Summary;
use stampede_report::charts::{ChartFile, render, render_charts};

const CHARTS: [&str; 4] =
    ["response_time_by_name", "p95_over_time", "error_rate_by_name", "throughput_vus_over_time"];

fn fixture(name: &str) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    Summary::from_json(&std::fs::read_to_string(&path).expect("fixture exists")).expect("fixture parses")
}

fn file<'a>(files: &'a [ChartFile], name: &str) -> &'a ChartFile {
    files.iter().find(|f| f.file_name == name).unwrap_or_else(|| panic!("{name} missing"))
}

fn svg(files: &[ChartFile], name: &str) -> String {
    String::from_utf8(file(files, &format!("{name}.svg")).bytes.clone()).expect("svg is utf-8")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Where the images are kept for people to look at: `$CARGO_TARGET_DIR/report-charts/<case>`.
fn keep_dir(case: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("report-charts").join(case)
}

#[test]
fn every_chart_is_written_as_png_and_svg() {
    let s = fixture("run.json");
    let dir = tempfile::tempdir().unwrap();
    let written = render_charts(&s, dir.path()).expect("charts render");
    let mut names: Vec<String> =
        written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut expected: Vec<String> =
        CHARTS.iter().flat_map(|c| [format!("{c}.png"), format!("{c}.svg")]).collect();
    expected.sort();
    assert_eq!(names, expected);
    for path in &written {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 2_000, "{} is only {} bytes", path.display(), bytes.len());
        if path.extension().unwrap() == "png" {
            let (w, h) = png_size(&bytes);
            assert_eq!(w, 1000);
            assert!(h >= 320, "{} is {w}x{h}", path.display());
        }
    }
    let keep = keep_dir("quickstart");
    render_charts(&s, &keep).unwrap();
    println!("charts kept in {}", keep.display());
}

#[test]
fn bar_charts_name_every_request_with_its_figures() {
    let s = fixture("errors.json");
    let keep = keep_dir("errors");
    render_charts(&s, &keep).unwrap();
    println!("charts kept in {}", keep.display());
    let files = render(&s).unwrap();
    let rt = svg(&files, "response_time_by_name");
    for r in &s.requests {
        // Names are cut at 32 characters and escaped as SVG text.
        let shown: String = r.name.chars().take(20).collect();
        let escaped = shown
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\'', "&apos;")
            .replace('"', "&quot;");
        assert!(rt.contains(&escaped), "{escaped:?} not in the response-time chart");
        assert!(rt.contains(&stampede_report::format_ms(r.p95)), "p95 of {} missing", r.name);
    }
    assert!(!rt.contains("<script>"), "a request name leaked unescaped into the SVG");
    let errors = svg(&files, "error_rate_by_name");
    // `timeout probe` failed every request, `list tools` some.
    assert!(errors.contains("100.0%"), "{errors}");
    let list = s.requests.iter().find(|r| r.name == "list tools").unwrap();
    assert!(errors.contains(&format!("{} of {}", list.failures, list.requests)));
}

#[test]
fn time_charts_mark_stage_boundaries_and_plot_each_name() {
    let s = fixture("errors.json");
    let files = render(&s).unwrap();
    let p95 = svg(&files, "p95_over_time");
    // Two scenarios: boundaries are labelled with the scenario's name.
    assert!(p95.contains("shoppers stage 2 · 6 VUs"), "stage marker missing");
    assert!(p95.contains("probes start"), "second scenario's start missing");
    assert!(p95.contains("all requests") && p95.contains("slow search"));
    // One polyline per line segment: the total and at least the five names.
    assert!(p95.matches("<polyline").count() >= 6, "too few lines drawn");
    let tp = svg(&files, "throughput_vus_over_time");
    assert!(tp.contains("requests per second") && tp.contains("active VUs"));
    assert!(tp.matches("<polyline").count() >= 2);
}

#[test]
fn a_run_without_requests_still_gets_charts_that_say_so() {
    let mut s = fixture("run.json");
    s.requests.clear();
    s.snapshot.series.metrics.clear();
    let files = render(&s).unwrap();
    assert_eq!(files.len(), 8);
    assert!(svg(&files, "response_time_by_name").contains("no requests recorded"));
    assert!(svg(&files, "p95_over_time").contains("no data recorded"));
}
