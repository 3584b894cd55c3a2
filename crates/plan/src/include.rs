//! `include:`: a plan assembled from several files.
//!
//! ```yaml
//! include: [common.yaml, flows/auth.yaml]   # or one path: `include: common.yaml`
//! ```
//!
//! Paths are relative to the file that names them (for [`crate::parse`], relative to the
//! directory of its `file` argument taken as a path, so the current directory for a bare
//! name). Included files may include others; a file that includes itself, directly or through
//! others, is an error naming the chain (`a.yaml → b.yaml → a.yaml`). An included file holds
//! plan keys (a mapping; an empty file adds nothing).
//!
//! The files are merged into one tree before the plan is read, so the rest of the loader sees
//! one plan, while every node keeps the file it was written in: a mistake in an included file
//! is reported with that file's name, line and column.
//!
//! # Merging
//!
//! * **The including file wins.** Among the files of one `include:` list, a later file wins
//!   over an earlier one; the including file wins over all of them.
//! * The mapping-valued keys `vars`, `defaults`, `user_types`, `scenarios`, `thresholds`,
//!   `profiles`, `flows`, `metrics` and `data` are merged **entry by entry**, one level deep:
//!   an entry defined in several files is taken whole from the winning file (silently: a
//!   shared file's defaults are meant to be overridden), and entries defined in only one file
//!   are all kept, the included ones first.
//! * Every other top-level key (`name`, `target`, `grading`, the top-level scenario's `flow`,
//!   `vus`, ...) is taken whole: an included file's value is used only when the including file
//!   has none.
//!
//! Problems with the includes themselves (a file that cannot be read, a cycle, invalid YAML,
//! a file that is not a mapping) end loading, like a YAML syntax error in the plan file: the
//! plan they would produce is not the one the author wrote, so its mistakes would mislead.

use std::path::{Component, Path, PathBuf};

use crate::error::Diagnostic;
use crate::yaml::{self, FileId, Key, Node, Pos, Sources, SyntaxError, Value};

/// The top-level key.
pub(crate) const INCLUDE_KEY: &str = "include";

/// Top-level keys whose mappings are merged entry by entry.
const MERGED_KEYS: &[&str] =
    &["vars", "defaults", "user_types", "scenarios", "thresholds", "profiles", "flows", "metrics", "data"];

/// Reads the plan file `file` (whose text is `source`) and every file it includes into one
/// tree without `include:` keys, and the text of every file read. `Err` holds the YAML syntax
/// and include errors, which end loading.
pub(crate) fn resolve(source: &str, file: &str) -> Result<(Sources, Node), Vec<Diagnostic>> {
    let sources = Sources::new(file, source);
    let mut root = yaml::parse(source).map_err(|e| vec![syntax_error(&sources, e)])?;
    let main = std::fs::canonicalize(file).ok();
    let mut resolver = Resolver { sources, errors: Vec::new(), chain: vec![(main, FileId::MAIN)] };
    resolver.expand(&mut root);
    let Resolver { sources, mut errors, .. } = resolver;
    if errors.is_empty() {
        return Ok((sources, root));
    }
    // In reading order: the plan file, then included files as they were read.
    errors.sort_by_key(|d| (sources.rank(&d.file), d.line, d.column));
    Err(errors)
}

fn syntax_error(sources: &Sources, e: SyntaxError) -> Diagnostic {
    Diagnostic {
        file: sources.name(e.pos.file).to_string(),
        line: e.pos.line,
        column: e.pos.column,
        message: format!("invalid YAML: {}", e.message),
    }
}

struct Resolver {
    sources: Sources,
    errors: Vec<Diagnostic>,
    /// The files being read, the plan file first: the canonical path of each (when it is a
    /// file on disk) for finding cycles, and its id for naming them.
    chain: Vec<(Option<PathBuf>, FileId)>,
}

impl Resolver {
    fn error(&mut self, pos: Pos, message: String) {
        let file = self.sources.name(pos.file).to_string();
        self.errors.push(Diagnostic { file, line: pos.line, column: pos.column, message });
    }

