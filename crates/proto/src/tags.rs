//! The per-VU cache of interned tag sets every protocol keeps, so that a hot step never builds
//! a tag string nor takes the registry's lock.
//!
//! A step's tags are fixed per action (name, method, check names, ...) and per VU (identity
//! tags) except for a few things the outcome decides: the failure kind, the group, and a
//! protocol's status. Each protocol names those in a small key type `K` (`Eq`); each VU keeps,
//! per action, a short list of (key, tag sets). A lookup is a linear scan over (usually) one or
//! two entries comparing integers and, for the group, an `Arc<str>` (whose `==` compares the
//! pointers before the text; the engine hands out one `Arc` per group). No hashing, no
//! allocation on a hit; interning happens only on a miss. Keeping it per VU needs no locking
//! and costs a few dozen bytes per action and VU.
//!
//! [`TagSetBuilder`] builds the sets on a miss from the parts every protocol shares (identity
//! tags, `name`, `group`, `error`, one `check` set per check) and the protocol's own tags.

use std::sync::Arc;

use stampede_metrics::{Registry, TagSetId};

use crate::FailureKind;

/// At most this many keys are cached per action and VU; a step that sees more (a server
/// answering with ever new statuses) recycles the last slot, so memory stays bounded.
pub const MAX_TAG_ENTRIES_PER_ACTION: usize = 16;

/// What varies between a step's tag sets, the usual key of a [`TagCache`]: the failure, the
/// group, and the protocol's own `status` (HTTP's status code, gRPC's code, `()` for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKey<S> {
    /// The protocol's status part.
    pub status: S,
    /// Why the step failed, if it did.
    pub failure: Option<FailureKind>,
    /// The VU's group path, empty outside groups. The engine hands out one `Arc` per group,
    /// and `Arc<str>`'s `==` compares the pointers before the text, so a hit is cheap.
    pub group: Arc<str>,
}

/// The interned tag sets of one step outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTags {
    /// Tags of every sample of the step.
    pub step: TagSetId,
    /// Tags of each check's sample: the step's plus `check:<name>`, in the step's check order.
    pub checks: Box<[TagSetId]>,
}

/// A VU's cache of [`StepTags`] per action, keyed by what varies between outcomes.
#[derive(Debug)]
pub struct TagCache<K> {
    actions: Vec<Vec<(K, StepTags)>>,
}

impl<K> Default for TagCache<K> {
    fn default() -> Self {
        TagCache { actions: Vec::new() }
    }
}

impl<K: Eq> TagCache<K> {
    /// The tag sets of action `action` (its index, unique per protocol instance) for `key`;
    /// on a miss `build` makes them (interning) and they are kept under `key`.
    pub fn get(&mut self, action: usize, key: K, build: impl FnOnce(&K) -> StepTags) -> &StepTags {
        if self.actions.len() <= action {
            self.actions.resize_with(action + 1, Vec::new);
        }
        let entries = &mut self.actions[action];
        let i = match entries.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let tags = build(&key);
                if entries.len() >= MAX_TAG_ENTRIES_PER_ACTION {
                    entries.pop();
                }
                entries.push((key, tags));
                entries.len() - 1
            }
        };
        &entries[i].1
    }

    /// How many keys action `action` has cached.
    pub fn cached(&self, action: usize) -> usize {
        self.actions.get(action).map_or(0, Vec::len)
    }
}

/// Builds a step's tag list in the order every protocol uses (identity tags, `name`, the
/// protocol's own tags, `group`, `error`) and interns it with its check sets. The order
/// matters: a later tag with the same key wins. Used only on a cache miss.
#[derive(Debug)]
pub struct TagSetBuilder<'a> {
    tags: Vec<(&'a str, &'a str)>,
}

impl<'a> TagSetBuilder<'a> {
    /// Starts with the VU's identity tags (scenario, ...) and the step's `name`.
    pub fn new(identity: &'a [(Arc<str>, Arc<str>)], name: &'a str) -> Self {
        let mut tags: Vec<(&str, &str)> = identity.iter().map(|(k, v)| (&**k, &**v)).collect();
        tags.push(("name", name));
        TagSetBuilder { tags }
    }

    /// Adds a protocol's own tag (`method`, `status`, ...).
    pub fn tag(mut self, key: &'a str, value: &'a str) -> Self {
        self.tags.push((key, value));
        self
    }

