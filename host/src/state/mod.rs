//! Host-kept rule state: windowed counters, windowed distinct sets and a key → bytes store
//! with expiry, all in event time, bounded per rule.
//!
//! State lives here rather than in guest memory so that it outlives an instance: a rule that
//! trapped gets a fresh instance with its windows intact, and (later) a new rule version or a
//! restarted host continues them. Nothing here reads a clock: "now" is the latest event time
//! the engine has shown the rule ([`RuleState::advance`]).
//!
//! Windows are anchored at the latest time seen for their key: a call with an older `at`
//! (a late event) is counted, and answered over the window ending at the latest time.
//!
//! A state is saved as compact JSON ([`RuleState::encode`], [`RuleState::decode`]) for the
//! server's checkpoints. The encoding holds the content only: limits come from the instance
//! that takes the state, and the quota accounting (entries, bytes) is recounted on decode.

mod encode;

pub use encode::StateDecodeError;

use std::collections::{HashMap, VecDeque};

/// Bounds on one rule's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// Entries of every kind: counter buckets, distinct items, stored values.
    pub max_entries: usize,
    /// Bytes of keys, items and values, plus a fixed overhead per entry.
    pub max_bytes: usize,
    /// Distinct items kept per key; past it the oldest item is forgotten.
    pub max_items_per_key: usize,
    pub max_key_len: usize,
    pub max_value_len: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_entries: 200_000,
            max_bytes: 32 << 20,
            max_items_per_key: 10_000,
            max_key_len: 1024,
            max_value_len: 64 << 10,
        }
    }
}

/// Why a state call was refused (mirrors the WIT `state-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the rule's state quota is exhausted")]
    QuotaExceeded,
    #[error("key or value too large")]
    TooLarge,
    #[error("invalid window, or key used with another kind of state")]
    Invalid,
}

/// Bookkeeping cost of one entry beyond its bytes.
const ENTRY_OVERHEAD: usize = 32;

#[derive(Debug)]
enum Slot {
    Counter(Counter),
    Distinct(Distinct),
    Value { bytes: Vec<u8>, expires_at: i64 },
}

#[derive(Debug, Default)]
struct Counter {
    window: i64,
    latest: i64,
    sum: i64,
    /// (time, delta), oldest first; deltas of one ms are merged
    buckets: VecDeque<(i64, i64)>,
}

#[derive(Debug, Default)]
struct Distinct {
    window: i64,
    latest: i64,
    /// item → the last time it was seen
    last_seen: HashMap<String, i64>,
    /// (time, item) in the order seen; stale pairs (item seen again later) are skipped on purge
    order: VecDeque<(i64, String)>,
}

/// Usage figures of one rule's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateUsage {
    pub keys: usize,
    pub entries: usize,
    pub bytes: usize,
}

/// One rule's state.
#[derive(Debug, Default)]
pub struct RuleState {
    limits: StateLimits,
    slots: HashMap<String, Slot>,
    entries: usize,
    bytes: usize,
    /// latest event time the engine has shown the rule
    now: i64,
}

impl RuleState {
    pub fn new(limits: StateLimits) -> Self {
        RuleState {
            limits,
            now: i64::MIN,
            ..RuleState::default()
        }
    }

    /// Applies new bounds (a new version of the rule may run under other limits). State
    /// already over them is kept; further additions are refused until enough expires.
    pub(crate) fn set_limits(&mut self, limits: StateLimits) {
        self.limits = limits;
    }

    /// Moves event time forward (never back): values whose expiry it passed read as absent.
    /// What expired is freed by [`RuleState::purge`].
    pub fn advance(&mut self, now: i64) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Drops expired values and windows with nothing left in them. Called on ticks.
    pub(crate) fn purge(&mut self) {
        let now = self.now;
        let mut freed_entries = 0;
        let mut freed_bytes = 0;
        self.slots.retain(|key, slot| {
            let (keep, entries, bytes) = match slot {
                Slot::Value { bytes, expires_at } => {
                    let keep = *expires_at >= now;
                    (keep, 1, key.len() + bytes.len() + ENTRY_OVERHEAD)
                }
                Slot::Counter(c) => {
                    let (e, b) = c.expire(now.max(c.latest));
                    freed_entries += e;
                    freed_bytes += b;
                    let keep = !c.buckets.is_empty();
                    (keep, 0, key.len())
                }
                Slot::Distinct(d) => {
                    let (e, b) = d.expire(now.max(d.latest));
                    freed_entries += e;
                    freed_bytes += b;
                    let keep = !d.last_seen.is_empty();
                    (keep, 0, key.len())
                }
            };
            if !keep {
                freed_entries += entries;
                freed_bytes += bytes;
            }
            keep
        });
        self.entries -= freed_entries;
        self.bytes -= freed_bytes;
    }

