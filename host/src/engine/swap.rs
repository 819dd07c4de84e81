//! Hot swap: replacing the engine's rule set between two batches.
//!
//! The engine is single-threaded and dispatches only inside `push` and `flush`, so whenever
//! its owner can call [`Engine::swap_rules`] no batch is in flight: every event already
//! dispatched was evaluated by the old set, every event still in the reorder buffer or in the
//! partial batch (`ready`) will be evaluated by the new one. Nothing else changes: the
//! sequence counter, the buffer, the watermark and the last tick stay, so seq keeps counting
//! and ordering is as if no swap had happened.
//!
//! State follows the rule id: the new instance of a rule takes the old instance's host-kept
//! state (its windows continue), a rule new to the set starts empty, and a rule no longer in
//! the set is dropped with its state. Counters follow the id too (see [`RuleStats`]).
//!
//! A rule whose new instance runs the same component with the same config and limits as the
//! running one is not swapped at all: the running instance stays (with its guest memory, its
//! fault window and its quarantine) and the new one is dropped. The server rebuilds a
//! tenant's whole set for every change, so this keeps a config change of one rule from
//! restarting the others (a fresh instance's first calls cost more: its memory is new).

use super::{ActiveRule, Engine, RuleStats};
use crate::sandbox::RuleInstance;

/// What a swap did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SwapReport {
    /// rules of both sets, changed: the new instance continues the old one's state and
    /// counters
    pub carried: Vec<String>,
    /// rules of both sets, unchanged (same component, config and limits): the running
    /// instance stays
    pub kept: Vec<String>,
    /// rules only in the new set: they start with empty state
    pub added: Vec<String>,
    /// rules only in the old set, with their final counters: their state is dropped
    pub removed: Vec<(String, RuleStats)>,
    /// kept rules that stay quarantined
    pub still_quarantined: Vec<String>,
    /// events accepted but not yet evaluated, which the new set will evaluate
    pub pending: usize,
}

impl Engine {
    /// Replaces the rule set with `new` (instantiated and `init`ed by the caller), between
    /// two batches. Rules run in the order of `new`. If two instances in `new` share an id,
    /// the first takes the old state and the other starts empty.
    ///
    /// An unchanged rule keeps its running instance, and so stays quarantined if it was; a
    /// new version or a new config gets a clean fault window.
    pub fn swap_rules(&mut self, new: Vec<RuleInstance>) -> SwapReport {
        let mut old: Vec<Option<ActiveRule>> = std::mem::take(&mut self.rules)
            .into_iter()
            .map(Some)
            .collect();
        let mut report = SwapReport {
            pending: self.pending(),
            ..SwapReport::default()
        };
        for mut instance in new {
            let id = instance.info().id.clone();
            let previous = old
                .iter_mut()
                .find(|r| r.as_ref().is_some_and(|r| r.instance.info().id == id))
                .and_then(Option::take);
            let Some(mut previous) = previous else {
                report.added.push(id);
                let rule = self.active(instance);
                self.rules.push(rule);
                continue;
            };
            if previous.instance.same_as(&instance) {
                if previous.stats.quarantined {
                    report.still_quarantined.push(id.clone());
                }
                report.kept.push(id);
                self.rules.push(previous);
                continue;
            }
            instance.put_state(previous.instance.take_state());
            let mut rule = self.active(instance);
            rule.stats = std::mem::take(&mut previous.stats);
            rule.stats.swaps += 1;
            rule.stats.quarantined = false;
            report.carried.push(id);
            self.rules.push(rule);
        }
        for rule in old.into_iter().flatten() {
            report
                .removed
                .push((rule.instance.info().id.clone(), rule.stats));
        }
        tracing::debug!(
            carried = report.carried.len(),
            kept = report.kept.len(),
            added = report.added.len(),
            removed = report.removed.len(),
            pending = report.pending,
            "rule set swapped"
        );
        report
    }
}
