//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
}

/// Runs the binary with no standard input and waits for it.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).stdin(Stdio::null()).output().expect("binary runs")
}

/// Both output streams, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A file of the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// A plan of `examples/`.
pub fn example(name: &str) -> PathBuf {
    repo("examples").join(name)
}

/// A results file, parsed.
pub fn results(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("results file written");
    serde_json::from_str(&text).expect("results file is JSON")
}

/// A results file, parsed and validated against `schemas/results.v1.json`.
pub fn valid_results(path: &Path) -> serde_json::Value {
    let value = results(path);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("schemas/results.v1.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "results file does not match its schema:\n{}", errors.join("\n"));
    value
}

/// A k6-view value of a results file.
pub fn metric(r: &serde_json::Value, key: &str, stat: &str) -> f64 {
    r["metrics"][key][stat].as_f64().unwrap_or_else(|| panic!("no {key}.{stat} in {}", r["metrics"]))
}

/// Runs the binary without recording the run in the history.
pub fn run_no_history(args: &[&str]) -> Output {
    bin().args(args).arg("--no-history").stdin(Stdio::null()).output().expect("binary runs")
}

/// Writes `text` to `dir/name`, making the folders on the way, and returns its path: a plan, or
/// a file a plan loads.
pub fn write_plan(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a file inside dir")).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `plan` against the embedded demo target, quietly and without a history record, with
/// its results in `dir/results.json`; returns the output and that path.
pub fn run_demo(dir: &Path, plan: &Path) -> (Output, PathBuf) {
    run_demo_with(dir, plan, &[])
}

/// [`run_demo`] with `extra` arguments (`--duration 2s`, report files, ...) after the others.
pub fn run_demo_with(dir: &Path, plan: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let out = dir.join("results.json");
    let mut args = vec!["run", plan.to_str().unwrap(), "--demo", "--quiet", "--no-history"];
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    (run(&args), out)
}