    pub fn usage(&self) -> StateUsage {
        StateUsage {
            keys: self.slots.len(),
            entries: self.entries,
            bytes: self.bytes,
        }
    }

    fn check_key(&self, key: &str) -> Result<(), StateError> {
        if key.len() > self.limits.max_key_len {
            return Err(StateError::TooLarge);
        }
        Ok(())
    }

    fn reserve(&self, entries: usize, bytes: usize) -> Result<(), StateError> {
        if self.entries + entries > self.limits.max_entries
            || self.bytes + bytes > self.limits.max_bytes
        {
            return Err(StateError::QuotaExceeded);
        }
        Ok(())
    }

    pub fn counter_add(
        &mut self,
        key: &str,
        at: i64,
        window_ms: u64,
        delta: i64,
    ) -> Result<i64, StateError> {
        self.check_key(key)?;
        let window = window_to_i64(window_ms)?;
        let key_bytes = if self.slots.contains_key(key) {
            0
        } else {
            key.len()
        };
        let needs_bucket = match self.slots.get(key) {
            Some(Slot::Counter(c)) => !c.has_bucket(at),
            Some(_) => return Err(StateError::Invalid),
            None => true,
        };
        if needs_bucket {
            self.reserve(1, key_bytes + ENTRY_OVERHEAD)?;
        }
        let slot = self
            .slots
            .entry(key.to_owned())
            .or_insert_with(|| Slot::Counter(Counter::default()));
        let Slot::Counter(c) = slot else {
            unreachable!("checked above that the slot is a counter")
        };
        c.window = window;
        let added = c.add(at, delta);
        let (freed_e, freed_b) = c.expire(c.latest);
        self.entries = self.entries + added - freed_e;
        self.bytes = self.bytes + key_bytes + added * ENTRY_OVERHEAD - freed_b;
        Ok(c.sum)
    }

    pub fn counter_sum(&mut self, key: &str, at: i64, window_ms: u64) -> i64 {
        match self.slots.get(key) {
            Some(Slot::Counter(c)) => c.sum_in(
                at.max(c.latest),
                i64::try_from(window_ms).unwrap_or(i64::MAX),
            ),
            _ => 0,
        }
    }

    pub fn distinct_add(
        &mut self,
        key: &str,
        item: &str,
        at: i64,
        window_ms: u64,
    ) -> Result<u32, StateError> {
        self.check_key(key)?;
        if item.len() > self.limits.max_key_len {
            return Err(StateError::TooLarge);
        }
        let window = window_to_i64(window_ms)?;
        let key_bytes = if self.slots.contains_key(key) {
            0
        } else {
            key.len()
        };
        let new_item = match self.slots.get(key) {
            Some(Slot::Distinct(d)) => !d.last_seen.contains_key(item),
            Some(_) => return Err(StateError::Invalid),
            None => true,
        };
        if new_item {
            self.reserve(1, key_bytes + item.len() + ENTRY_OVERHEAD)?;
        }
        let max_items = self.limits.max_items_per_key;
        let slot = self
            .slots
            .entry(key.to_owned())
            .or_insert_with(|| Slot::Distinct(Distinct::default()));
        let Slot::Distinct(d) = slot else {
            unreachable!("checked above that the slot is a distinct set")
        };
        d.window = window;
        d.see(item, at);
        let (mut freed_e, mut freed_b) = d.expire(d.latest);
        while d.last_seen.len() > max_items {
            let (e, b) = d.evict_oldest();
            freed_e += e;
            freed_b += b;
        }
        let added = usize::from(new_item);
        self.entries = self.entries + added - freed_e;
        self.bytes = self.bytes + key_bytes + added * (item.len() + ENTRY_OVERHEAD) - freed_b;
        Ok(u32::try_from(d.last_seen.len()).unwrap_or(u32::MAX))
    }

    pub fn distinct_items(
        &mut self,
        key: &str,
        at: i64,
        window_ms: u64,
        limit: u32,
    ) -> (u32, Vec<String>) {
        let Some(Slot::Distinct(d)) = self.slots.get(key) else {
            return (0, Vec::new());
        };
        let end = at.max(d.latest);
        let start = end.saturating_sub(i64::try_from(window_ms).unwrap_or(i64::MAX));
        let mut items: Vec<(&String, i64)> = d
            .last_seen
            .iter()
            .filter(|(_, t)| **t > start && **t <= end)
            .map(|(item, t)| (item, *t))
            .collect();
        let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
        items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let items = items
            .into_iter()
            .take(limit as usize)
            .map(|(item, _)| item.clone())
            .collect();
        (count, items)
    }