    /// Replaces the `include:` entry of a file's tree by the entries of the files it names.
    fn expand(&mut self, root: &mut Node) {
        let Value::Map(entries) = &mut root.value else {
            return; // The loader reports a plan that is not a mapping.
        };
        let (includes, own): (Vec<_>, Vec<_>) =
            std::mem::take(entries).into_iter().partition(|(key, _)| key.name == INCLUDE_KEY);
        let mut included = Vec::new();
        for (i, (key, node)) in includes.iter().enumerate() {
            if i > 0 {
                let first = includes[0].0.pos.line;
                self.error(key.pos, format!("duplicate key `{INCLUDE_KEY}` (first given at line {first})"));
                continue;
            }
            for (at, path) in self.paths(node) {
                if let Some(entries) = self.include(at, path) {
                    included = overlay(included, entries, true);
                }
            }
        }
        *entries = overlay(included, own, true);
    }

    /// The paths an `include:` value names: one string or a list of strings.
    fn paths<'n>(&mut self, node: &'n Node) -> Vec<(&'n Node, &'n str)> {
        let items = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut paths = Vec::new();
        for item in items {
            match &item.value {
                Value::Str(path) if !path.trim().is_empty() => paths.push((item, path.as_str())),
                Value::Str(_) => self.error(item.pos, "expected a file path, found an empty string".into()),
                other => {
                    let what = if std::ptr::eq(item, node) {
                        "a file path or a list of file paths"
                    } else {
                        "a file path (a string)"
                    };
                    self.error(item.pos, format!("expected {what}, found {}", other.describe()));
                }
            }
        }
        paths
    }

    /// The entries of the file `path` names (relative to the file `at` is in), with its own
    /// includes expanded; `None` when it cannot be used (reported).
    fn include(&mut self, at: &Node, path: &str) -> Option<Vec<(Key, Node)>> {
        let full = self.sources.dir(at.pos.file).join(path);
        let name = tidy(&full).display().to_string();
        let canonical = std::fs::canonicalize(&full).ok();
        if let Some(start) =
            canonical.as_ref().and_then(|c| self.chain.iter().position(|(p, _)| p.as_ref() == Some(c)))
        {
            let mut names: Vec<&str> =
                self.chain[start..].iter().map(|(_, id)| self.sources.name(*id)).collect();
            names.push(self.sources.name(self.chain[start].1));
            let message = format!("include cycle: {}", names.join(" → "));
            self.error(at.pos, message);
            return None;
        }
        let text = match std::fs::read_to_string(&full) {
            Ok(text) => text,
            Err(e) => {
                let reason = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => e.to_string(),
                };
                self.error(at.pos, format!("cannot read included file `{name}`: {reason}"));
                return None;
            }
        };
        let id = self.sources.add(name, text);
        let mut root = match yaml::parse_file(self.sources.text(id), id) {
            Ok(root) => root,
            Err(e) => {
                self.errors.push(syntax_error(&self.sources, e));
                return None;
            }
        };
        match &root.value {
            Value::Map(_) => {}
            Value::Null => return Some(Vec::new()),
            other => {
                let message = format!(
                    "an included file holds plan keys: expected a mapping, found {}",
                    other.describe()
                );
                self.error(root.pos, message);
                return None;
            }
        }
        self.chain.push((canonical, id));
        self.expand(&mut root);
        self.chain.pop();
        match root.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }
}

/// `upper` laid over `lower`: entries of `lower` that `upper` lacks come first, in their
/// order, then all of `upper`'s (repeated keys within one file stay, for the loader to
/// report). At the top level (`top`), the mappings of [`MERGED_KEYS`] are merged this way
/// too, one level deep.
fn overlay(lower: Vec<(Key, Node)>, mut upper: Vec<(Key, Node)>, top: bool) -> Vec<(Key, Node)> {
    let mut out = Vec::with_capacity(lower.len() + upper.len());
    for (key, node) in lower {
        match upper.iter_mut().find(|(k, _)| k.name == key.name) {
            None => out.push((key, node)),
            Some((_, mine)) if top && MERGED_KEYS.contains(&key.name.as_str()) => {
                // A value of the wrong type wins whole, and the loader reports it.
                if let (Value::Map(theirs), Value::Map(own)) = (node.value, &mut mine.value) {
                    *own = overlay(theirs, std::mem::take(own), false);
                }
            }
            Some(_) => {}
        }
    }
    out.extend(upper);
    out
}

