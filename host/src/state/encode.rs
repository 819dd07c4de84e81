//! The saved form of a [`RuleState`]: compact JSON of its content, versioned.
//!
//! Saved: every slot with its window and latest time, counter buckets (with the running sum,
//! so saturation is kept exactly), distinct items with the time each was last seen, values
//! (hex) with their expiry, and the rule's event time. Not saved: the limits (the instance
//! that takes the state brings its own) and the quota accounting, which [`RuleState::decode`]
//! recounts from the content, the same way the state calls count it.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{Counter, Distinct, ENTRY_OVERHEAD, RuleState, Slot, StateLimits};

/// The format version written by [`RuleState::encode`].
const FORMAT: u32 = 1;

/// Why saved state could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateDecodeError {
    #[error("saved rule state is not readable JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("saved rule state has format {0}; this host reads format {FORMAT}")]
    Format(u32),
    #[error("saved rule state, key `{key}`: {reason}")]
    Invalid { key: String, reason: &'static str },
}

#[derive(Serialize, Deserialize)]
struct Saved {
    v: u32,
    now: i64,
    slots: Vec<(String, SavedSlot)>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SavedSlot {
    Counter {
        window: i64,
        latest: i64,
        sum: i64,
        /// (time, delta), oldest first
        buckets: Vec<(i64, i64)>,
    },
    Distinct {
        window: i64,
        latest: i64,
        /// (time last seen, item), oldest first
        items: Vec<(i64, String)>,
    },
    Value {
        /// hex
        bytes: String,
        expires_at: i64,
    },
}

impl RuleState {
    /// The state's content as compact JSON (slots in key order, so equal states encode
    /// equally).
    pub fn encode(&self) -> Vec<u8> {
        let mut keys: Vec<&String> = self.slots.keys().collect();
        keys.sort();
        let slots = keys
            .into_iter()
            .map(|key| {
                let saved = match &self.slots[key] {
                    Slot::Counter(c) => SavedSlot::Counter {
                        window: c.window,
                        latest: c.latest,
                        sum: c.sum,
                        buckets: c.buckets.iter().copied().collect(),
                    },
                    Slot::Distinct(d) => {
                        let mut items: Vec<(i64, String)> =
                            d.last_seen.iter().map(|(i, t)| (*t, i.clone())).collect();
                        items.sort();
                        SavedSlot::Distinct {
                            window: d.window,
                            latest: d.latest,
                            items,
                        }
                    }
                    Slot::Value { bytes, expires_at } => SavedSlot::Value {
                        bytes: hex::encode(bytes),
                        expires_at: *expires_at,
                    },
                };
                (key.clone(), saved)
            })
            .collect();
        let saved = Saved {
            v: FORMAT,
            now: self.now,
            slots,
        };
        serde_json::to_vec(&saved).expect("a state of strings and integers always serializes")
    }