    /// The value under `key` unless it expired by `at`. (A value that expired may still be
    /// read with an earlier `at` until a purge frees it.)
    pub fn get(&self, key: &str, at: i64) -> Option<Vec<u8>> {
        match self.slots.get(key) {
            Some(Slot::Value { bytes, expires_at }) if *expires_at >= at => Some(bytes.clone()),
            _ => None,
        }
    }

    pub fn set(&mut self, key: &str, value: &[u8], expires_at: i64) -> Result<(), StateError> {
        self.check_key(key)?;
        if value.len() > self.limits.max_value_len {
            return Err(StateError::TooLarge);
        }
        let old = match self.slots.get(key) {
            Some(Slot::Value { bytes, .. }) => Some(bytes.len()),
            Some(_) => return Err(StateError::Invalid),
            None => None,
        };
        let new_cost = key.len() + value.len() + ENTRY_OVERHEAD;
        let old_cost = old.map_or(0, |len| key.len() + len + ENTRY_OVERHEAD);
        let new_entries = usize::from(old.is_none());
        self.reserve(new_entries, new_cost.saturating_sub(old_cost))?;
        self.slots.insert(
            key.to_owned(),
            Slot::Value {
                bytes: value.to_vec(),
                expires_at,
            },
        );
        self.entries += new_entries;
        self.bytes = self.bytes + new_cost - old_cost;
        Ok(())
    }

    pub fn remove(&mut self, key: &str) {
        let Some(slot) = self.slots.remove(key) else {
            return;
        };
        let (entries, bytes) = match slot {
            Slot::Value { bytes, .. } => (1, key.len() + bytes.len() + ENTRY_OVERHEAD),
            Slot::Counter(c) => (
                c.buckets.len(),
                key.len() + c.buckets.len() * ENTRY_OVERHEAD,
            ),
            Slot::Distinct(d) => (
                d.last_seen.len(),
                key.len()
                    + d.last_seen
                        .keys()
                        .map(|i| i.len() + ENTRY_OVERHEAD)
                        .sum::<usize>(),
            ),
        };
        self.entries -= entries;
        self.bytes -= bytes;
    }
}

fn window_to_i64(window_ms: u64) -> Result<i64, StateError> {
    match i64::try_from(window_ms) {
        Ok(w) if w > 0 => Ok(w),
        _ => Err(StateError::Invalid),
    }
}

impl Counter {
    fn has_bucket(&self, at: i64) -> bool {
        let pos = self.buckets.partition_point(|(t, _)| *t < at);
        self.buckets.get(pos).is_some_and(|(t, _)| *t == at)
    }

    /// Adds a delta; returns how many buckets were created (0 or 1).
    fn add(&mut self, at: i64, delta: i64) -> usize {
        self.latest = self.latest.max(at);
        if self.buckets.is_empty() {
            self.latest = at;
        }
        self.sum = self.sum.saturating_add(delta);
        match self.buckets.back_mut() {
            Some((t, d)) if *t == at => {
                *d = d.saturating_add(delta);
                0
            }
            Some((t, _)) if *t > at => {
                // a late event: keep the deque sorted
                let pos = self.buckets.partition_point(|(t, _)| *t <= at);
                if pos > 0 && self.buckets[pos - 1].0 == at {
                    self.buckets[pos - 1].1 = self.buckets[pos - 1].1.saturating_add(delta);
                    0
                } else {
                    self.buckets.insert(pos, (at, delta));
                    1
                }
            }
            _ => {
                self.buckets.push_back((at, delta));
                1
            }
        }
    }

    /// Drops buckets at or before `end - window`; returns (entries, bytes) freed.
    fn expire(&mut self, end: i64) -> (usize, usize) {
        let start = end.saturating_sub(self.window);
        let mut freed = 0;
        while let Some((t, d)) = self.buckets.front() {
            if *t > start {
                break;
            }
            self.sum = self.sum.saturating_sub(*d);
            self.buckets.pop_front();
            freed += 1;
        }
        (freed, freed * ENTRY_OVERHEAD)
    }

    fn sum_in(&self, end: i64, window: i64) -> i64 {
        let start = end.saturating_sub(window);
        self.buckets
            .iter()
            .filter(|(t, _)| *t > start && *t <= end)
            .map(|(_, d)| *d)
            .fold(0i64, |a, d| a.saturating_add(d))
    }
}

