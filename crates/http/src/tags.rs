//! What an HTTP request's tags are made of, for the per-VU [`stampede_proto::TagCache`], so
//! that steady-state requests never build a tag string.
//!
//! Everything a request's tags depend on is fixed per action (name, method, expected
//! statuses, check names) or per VU (identity tags) except three things: the status, the
//! failure kind and the group. Those make the cache's [`TagKey`]; a lookup compares integers
//! and a group pointer, and interning happens only on a miss ([`TagSource::intern`]).

use std::sync::Arc;

use stampede_metrics::Registry;
use stampede_proto::{StepTags, TagSetBuilder};

/// The VU's cache of request tag sets, per action.
pub(crate) type TagCache = stampede_proto::TagCache<TagKey>;

/// The varying part of a request's tags; the status is 0 after a transport failure.
pub(crate) type TagKey = stampede_proto::TagKey<u16>;

/// The fixed part: what the action and the VU contribute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TagSource<'a> {
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

impl TagSource<'_> {
    /// Builds and interns the tag sets of a request ending as `key`: a cache miss.
    pub(crate) fn intern(&self, key: &TagKey, registry: &Registry) -> StepTags {
        let status = key.status.to_string();
        let error = key.failure.map(|f| f.tag());
        // A status outside the expected set is exactly a `Status` failure.
        let expected = match key.failure {
            None => "true",
            Some(_) => "false",
        };
        TagSetBuilder::new(self.identity, self.name)
            .tag("method", self.method)
            .tag("status", &status)
            .tag("expected_response", expected)
            .group(&key.group)
            .error(error.as_deref())
            .intern(self.checks.iter().map(String::as_str), registry)
    }
}

#[cfg(test)]
mod tests {
    use stampede_proto::FailureKind;

    use super::*;

    #[test]
    fn hits_do_not_intern_and_misses_build_the_full_set() {
        let registry = Registry::new();
        let identity: Vec<(Arc<str>, Arc<str>)> = vec![("scenario".into(), "load".into())];
        let checks = vec!["is ok".to_string()];
        let source = TagSource { identity: &identity, name: "home", method: "GET", checks: &checks };
        let no_group: Arc<str> = Arc::from("");
        let ok = || TagKey { status: 200, failure: None, group: no_group.clone() };
        let mut cache = TagCache::default();
        let first = cache.get(3, ok(), |k| source.intern(k, &registry)).step;
        let interned = registry.tagset_count();
        assert_eq!(cache.get(3, ok(), |k| source.intern(k, &registry)).step, first);
        assert_eq!(registry.tagset_count(), interned, "a hit interns nothing");

        let set = registry.tagset(first);
        assert_eq!(set.get("scenario"), Some("load"));
        assert_eq!(set.get("name"), Some("home"));
        assert_eq!(set.get("method"), Some("GET"));
        assert_eq!(set.get("status"), Some("200"));
        assert_eq!(set.get("expected_response"), Some("true"));
        assert_eq!(set.get("group"), None);
        assert_eq!(set.get("error"), None);
        let check = registry.tagset(cache.get(3, ok(), |k| source.intern(k, &registry)).checks[0]);
        assert_eq!(check.get("check"), Some("is ok"));
        assert_eq!(check.get("name"), Some("home"));

        let group: Arc<str> = Arc::from("::login");
        let failed = TagKey { status: 0, failure: Some(FailureKind::Timeout), group };
        let set = registry.tagset(cache.get(3, failed, |k| source.intern(k, &registry)).step);
        assert_eq!(set.get("status"), Some("0"));
        assert_eq!(set.get("error"), Some("timeout"));
        assert_eq!(set.get("group"), Some("::login"));
        assert_eq!(set.get("expected_response"), Some("false"));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let registry = Registry::new();
        let source = TagSource { identity: &[], name: "x", method: "GET", checks: &[] };
        let group: Arc<str> = Arc::from("");
        let mut cache = TagCache::default();
        for status in 100..200 {
            let key = TagKey { status, failure: Some(FailureKind::Status(status)), group: group.clone() };
            let id = cache.get(0, key, |k| source.intern(k, &registry)).step;
            assert_eq!(registry.tagset(id).get("status"), Some(&*status.to_string()));
            assert_eq!(registry.tagset(id).get("error"), Some(&*format!("status_{status}")));
        }
        assert_eq!(cache.cached(0), stampede_proto::tags::MAX_TAG_ENTRIES_PER_ACTION);
    }
}
