//! What a WebSocket step's tags are made of, for the per-VU [`stampede_proto::TagCache`], so
//! that steady-state steps never build a tag string.
//!
//! A step's tags are fixed per action (socket name, action, check names) and per VU (identity)
//! except two things: the failure kind and the group. Those make the cache's [`TagKey`]; a
//! lookup compares a small enum and a group pointer, and interning happens only on a miss
//! ([`TagSource::intern`]).

use std::sync::Arc;

use stampede_metrics::Registry;
use stampede_plan::Check;
use stampede_proto::{StepTags, TagSetBuilder};

/// The VU's cache of step tag sets, per action.
pub(crate) type TagCache = stampede_proto::TagCache<TagKey>;

/// The varying part of a step's tags: WebSocket steps have no status of their own.
pub(crate) type TagKey = stampede_proto::TagKey<()>;

/// The fixed part of a step's tags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TagSource<'a> {
    /// The VU's identity tags (scenario, ...).
    pub identity: &'a [(Arc<str>, Arc<str>)],
    /// The socket's name.
    pub name: &'a str,
    /// `connect`, `send`, ...
    pub kind: &'static str,
    /// The step's checks, one `check` tag set each.
    pub checks: &'a [Check],
}

impl TagSource<'_> {
    /// Builds and interns the tag sets of a step ending as `key`: a cache miss.
    pub(crate) fn intern(&self, key: &TagKey, registry: &Registry) -> StepTags {
        let error = key.failure.map(|f| f.tag());
        TagSetBuilder::new(self.identity, self.name)
            .tag("action", self.kind)
            .group(&key.group)
            .error(error.as_deref())
            .intern(self.checks.iter().map(|c| c.name.as_str()), registry)
    }
}

#[cfg(test)]
mod tests {
    use stampede_proto::FailureKind;

    use super::*;

    #[test]
    fn hits_do_not_intern_and_misses_build_the_full_set() {
        let registry = Registry::new();
        let identity: Vec<(Arc<str>, Arc<str>)> = vec![("scenario".into(), "chat".into())];
        let source = TagSource { identity: &identity, name: "room", kind: "receive", checks: &[] };
        let none: Arc<str> = Arc::from("");
        let ok = || TagKey { status: (), failure: None, group: none.clone() };
        let mut cache = TagCache::default();
        let first = cache.get(2, ok(), |k| source.intern(k, &registry)).step;
        let interned = registry.tagset_count();
        assert_eq!(cache.get(2, ok(), |k| source.intern(k, &registry)).step, first);
        assert_eq!(registry.tagset_count(), interned, "a hit interns nothing");
        let set = registry.tagset(first);
        assert_eq!(set.get("name"), Some("room"));
        assert_eq!(set.get("action"), Some("receive"));
        assert_eq!(set.get("scenario"), Some("chat"));
        assert_eq!(set.get("group"), None);
        assert_eq!(set.get("error"), None);

        let group: Arc<str> = Arc::from("::talk");
        let failed = TagKey { status: (), failure: Some(FailureKind::Timeout), group };
        let set = registry.tagset(cache.get(2, failed, |k| source.intern(k, &registry)).step);
        assert_eq!(set.get("error"), Some("timeout"));
        assert_eq!(set.get("group"), Some("::talk"));
    }
}