impl Distinct {
    fn see(&mut self, item: &str, at: i64) {
        if self.last_seen.is_empty() {
            self.latest = at;
        }
        self.latest = self.latest.max(at);
        match self.last_seen.get_mut(item) {
            Some(t) if *t >= at => return,
            Some(t) => *t = at,
            None => {
                self.last_seen.insert(item.to_owned(), at);
            }
        }
        // `order` stays sorted by time: a late item goes to its place, not to the back.
        if self.order.back().is_none_or(|(t, _)| *t <= at) {
            self.order.push_back((at, item.to_owned()));
        } else {
            let pos = self.order.partition_point(|(t, _)| *t <= at);
            self.order.insert(pos, (at, item.to_owned()));
        }
        // Pairs of items seen again later are stale; drop them once they outnumber the live
        // ones, so `order` stays within twice the (bounded) item count.
        if self.order.len() > 2 * self.last_seen.len() + 16 {
            let last_seen = &self.last_seen;
            self.order
                .retain(|(t, item)| last_seen.get(item.as_str()) == Some(t));
        }
    }

    /// Forgets items last seen at or before `end - window`; returns (entries, bytes) freed.
    fn expire(&mut self, end: i64) -> (usize, usize) {
        let start = end.saturating_sub(self.window);
        let (mut entries, mut bytes) = (0, 0);
        while let Some((t, _)) = self.order.front() {
            if *t > start {
                break;
            }
            let Some((t, item)) = self.order.pop_front() else {
                break;
            };
            if self.last_seen.get(&item) == Some(&t) {
                self.last_seen.remove(&item);
                entries += 1;
                bytes += item.len() + ENTRY_OVERHEAD;
            }
        }
        (entries, bytes)
    }

