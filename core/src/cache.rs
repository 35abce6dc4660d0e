//! A bounded cache of values that expire: what an isolate remembers of verified credentials
//! (the Worker's `auth::cache`), for at most the revocation bound and never past the
//! credential's own expiry.
//!
//! Entries are kept until their time runs out or the cache is full. When full, expired
//! entries go first, then the oldest inserted: every entry lives only seconds, so first in,
//! first out evicts about what least-recently-used would, with no bookkeeping on a hit.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Until when a credential verified at `now_ms` may be trusted without reading storage again:
/// `bound_s` seconds, never past the credential's expiry. `None` when it must not be cached
/// at all (a bound of 0, or a credential that has already expired).
pub fn trusted_until(now_ms: i64, bound_s: u32, expires_at_ms: Option<i64>) -> Option<i64> {
    if bound_s == 0 {
        return None;
    }
    let until = now_ms.saturating_add(i64::from(bound_s) * 1000);
    let until = expires_at_ms.map_or(until, |expires| until.min(expires));
    (until > now_ms).then_some(until)
}

/// At most `capacity` values, each until its own time.
#[derive(Debug)]
pub struct ExpiringCache<K, V> {
    capacity: usize,
    entries: HashMap<K, Entry<V>>,
    /// Keys in insertion order, with the insertion's serial: a key removed or inserted again
    /// leaves a stale slot here, skipped when its serial no longer matches.
    order: VecDeque<(K, u64)>,
    serial: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    until_ms: i64,
    serial: u64,
}

impl<K: Eq + Hash + Clone, V> ExpiringCache<K, V> {
    /// An empty cache that holds at most `capacity` values (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            serial: 0,
        }
    }

    /// The value of `key` if its time has not run out at `now_ms`; an expired one is dropped.
    pub fn get(&mut self, key: &K, now_ms: i64) -> Option<&V> {
        if self.entries.get(key).is_some_and(|e| e.until_ms <= now_ms) {
            self.entries.remove(key);
        }
        self.entries.get(key).map(|e| &e.value)
    }

    /// A mutable view of the live value of `key` (to note something about it, such as when
    /// its use was last recorded).
    pub fn get_mut(&mut self, key: &K, now_ms: i64) -> Option<&mut V> {
        self.get(key, now_ms)?;
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    /// Keeps `value` for `key` until `until_ms`, making room if the cache is full.
    pub fn insert(&mut self, key: K, value: V, until_ms: i64, now_ms: i64) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now_ms);
        }
        self.serial += 1;
        let serial = self.serial;
        self.entries.insert(
            key.clone(),
            Entry {
                value,
                until_ms,
                serial,
            },
        );
        self.order.push_back((key, serial));
        // Stale slots can only pile up to the number of live ones; keep the queue near that.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order
                .retain(|(k, serial)| entries.get(k).is_some_and(|e| e.serial == *serial));
        }
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Forgets every value for which `doomed` holds (a revocation, in the isolate that did it).
    pub fn remove_where(&mut self, mut doomed: impl FnMut(&V) -> bool) {
        self.entries.retain(|_, e| !doomed(&e.value));
    }

    /// How many values are held, live or not yet dropped.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every expired value; if none was, the oldest inserted one.
    fn make_room(&mut self, now_ms: i64) {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.until_ms > now_ms);
        if self.entries.len() < before {
            return;
        }
        while let Some((key, serial)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.serial == serial) {
                self.entries.remove(&key);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_lasts_the_bound_but_never_past_expiry() {
        assert_eq!(trusted_until(1_000, 10, None), Some(11_000));
        assert_eq!(trusted_until(1_000, 10, Some(5_000)), Some(5_000));
        assert_eq!(trusted_until(1_000, 10, Some(60_000)), Some(11_000));
        assert_eq!(trusted_until(1_000, 10, Some(1_000)), None, "expired");
        assert_eq!(trusted_until(1_000, 10, Some(500)), None, "expired");
        assert_eq!(trusted_until(1_000, 0, None), None, "no cache");
        assert_eq!(trusted_until(i64::MAX - 5, 60, None), Some(i64::MAX));
    }

    #[test]
    fn a_value_is_found_until_its_time_and_not_after() {
        let mut cache = ExpiringCache::new(4);
        cache.insert("a", 1, 100, 0);
        assert_eq!(cache.get(&"a", 99), Some(&1));
        assert_eq!(cache.get(&"a", 100), None);
        assert!(
            cache.is_empty(),
            "an expired value is dropped when looked up"
        );
        assert_eq!(cache.get(&"b", 0), None);
    }

    #[test]
    fn a_full_cache_drops_the_expired_first_then_the_oldest() {
        let mut cache = ExpiringCache::new(3);
        cache.insert("old", 1, 1_000, 0);
        cache.insert("short", 2, 10, 0);
        cache.insert("new", 3, 1_000, 0);
        // Full: "short" has expired by now, so it goes, not "old".
        cache.insert("fourth", 4, 1_000, 20);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&"old", 20), Some(&1));
        assert_eq!(cache.get(&"short", 20), None);
        // Full of live values: the oldest inserted goes.
        cache.insert("fifth", 5, 1_000, 30);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&"old", 30), None);
        for key in ["new", "fourth", "fifth"] {
            assert!(cache.get(&key, 30).is_some(), "{key}");
        }
    }

    #[test]
    fn inserting_again_refreshes_and_never_grows_past_capacity() {
        let mut cache = ExpiringCache::new(2);
        for round in 0..1_000 {
            cache.insert(round % 5, round, 10_000, 0);
            assert!(cache.len() <= 2);
            assert!(cache.order.len() <= 4, "stale slots are pruned");
        }
        cache.insert(7, 1, 10_000, 0);
        cache.insert(7, 2, 10_000, 0);
        assert_eq!(cache.get(&7, 0), Some(&2));
        // A re-inserted key is young again: the other one is the oldest now.
        cache.insert(8, 3, 10_000, 0);
        assert_eq!(cache.get(&7, 0), Some(&2));
    }

    #[test]
    fn removal_by_key_or_by_value() {
        let mut cache = ExpiringCache::new(8);
        for (key, family) in [("a", "f1"), ("b", "f1"), ("c", "f2")] {
            cache.insert(key, family, 1_000, 0);
        }
        cache.remove_where(|family| *family == "f1");
        assert_eq!(cache.len(), 1);
        cache.remove(&"c");
        assert!(cache.is_empty());
        if let Some(v) = cache.get_mut(&"c", 0) {
            *v = "never";
        }
        cache.insert("d", "f3", 1_000, 0);
        *cache.get_mut(&"d", 0).unwrap() = "f4";
        assert_eq!(cache.get(&"d", 0), Some(&"f4"));
    }
}