    /// Reads a state written by [`RuleState::encode`], under `limits`. Its entries and bytes
    /// are recounted; state over `limits` is kept (as after a swap to tighter limits), and
    /// further additions are refused until enough of it expires.
    pub fn decode(bytes: &[u8], limits: StateLimits) -> Result<RuleState, StateDecodeError> {
        let saved: Saved = serde_json::from_slice(bytes)?;
        if saved.v != FORMAT {
            return Err(StateDecodeError::Format(saved.v));
        }
        let mut state = RuleState::new(limits);
        state.now = saved.now;
        for (key, slot) in saved.slots {
            let invalid = |reason| StateDecodeError::Invalid {
                key: key.clone(),
                reason,
            };
            let (slot, entries, bytes) = match slot {
                SavedSlot::Counter {
                    window,
                    latest,
                    sum,
                    buckets,
                } => {
                    if window <= 0 {
                        return Err(invalid("a counter window must be positive"));
                    }
                    if buckets.windows(2).any(|w| w[0].0 >= w[1].0) {
                        return Err(invalid("counter buckets must be in time order"));
                    }
                    let n = buckets.len();
                    let counter = Counter {
                        window,
                        latest,
                        sum,
                        buckets: VecDeque::from(buckets),
                    };
                    (Slot::Counter(counter), n, key.len() + n * ENTRY_OVERHEAD)
                }
                SavedSlot::Distinct {
                    window,
                    latest,
                    items,
                } => {
                    if window <= 0 {
                        return Err(invalid("a distinct window must be positive"));
                    }
                    if items.windows(2).any(|w| w[0].0 > w[1].0) {
                        return Err(invalid("distinct items must be in time order"));
                    }
                    let last_seen: HashMap<String, i64> =
                        items.iter().map(|(t, i)| (i.clone(), *t)).collect();
                    if last_seen.len() != items.len() {
                        return Err(invalid("a distinct item is listed twice"));
                    }
                    let n = items.len();
                    let item_bytes: usize =
                        items.iter().map(|(_, i)| i.len() + ENTRY_OVERHEAD).sum();
                    let distinct = Distinct {
                        window,
                        latest,
                        last_seen,
                        order: VecDeque::from(items),
                    };
                    (Slot::Distinct(distinct), n, key.len() + item_bytes)
                }
                SavedSlot::Value { bytes, expires_at } => {
                    let bytes = hex::decode(&bytes).map_err(|_| invalid("a value must be hex"))?;
                    let cost = key.len() + bytes.len() + ENTRY_OVERHEAD;
                    (Slot::Value { bytes, expires_at }, 1, cost)
                }
            };
            state.entries += entries;
            state.bytes += bytes;
            if state.slots.insert(key.clone(), slot).is_some() {
                return Err(invalid("the key is listed twice"));
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateError;

    const MIN: u64 = 60_000;

    fn sample() -> RuleState {
        let mut s = RuleState::new(StateLimits::default());
        s.advance(5_000);
        s.counter_add("c", 1_000, MIN, 2).expect("add");
        s.counter_add("c", 3_000, MIN, 1).expect("add");
        s.counter_add("c", 2_000, MIN, 4).expect("a late add");
        s.distinct_add("d", "x", 1_000, MIN).expect("add");
        s.distinct_add("d", "y", 2_000, MIN).expect("add");
        s.distinct_add("d", "x", 4_000, MIN).expect("seen again");
        s.set("v", &[0, 1, 255], 9_000).expect("set");
        s
    }

    #[test]
    fn a_state_reads_back_as_it_was_with_its_accounting() {
        let s = sample();
        let bytes = s.encode();
        let back = RuleState::decode(&bytes, StateLimits::default()).expect("decodes");
        assert_eq!(back.usage(), s.usage(), "entries and bytes recounted");
        assert_eq!(back.now, s.now);
        assert_eq!(back.encode(), bytes, "same content");
        let mut back = back;
        assert_eq!(back.counter_sum("c", 3_000, MIN), 7);
        assert_eq!(back.get("v", 8_000), Some(vec![0, 1, 255]));
        let (n, items) = back.distinct_items("d", 4_000, MIN, 10);
        assert_eq!((n, items), (2, vec!["x".to_string(), "y".to_string()]));
        // windows keep moving after the restore, and expiry frees what it counted
        assert_eq!(
            back.counter_add("c", 62_500, MIN, 1),
            Ok(2),
            "3_000 and 62_500"
        );
        back.advance(10 * MIN as i64);
        back.purge();
        assert_eq!(back.usage(), crate::state::StateUsage::default());
    }

    #[test]
    fn a_restored_state_counts_against_the_new_limits() {
        let s = sample();
        let entries = s.usage().entries;
        let limits = StateLimits {
            max_entries: entries,
            ..StateLimits::default()
        };
        let mut back = RuleState::decode(&s.encode(), limits).expect("decodes");
        assert_eq!(
            back.set("new", b"v", 9_000),
            Err(StateError::QuotaExceeded),
            "the restored entries fill the quota"
        );
        back.remove("v");
        back.set("new", b"v", 9_000).expect("room again");
    }

    #[test]
    fn damaged_or_foreign_state_is_refused() {
        assert!(matches!(
            RuleState::decode(b"{", StateLimits::default()),
            Err(StateDecodeError::Json(_))
        ));
        assert!(matches!(
            RuleState::decode(br#"{"v":9,"now":0,"slots":[]}"#, StateLimits::default()),
            Err(StateDecodeError::Format(9))
        ));
        let bad = br#"{"v":1,"now":0,"slots":[["c",{"counter":{"window":0,"latest":0,"sum":0,"buckets":[]}}]]}"#;
        assert!(matches!(
            RuleState::decode(bad, StateLimits::default()),
            Err(StateDecodeError::Invalid { .. })
        ));
    }
}