    fn evict_oldest(&mut self) -> (usize, usize) {
        while let Some((t, item)) = self.order.pop_front() {
            if self.last_seen.get(&item) == Some(&t) {
                self.last_seen.remove(&item);
                return (1, item.len() + ENTRY_OVERHEAD);
            }
        }
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn counter_sums_only_its_window() {
        let mut s = RuleState::new(StateLimits::default());
        assert_eq!(s.counter_add("k", 0, MIN, 1), Ok(1));
        assert_eq!(s.counter_add("k", 30_000, MIN, 2), Ok(3));
        assert_eq!(
            s.counter_add("k", 60_000, MIN, 1),
            Ok(3),
            "t=0 left (0, 60000]"
        );
        assert_eq!(s.counter_add("k", 120_001, MIN, 5), Ok(5));
        assert_eq!(s.counter_sum("k", 120_001, MIN), 5);
        assert_eq!(s.usage().entries, 1);
    }

    #[test]
    fn late_events_are_counted_in_order() {
        let mut s = RuleState::new(StateLimits::default());
        s.counter_add("k", 10_000, MIN, 1).expect("add");
        s.counter_add("k", 5_000, MIN, 1).expect("late add");
        assert_eq!(
            s.counter_add("k", 65_000, MIN, 1),
            Ok(2),
            "5000 expired, 10000 kept"
        );
    }

    #[test]
    fn distinct_counts_items_once_and_expires_them() {
        let mut s = RuleState::new(StateLimits::default());
        assert_eq!(s.distinct_add("src", "a", 0, MIN), Ok(1));
        assert_eq!(s.distinct_add("src", "b", 10, MIN), Ok(2));
        assert_eq!(s.distinct_add("src", "a", 20, MIN), Ok(2));
        // at 60_015, "b" (10) has left the window; "a" was refreshed at 20
        assert_eq!(s.distinct_add("src", "c", 60_015, MIN), Ok(2));
        let (n, items) = s.distinct_items("src", 60_015, MIN, 10);
        assert_eq!((n, items), (2, vec!["c".to_string(), "a".to_string()]));
        assert_eq!(s.usage().entries, 2);
    }

    #[test]
    fn late_distinct_items_expire_in_time_order() {
        let mut s = RuleState::new(StateLimits::default());
        s.distinct_add("k", "new", 50_000, MIN).expect("add");
        s.distinct_add("k", "late", 1_000, MIN)
            .expect("a late item");
        // at 61_001 the late item (1_000) has left (1_001, 61_001]; "new" has not
        assert_eq!(s.distinct_add("k", "x", 61_001, MIN), Ok(2));
        let (_, items) = s.distinct_items("k", 61_001, MIN, 10);
        assert_eq!(items, vec!["x".to_string(), "new".to_string()]);
    }

    #[test]
    fn items_seen_again_do_not_grow_without_bound() {
        let mut s = RuleState::new(StateLimits::default());
        for t in 0..100_000 {
            s.distinct_add("k", ["a", "b", "c"][t as usize % 3], t, MIN)
                .expect("add");
        }
        let Some(Slot::Distinct(d)) = s.slots.get("k") else {
            panic!("a distinct set")
        };
        assert_eq!(d.last_seen.len(), 3);
        assert!(
            d.order.len() <= 2 * 3 + 16,
            "order holds {} pairs",
            d.order.len()
        );
    }

    #[test]
    fn a_late_counter_delta_on_an_existing_bucket_needs_no_room() {
        let limits = StateLimits {
            max_entries: 2,
            ..StateLimits::default()
        };
        let mut s = RuleState::new(limits);
        s.counter_add("c", 1_000, MIN, 1).expect("first bucket");
        s.counter_add("c", 2_000, MIN, 1).expect("second bucket");
        assert_eq!(
            s.counter_add("c", 1_000, MIN, 1),
            Ok(3),
            "merges into the first bucket"
        );
    }

    #[test]
    fn distinct_sets_are_bounded_per_key() {
        let limits = StateLimits {
            max_items_per_key: 100,
            ..StateLimits::default()
        };
        let mut s = RuleState::new(limits);
        for i in 0..10_000 {
            let n = s
                .distinct_add("scanner", &format!("10.0.{}.{}", i / 256, i % 256), i, MIN)
                .expect("add");
            assert!(n <= 100);
        }
        assert_eq!(s.usage().entries, 100);
        let (_, newest) = s.distinct_items("scanner", 9_999, MIN, 1);
        assert_eq!(newest, vec!["10.0.39.15".to_string()]);
    }

    #[test]
    fn values_expire_by_event_time() {
        let mut s = RuleState::new(StateLimits::default());
        s.advance(1_000);
        s.set("marker", b"x", 2_000).expect("set");
        assert_eq!(s.get("marker", 1_500), Some(b"x".to_vec()));
        assert_eq!(
            s.get("marker", 2_000),
            Some(b"x".to_vec()),
            "valid until time passes it"
        );
        assert_eq!(s.get("marker", 2_001), None, "judged by the event at hand");
        s.purge();
        assert_eq!(
            s.usage().entries,
            1,
            "not freed before the rule's time passes it"
        );
        s.advance(2_001);
        s.purge();
        assert_eq!(s.usage(), StateUsage::default());
    }

    #[test]
    fn quota_refuses_new_entries_and_keeps_old_ones() {
        let limits = StateLimits {
            max_entries: 3,
            ..StateLimits::default()
        };
        let mut s = RuleState::new(limits);
        for k in ["a", "b", "c"] {
            s.set(k, b"v", i64::MAX).expect("fits");
        }
        assert_eq!(s.set("d", b"v", i64::MAX), Err(StateError::QuotaExceeded));
        assert_eq!(
            s.counter_add("e", 0, MIN, 1),
            Err(StateError::QuotaExceeded)
        );
        s.set("a", b"w", i64::MAX)
            .expect("overwriting needs no new entry");
        assert_eq!(s.get("a", 0), Some(b"w".to_vec()));
        s.remove("b");
        s.set("d", b"v", i64::MAX).expect("room again");
    }

    #[test]
    fn byte_quota_and_size_limits() {
        let limits = StateLimits {
            max_bytes: 200,
            max_value_len: 100,
            max_key_len: 8,
            ..StateLimits::default()
        };
        let mut s = RuleState::new(limits);
        assert_eq!(s.set("k", &[0; 101], 0), Err(StateError::TooLarge));
        assert_eq!(s.set("much-too-long", b"", 0), Err(StateError::TooLarge));
        s.set("a", &[0; 100], 0).expect("fits");
        assert_eq!(s.set("b", &[0; 100], 0), Err(StateError::QuotaExceeded));
    }

    #[test]
    fn kinds_do_not_mix_and_windows_must_be_positive() {
        let mut s = RuleState::new(StateLimits::default());
        s.set("k", b"v", 0).expect("set");
        assert_eq!(s.counter_add("k", 0, MIN, 1), Err(StateError::Invalid));
        assert_eq!(s.distinct_add("k", "i", 0, MIN), Err(StateError::Invalid));
        assert_eq!(s.counter_add("c", 0, 0, 1), Err(StateError::Invalid));
    }

    #[test]
    fn purge_drops_empty_windows_and_accounts_bytes() {
        let mut s = RuleState::new(StateLimits::default());
        s.counter_add("c", 0, MIN, 1).expect("add");
        s.distinct_add("d", "x", 0, MIN).expect("add");
        assert!(s.usage().bytes > 0);
        s.advance(10 * MIN as i64);
        s.purge();
        assert_eq!(s.usage(), StateUsage::default());
    }
}
