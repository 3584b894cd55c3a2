//! `stampede schema` and `stampede init`: help for writing plans by hand.
//!
//! The schema is the checked-in `schemas/plan.v1.json`, compiled into the binary so that an
//! editor can be pointed at `stampede schema > plan.schema.json` on any machine; the tests
//! hold it against the loader. The starter plan is one commented file that runs against the
//! embedded demo target as written, so `init` followed by `run --demo` works on the first try.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

/// The JSON Schema of the plan format (draft 2020-12).
pub(crate) const PLAN_SCHEMA: &str = include_str!("../../../schemas/plan.v1.json");

/// The plan `stampede init` writes.
pub(crate) const STARTER_PLAN: &str = r#"# A stampede plan: who the users are, what they do, how many arrive when, and what
# counts as passing. Run it against the embedded demo target:
#   stampede run plan.yaml --demo
#   stampede run plan.yaml --demo --profile smoke      # the 10-second profile below
# Check it without running it (every mistake at once, with line and column):
#   stampede validate plan.yaml
# Completion and checks while you type: write the schema beside this file with
# `stampede schema > plan.schema.json`, then add this modeline as the first line:
#   # yaml-language-server: $schema=plan.schema.json
name: starter
target: http://127.0.0.1:8080          # base of relative URLs; --target URL or --demo override it

defaults:
  timeout: 10s                         # per request (default 60s)
  headers: { accept: application/json }

vars:
  username: starter-user               # used as {{ username }}; -e username=alice overrides it
  # token: "{{ env.API_TOKEN }}"       # values may come from the environment

scenarios:
  browse:
    # Executors (k6's names): constant-vus, ramping-vus, users (Locust), per-vu-iterations,
    # shared-iterations, constant-arrival-rate, ramping-arrival-rate, breakpoint.
    executor: ramping-vus
    start_vus: 0
    stages:
      - { duration: 10s, target: 5 }   # ramp up to 5 VUs
      - { duration: 20s, target: 5 }   # hold
      - { duration: 5s, target: 0 }    # ramp down
    think: 1s                          # pause between iterations: 1s, 1s..3s, { exponential: 2s }
    flow:
      - http:
          name: health                 # the `name` tag and the row in the per-request table
          url: /health                 # relative to target, or an absolute URL
          check:
            status: 200                # or [200, 201], "2xx", "200-299"
            json: { "$.status": ok }   # a JSONPath query and the value it must select
      - think: 500ms..1500ms           # a uniformly random pause
      - http:
          name: list tools
          url: /api/v1/tools?limit=10
          check: { status: 200, body_contains: tools }
      - group:                         # timed together as group_duration{group:::account}
          name: account
          steps:
            - http:
                name: log in
                method: POST
                url: /auth/login
                json: { username: "{{ username }}", password: demo }   # or body: "text", form: { a: b }
                check: { status: 200, json: { "$.token_type": Bearer } }
                extract:                # into the VU's variables, for the steps after it
                  token: { json: "$.token" }   # also header:, cookie:, regex:, status: true
            - http:
                name: me
                url: /api/v1/me?trace={{ uuid }}   # run-time values: {{ vu_id }}, {{ iteration }}, {{ random_int(1, 9) }}...
                headers: { authorization: "Bearer {{ token }}" }
                check: { status: 200 }
    # Data files: `data: { users: { file: users.csv, mode: unique, per: vu } }` at the top
    # level, then {{ users.username }}; each VU gets its own row, read once and shared.

thresholds:                            # a crossed threshold makes the run exit with 99
  http_req_duration: ["p(95)<500"]     # 95% of requests within 500 ms
  http_req_failed: ["rate<0.01"]       # under 1% failed requests
  "http_req_duration{name:health}": ["p(99)<200"]
  checks: ["rate>0.99"]

profiles:                              # --profile NAME; built in: smoke, load, stress, spike, soak, ramp-up
  smoke: { vus: 1, duration: 10s }
"#;

/// `stampede schema`.
#[derive(Args, Debug)]
pub(crate) struct SchemaArgs {}

/// `stampede init [FILE]`.
#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// Where to write the plan.
    #[arg(default_value = "plan.yaml")]
    file: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    force: bool,
}

pub(crate) fn schema(_args: SchemaArgs) -> ExitCode {
    print!("{PLAN_SCHEMA}");
    ExitCode::SUCCESS
}

pub(crate) fn init(args: InitArgs) -> ExitCode {
    match write_new(&args.file, STARTER_PLAN, args.force) {
        Ok(()) => {
            println!(
                "wrote {}; run it with: stampede run {} --demo",
                args.file.display(),
                args.file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stampede: {e:#}");
            ExitCode::from(crate::EXIT_USAGE)
        }
    }
}

/// Writes `text` to `path`, refusing to replace an existing file unless `overwrite` (shared
/// with `import -o`). Without `overwrite` the file is created exclusively, so a file that
/// appears meanwhile is not clobbered either.
pub(crate) fn write_new(path: &Path, text: &str, overwrite: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("{} already exists; pass --force to overwrite it", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_plan_loads() {
        let plan = stampede_plan::parse(STARTER_PLAN, "plan.yaml", &Default::default()).unwrap();
        assert_eq!(plan.name, "starter");
        assert_eq!(plan.scenarios[0].steps().count(), 4, "health, think, tools, group");
        assert_eq!(plan.thresholds.len(), 4);
    }

    #[test]
    fn the_schema_is_json() {
        let schema: serde_json::Value = serde_json::from_str(PLAN_SCHEMA).unwrap();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    }
}