    /// Adds `group`, unless the step runs outside any group (`group` is empty).
    pub fn group(mut self, group: &'a str) -> Self {
        if !group.is_empty() {
            self.tags.push(("group", group));
        }
        self
    }

    /// Adds `error` if the step failed: the value is [`crate::FailureKind::tag`] or a
    /// protocol's own spelling of it.
    pub fn error(mut self, error: Option<&'a str>) -> Self {
        if let Some(error) = error {
            self.tags.push(("error", error));
        }
        self
    }

    /// Interns the step's set and, for each of `checks` (names), the set plus `check:<name>`.
    pub fn intern(mut self, checks: impl IntoIterator<Item = &'a str>, registry: &Registry) -> StepTags {
        let step = registry.intern(&self.tags);
        let checks = checks
            .into_iter()
            .map(|check| {
                self.tags.push(("check", check));
                let id = registry.intern(&self.tags);
                self.tags.pop();
                id
            })
            .collect();
        StepTags { step, checks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Key = TagKey<u16>;

    fn key(status: u16, failure: Option<FailureKind>, group: &Arc<str>) -> Key {
        TagKey { status, failure, group: group.clone() }
    }

    fn build(registry: &Registry, key: &Key) -> StepTags {
        let status = key.status.to_string();
        let error = key.failure.map(|f| f.tag());
        TagSetBuilder::new(&[], "home")
            .tag("status", &status)
            .group(&key.group)
            .error(error.as_deref())
            .intern(["ok"], registry)
    }

    #[test]
    fn a_hit_does_not_build_and_a_miss_builds_once() {
        let registry = Registry::new();
        let group: Arc<str> = Arc::from("::login");
        let mut cache = TagCache::default();
        let mut builds = 0;
        let first = cache
            .get(0, key(200, None, &group), |k| {
                builds += 1;
                build(&registry, k)
            })
            .clone();
        // The same text in another `Arc` is the same group.
        let again = cache
            .get(0, key(200, None, &Arc::from("::login")), |k| {
                builds += 1;
                build(&registry, k)
            })
            .clone();
        assert_eq!((first.clone(), builds), (again, 1));
        let other = cache.get(0, key(500, None, &group), |k| build(&registry, k)).step;
        assert_ne!(other, first.step);
        let failed = cache.get(0, key(500, Some(FailureKind::Status(500)), &group), |k| build(&registry, k));
        assert_eq!(registry.tagset(failed.step).get("error"), Some("status_500"));
        assert_eq!(cache.cached(0), 3);
        assert_eq!(cache.cached(1), 0);

        let set = registry.tagset(first.step);
        assert_eq!(set.get("name"), Some("home"));
        assert_eq!(set.get("status"), Some("200"));
        assert_eq!(set.get("group"), Some("::login"));
        assert_eq!((set.get("error"), set.get("check")), (None, None));
        let check = registry.tagset(first.checks[0]);
        assert_eq!((check.get("check"), check.get("status")), (Some("ok"), Some("200")));
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_serving_new_keys() {
        let registry = Registry::new();
        let group: Arc<str> = Arc::from("");
        let mut cache = TagCache::default();
        for status in 100..200 {
            let id = cache.get(3, key(status, None, &group), |k| build(&registry, k)).step;
            assert_eq!(registry.tagset(id).get("status"), Some(&*status.to_string()));
        }
        assert_eq!(cache.cached(3), MAX_TAG_ENTRIES_PER_ACTION);
    }

    #[test]
    fn the_builder_skips_an_empty_group_and_no_error_and_later_tags_win() {
        let registry = Registry::new();
        let identity: Vec<(Arc<str>, Arc<str>)> = vec![("scenario".into(), "load".into())];
        let plain = TagSetBuilder::new(&identity, "x").group("").error(None).intern([], &registry);
        let set = registry.tagset(plain.step);
        assert_eq!((set.get("scenario"), set.get("group"), set.get("error")), (Some("load"), None, None));
        assert!(plain.checks.is_empty());

        let failed = TagSetBuilder::new(&identity, "x")
            .tag("scenario", "override")
            .error(Some("timeout"))
            .intern([], &registry);
        let set = registry.tagset(failed.step);
        assert_eq!((set.get("scenario"), set.get("error")), (Some("override"), Some("timeout")));
    }
}
