//! Per-VU cache of interned tag sets, so that steady-state requests never build a tag string.
//!
//! Everything a request's tags depend on is fixed per action (name, method, expected
//! statuses, check names) or per VU (identity tags) except three things: the status, the
//! failure kind and the group. So each VU keeps, per action, a short list keyed by those three;
//! a lookup is a linear scan over (usually) one or two entries comparing integers and, for the
//! group, a pointer (the engine hands out one `Arc<str>` per group) before the string.
//! Interning happens only on a miss. Keeping it per VU needs no locking at all and costs a few
//! dozen bytes per action and VU.

use std::sync::Arc;

use stampede_metrics::{Registry, TagSetId};
use stampede_proto::FailureKind;

/// At most this many (status, failure, group) combinations are cached per action and VU; a
/// step that sees more (a server answering with ever new statuses) recycles the last slot.
const MAX_ENTRIES_PER_ACTION: usize = 16;

/// The varying part of a request's tags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TagKey<'a> {
    /// The status, 0 after a transport failure.
    pub status: u16,
    /// Why the request failed, if it did.
    pub failure: Option<FailureKind>,
    /// The VU's group path, empty outside groups.
    pub group: &'a Arc<str>,
}

/// The fixed part: what the action and the VU contribute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TagSource<'a> {
    /// The action's index, unique per protocol instance.
    pub action: usize,
    /// The VU's identity tags (scenario, ...).
    pub identity: &'a [(Arc<str>, Arc<str>)],
    /// The request's name.
    pub name: &'a str,
    /// The method.
    pub method: &'a str,
    /// The names of the step's checks (and of its extractions, `extract <name>`), one
    /// `check` tag set each.
    pub checks: &'a [String],
}

/// Interned tag sets for one request outcome.
#[derive(Debug)]
pub(crate) struct RequestTags {
    /// Tags of every sample of the request.
    pub request: TagSetId,
    /// Tags of each check's sample: the request's plus `check:<name>`.
    pub checks: Box<[TagSetId]>,
}

#[derive(Debug)]
struct Entry {
    status: u16,
    failure: Option<FailureKind>,
    group: Arc<str>,
    tags: RequestTags,
}

/// The cache, one per VU.
#[derive(Debug, Default)]
pub(crate) struct TagCache {
    actions: Vec<Vec<Entry>>,
}

impl TagCache {
    /// The tag sets for `key` under `source`, interned in `registry` on a miss.
    pub(crate) fn get(
        &mut self,
        source: &TagSource<'_>,
        key: TagKey<'_>,
        registry: &Registry,
    ) -> &RequestTags {
        if self.actions.len() <= source.action {
            self.actions.resize_with(source.action + 1, Vec::new);
        }
        let entries = &mut self.actions[source.action];
        let hit = entries.iter().position(|e| {
            e.status == key.status
                && e.failure == key.failure
                && (Arc::ptr_eq(&e.group, key.group) || *e.group == **key.group)
        });
        let i = match hit {
            Some(i) => i,
            None => {
                let entry = Entry {
                    status: key.status,
                    failure: key.failure,
                    group: key.group.clone(),
                    tags: intern(source, key, registry),
                };
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

fn intern(source: &TagSource<'_>, key: TagKey<'_>, registry: &Registry) -> RequestTags {
    let status = key.status.to_string();
    let error = key.failure.map(|f| f.tag());
    // A status outside the expected set is exactly a `Status` failure.
    let expected = match key.failure {
        None => "true",
        Some(_) => "false",
    };
    let mut tags: Vec<(&str, &str)> = source.identity.iter().map(|(k, v)| (&**k, &**v)).collect();
    tags.push(("name", source.name));
    tags.push(("method", source.method));
    tags.push(("status", &status));
    tags.push(("expected_response", expected));
    if !key.group.is_empty() {
        tags.push(("group", key.group));
    }
    if let Some(error) = &error {
        tags.push(("error", error));
    }
    let request = registry.intern(&tags);
    let checks = source
        .checks
        .iter()
        .map(|check| {
            tags.push(("check", check));
            let id = registry.intern(&tags);
            tags.pop();
            id
        })
        .collect();
    RequestTags { request, checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_do_not_intern_and_misses_build_the_full_set() {
        let registry = Registry::new();
        let identity: Vec<(Arc<str>, Arc<str>)> = vec![("scenario".into(), "load".into())];
        let checks = vec!["is ok".to_string()];
        let source =
            TagSource { action: 3, identity: &identity, name: "home", method: "GET", checks: &checks };
        let no_group: Arc<str> = Arc::from("");
        let ok = TagKey { status: 200, failure: None, group: &no_group };
        let mut cache = TagCache::default();
        let first = cache.get(&source, ok, &registry).request;
        let interned = registry.tagset_count();
        assert_eq!(cache.get(&source, ok, &registry).request, first);
        assert_eq!(registry.tagset_count(), interned, "a hit interns nothing");

        let set = registry.tagset(first);
        assert_eq!(set.get("scenario"), Some("load"));
        assert_eq!(set.get("status"), Some("200"));
        assert_eq!(set.get("expected_response"), Some("true"));
        assert_eq!(set.get("group"), None);
        assert_eq!(set.get("error"), None);
        let check = registry.tagset(cache.get(&source, ok, &registry).checks[0]);
        assert_eq!(check.get("check"), Some("is ok"));
        assert_eq!(check.get("name"), Some("home"));

        let group: Arc<str> = Arc::from("::login");
        let failed = TagKey { status: 0, failure: Some(FailureKind::Timeout), group: &group };
        let set = registry.tagset(cache.get(&source, failed, &registry).request);
        assert_eq!(set.get("status"), Some("0"));
        assert_eq!(set.get("error"), Some("timeout"));
        assert_eq!(set.get("group"), Some("::login"));
        assert_eq!(set.get("expected_response"), Some("false"));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let registry = Registry::new();
        let source = TagSource { action: 0, identity: &[], name: "x", method: "GET", checks: &[] };
        let group: Arc<str> = Arc::from("");
        let mut cache = TagCache::default();
        for status in 100..200 {
            let key = TagKey { status, failure: Some(FailureKind::Status(status)), group: &group };
            let id = cache.get(&source, key, &registry).request;
            assert_eq!(registry.tagset(id).get("status"), Some(&*status.to_string()));
        }
        assert_eq!(cache.actions[0].len(), MAX_ENTRIES_PER_ACTION);
    }
}
