//! `include:` through the binary: `stampede validate` follows includes relative to the plan
//! file (not the working directory) and names the included file in every message about it.

use std::path::Path;
use std::process::Stdio;

use super::support::{bin, run, text, write_plan};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, body) in files {
        write_plan(dir, path, body);
    }
}

const COMMON: &str = "target: http://127.0.0.1:9\nvars: { who: shared }\nuser_types:\n  reader:\n    flow:\n      - http: { url: \"/users/{{ who }}\" }\n";

#[test]
fn validate_follows_includes_relative_to_the_plan_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "plans/main.yaml",
                "include: [../shared/common.yaml]\nscenarios:\n  a: { vus: 1, duration: 1s }\n  b: { vus: 2, duration: 1s, user_types: [reader] }\n",
            ),
            ("shared/common.yaml", COMMON),
        ],
    );
    // The working directory is not the plan's: includes must not depend on it.
    let plan = dir.path().join("plans/main.yaml");
    let o = run(&["validate", plan.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("ok (2 scenario(s)"), "{}", text(&o));
}

#[test]
fn validate_names_the_included_file_and_its_position() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "main.yaml",
                "include:\n  - flows/auth.yaml\n  - flows/missing.yaml\nscenarios:\n  a: { vus: 1, duration: 1s }\n",
            ),
            ("flows/auth.yaml", "user_types:\n  login:\n    flow:\n      - think: soon\n"),
        ],
    );
    // Run from the plan's directory so that names are short and exact.
    let o =
        bin().current_dir(dir.path()).args(["validate", "main.yaml"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let all = text(&o);
    assert!(
        all.contains("main.yaml:3:5: cannot read included file `flows/missing.yaml`: no such file"),
        "{all}"
    );

    // With the missing include gone, the mistake inside the included file is reported there.
    write(
        dir.path(),
        &[("main.yaml", "include: flows/auth.yaml\nscenarios:\n  a: { vus: 1, duration: 1s }\n")],
    );
    let o =
        bin().current_dir(dir.path()).args(["validate", "main.yaml"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let all = text(&o);
    assert!(all.contains("flows/auth.yaml:4:16: expected a duration like 500ms or 1m30s"), "{all}");
}

#[test]
fn validate_rejects_an_include_cycle() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("a.yaml", "include: b.yaml\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]\n"),
            ("b.yaml", "include: a.yaml\n"),
        ],
    );
    let o = bin().current_dir(dir.path()).args(["validate", "a.yaml"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let all = text(&o);
    assert!(all.contains("b.yaml:1:10: include cycle: a.yaml → b.yaml → a.yaml"), "{all}");
}