/// `a/./b/../c.yaml` as `a/c.yaml`, for messages (the file is read by its path as written).
fn tidy(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LoadOptions, Plan, PlanError, Step};

    /// Writes `files` (path, text) under a new temporary directory.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn load(dir: &tempfile::TempDir, main: &str) -> Result<Plan, PlanError> {
        crate::load(&dir.path().join(main), &LoadOptions::default())
    }

    /// `file:line:column: message` of each diagnostic, with the temporary directory cut off.
    fn errors(dir: &tempfile::TempDir, main: &str) -> Vec<String> {
        let err = load(dir, main).expect_err("the plan should not load");
        let prefix = format!("{}/", dir.path().display());
        let diagnostics = err.diagnostics().expect("diagnostics");
        diagnostics.iter().map(|d| d.to_string().replace(&prefix, "")).collect()
    }

    fn url(plan: &Plan, scenario: &str) -> String {
        let s = plan.scenarios.iter().find(|s| s.name == scenario).expect("the scenario");
        match s.steps().next() {
            Some(Step::Http(step)) => step.url.clone(),
            other => panic!("expected an http step, got {other:?}"),
        }
    }

    #[test]
    fn the_including_file_wins_and_maps_merge_entry_by_entry() {
        let dir = tree(&[
            (
                "main.yaml",
                "include: [common.yaml, extra.yaml]\nvars: { c: main }\nscenarios:\n  mine: { vus: 1, duration: 1s, flow: [{ http: { url: \"/{{ a }}/{{ b }}/{{ c }}\" } }] }\n",
            ),
            (
                "common.yaml",
                "name: shared\ntarget: http://127.0.0.1:1\ngrading: { latency_target: 1s }\nvars: { a: common, b: common, c: common }\nscenarios:\n  theirs: { vus: 1, duration: 1s, flow: [{ http: { url: /common } }] }\n  mine: { vus: 9, duration: 9s, flow: [{ http: { url: /never } }] }\n",
            ),
            ("extra.yaml", "name: extra\nvars: { b: extra }\ndefaults: { timeout: 7s }\n"),
        ]);
        let plan = load(&dir, "main.yaml").unwrap();
        // `name` is not merged: the later include wins over the earlier; main has none.
        assert_eq!(plan.name, "extra");
        assert_eq!(plan.target.as_ref().and_then(|t| t.port_u16()), Some(1));
        assert_eq!(plan.defaults.timeout, std::time::Duration::from_secs(7));
        assert_eq!(plan.grading.latency_target, Some(std::time::Duration::from_secs(1)));
        // Included entries first, then the including file's; `mine` is main's, whole.
        let names: Vec<&str> = plan.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["theirs", "mine"]);
        assert_eq!(url(&plan, "mine"), "/common/extra/main");
        assert_eq!(url(&plan, "theirs"), "/common");
    }

    #[test]
    fn nested_includes_are_relative_to_the_file_naming_them() {
        let dir = tree(&[
            (
                "plans/main.yaml",
                "include: ../shared/base.yaml\nvus: 1\nduration: 1s\nflow: [{ http: { url: \"/{{ deep }}/{{ mid }}\" } }]\n",
            ),
            ("shared/base.yaml", "include: [flows/deep.yaml]\nvars: { mid: base }\n"),
            ("shared/flows/deep.yaml", "target: http://127.0.0.1:2\nvars: { deep: deep, mid: deep }\n"),
            ("shared/empty.yaml", ""),
        ]);
        let plan = load(&dir, "plans/main.yaml").unwrap();
        assert_eq!(url(&plan, "default"), "/deep/base");
        assert_eq!(plan.name, "main", "the name still comes from the plan file");

        // A single string, an empty file, and `parse` with a path-like name.
        let text = "include: empty.yaml\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]\n";
        let file = dir.path().join("shared/virtual.yaml");
        crate::parse(text, &file.display().to_string(), &LoadOptions::default()).unwrap();
    }

    #[test]
    fn a_cycle_names_the_chain() {
        let dir = tree(&[
            ("a.yaml", "include: b.yaml\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]\n"),
            ("b.yaml", "vars: { x: 1 }\ninclude:\n  - c.yaml\n"),
            ("c.yaml", "include: [./a.yaml]\n"),
        ]);
        assert_eq!(errors(&dir, "a.yaml"), ["c.yaml:1:11: include cycle: a.yaml → b.yaml → c.yaml → a.yaml"]);
        let dir = tree(&[("self.yaml", "include: self.yaml\n")]);
        assert_eq!(errors(&dir, "self.yaml"), ["self.yaml:1:10: include cycle: self.yaml → self.yaml"]);
    }

    #[test]
    fn a_diamond_is_not_a_cycle() {
        let dir = tree(&[
            (
                "main.yaml",
                "include: [left.yaml, right.yaml]\nvus: 1\nduration: 1s\nflow: [{ http: { url: \"/{{ v }}\" } }]\n",
            ),
            ("left.yaml", "include: base.yaml\n"),
            ("right.yaml", "include: base.yaml\n"),
            ("base.yaml", "target: http://127.0.0.1:3\nvars: { v: base }\n"),
        ]);
        assert_eq!(url(&load(&dir, "main.yaml").unwrap(), "default"), "/base");
    }

    #[test]
    fn include_problems_are_reported_where_the_include_is_written() {
        let dir = tree(&[
            (
                "main.yaml",
                "name: x\ninclude:\n  - ok.yaml\n  - sub/missing.yaml\n  - 5\n  - list.yaml\n  - bad.yaml\n",
            ),
            ("ok.yaml", "vars: { a: 1 }\n"),
            ("list.yaml", "- 1\n- 2\n"),
            ("bad.yaml", "vars: { a: [1\n"),
        ]);
        let got = errors(&dir, "main.yaml");
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(got[0], "main.yaml:4:5: cannot read included file `sub/missing.yaml`: no such file");
        assert_eq!(got[1], "main.yaml:5:5: expected a file path (a string), found an integer");
        assert_eq!(
            got[2],
            "list.yaml:1:1: an included file holds plan keys: expected a mapping, found a list"
        );
        assert!(got[3].starts_with("bad.yaml:1:12: invalid YAML"), "{got:#?}");
        let dir = tree(&[("main.yaml", "include: { a: b }\n")]);
        assert_eq!(
            errors(&dir, "main.yaml"),
            ["main.yaml:1:10: expected a file path or a list of file paths, found a mapping"]
        );
    }

    #[test]
    fn mistakes_in_an_included_file_name_that_file_and_its_own_position() {
        let dir = tree(&[
            (
                "main.yaml",
                "include: flows/auth.yaml\ntarget: http://127.0.0.1:1\nscenarios:\n  s: { vus: 1, duration: 1s, user_types: [login] }\n  t: { vus: 0, duration: 1s, flow: [{ think: 1s }] }\n",
            ),
            (
                "flows/auth.yaml",
                "# shared login\nuser_types:\n  login:\n    flow:\n      - http: { url: \"/u/{{ nope }}\" }\n      - think: soon\n    wieght: 2\n",
            ),
        ]);
        let got = errors(&dir, "main.yaml");
        // Messages are other modules' business; the start of each is enough here.
        let expected = [
            "main.yaml:5:13: expected a positive integer, found 0",
            // The column is counted in the included file's own text.
            "flows/auth.yaml:5:26: unknown variable `nope`",
            "flows/auth.yaml:6:16: expected a duration like 500ms or 1m30s, found `soon`",
            "flows/auth.yaml:7:5: unknown key `wieght`",
        ];
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for (got, expected) in got.iter().zip(expected) {
            assert!(got.starts_with(expected), "expected {expected:?}, got {got:?}");
        }
    }

    #[test]
    fn overlay_keeps_repeated_keys_of_one_file_for_the_loader() {
        let dir = tree(&[
            (
                "main.yaml",
                "include: common.yaml\nvars: { a: 1, a: 2 }\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]\n",
            ),
            ("common.yaml", "vars: { a: 0 }\n"),
        ]);
        assert_eq!(errors(&dir, "main.yaml"), ["main.yaml:2:15: duplicate key `a` (first given at line 2)"]);
    }

    #[test]
    fn tidy_paths() {
        assert_eq!(tidy(Path::new("a/./b/../c.yaml")), Path::new("a/c.yaml"));
        assert_eq!(tidy(Path::new("../x.yaml")), Path::new("../x.yaml"));
        assert_eq!(tidy(Path::new("x.yaml")), Path::new("x.yaml"));
    }
}
