//! Per-VU cache of interned tag sets, so that steady-state steps never build a tag string.
//!
//! A step's tags are fixed per action (socket name, action, check names) and per VU (identity)
//! except two things: the failure kind and the group. Each VU keeps, per action, a short list
//! keyed by those two; a lookup compares a small enum and a group pointer. Interning happens
//! only on a miss. (The `http` protocol does the same with its own key; the caches are not
//! shared because their keys differ.)

use std::sync::Arc;

use stampede_metrics::{Registry, TagSetId};
use stampede_plan::Check;
use stampede_proto::FailureKind;

/// At most this many (failure, group) combinations are cached per action and VU.
const MAX_ENTRIES_PER_ACTION: usize = 16;

/// The fixed part of a step's tags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TagSource<'a> {
    /// The action's index, unique per protocol instance.
    pub action: usize,
    /// The VU's identity tags (scenario, ...).
    pub identity: &'a [(Arc<str>, Arc<str>)],
    /// The socket's name.
    pub name: &'a str,
    /// `connect`, `send`, ...
    pub kind: &'static str,
    /// The step's checks, one `check` tag set each.
    pub checks: &'a [Check],
}

/// Interned tag sets of one step outcome.
#[derive(Debug)]
pub(crate) struct StepTags {
    /// Tags of every sample of the step.
    pub step: TagSetId,
    /// Tags of each check's sample: the step's plus `check:<name>`.
    pub checks: Box<[TagSetId]>,
}

#[derive(Debug)]
struct Entry {
    failure: Option<FailureKind>,
    group: Arc<str>,
    tags: StepTags,
}

/// The cache, one per VU.
#[derive(Debug, Default)]
pub(crate) struct TagCache {
    actions: Vec<Vec<Entry>>,
}

impl TagCache {
    /// The tag sets for a step of `source` that ended with `failure` in `group`.
    pub(crate) fn get(
        &mut self,
        source: &TagSource<'_>,
        key: (Option<FailureKind>, &Arc<str>),
        registry: &Registry,
    ) -> &StepTags {
        let (failure, group) = key;
        if self.actions.len() <= source.action {
            self.actions.resize_with(source.action + 1, Vec::new);
        }
        let entries = &mut self.actions[source.action];
        let hit = entries
            .iter()
            .position(|e| e.failure == failure && (Arc::ptr_eq(&e.group, group) || *e.group == **group));
        let i = match hit {
            Some(i) => i,
            None => {
                let entry =
                    Entry { failure, group: group.clone(), tags: intern(source, failure, group, registry) };
                if entries.len() < MAX_ENTRIES_PER_ACTION {
                    entries.push(entry);
                    entries.len() - 1
                } else {
                    let last = entries.len() - 1;
                    entries[last] = entry;
                    last
                }
            }
        };
        &entries[i].tags
    }
}

fn intern(
    source: &TagSource<'_>,
    failure: Option<FailureKind>,
    group: &str,
    registry: &Registry,
) -> StepTags {
    let error = failure.map(|f| f.tag());
    let mut tags: Vec<(&str, &str)> = source.identity.iter().map(|(k, v)| (&**k, &**v)).collect();
    tags.push(("name", source.name));
    tags.push(("action", source.kind));
    if !group.is_empty() {
        tags.push(("group", group));
    }
    if let Some(error) = &error {
        tags.push(("error", error));
    }
    let step = registry.intern(&tags);
    let checks = source
        .checks
        .iter()
        .map(|check| {
            tags.push(("check", &check.name));
            let id = registry.intern(&tags);
            tags.pop();
            id
        })
        .collect();
    StepTags { step, checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_do_not_intern_and_misses_build_the_full_set() {
        let registry = Registry::new();
        let identity: Vec<(Arc<str>, Arc<str>)> = vec![("scenario".into(), "chat".into())];
        let source = TagSource { action: 2, identity: &identity, name: "room", kind: "receive", checks: &[] };
        let none: Arc<str> = Arc::from("");
        let mut cache = TagCache::default();
        let ok = cache.get(&source, (None, &none), &registry).step;
        let interned = registry.tagset_count();
        assert_eq!(cache.get(&source, (None, &none), &registry).step, ok);
        assert_eq!(registry.tagset_count(), interned, "a hit interns nothing");
        let set = registry.tagset(ok);
        assert_eq!(set.get("name"), Some("room"));
        assert_eq!(set.get("action"), Some("receive"));
        assert_eq!(set.get("scenario"), Some("chat"));
        assert_eq!(set.get("error"), None);

        let group: Arc<str> = Arc::from("::talk");
        let failed = cache.get(&source, (Some(FailureKind::Timeout), &group), &registry).step;
        let set = registry.tagset(failed);
        assert_eq!(set.get("error"), Some("timeout"));
        assert_eq!(set.get("group"), Some("::talk"));
    }
}
