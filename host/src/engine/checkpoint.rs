//! Checkpoints: what a restarted engine needs to continue where a running one was.
//!
//! An [`EngineSnapshot`] holds the sequence counter, the event-time positions (newest event,
//! watermark, last tick) and every event accepted but not yet evaluated: those in the reorder
//! buffer and those in the partial batch, each with the seq it was given. Together with each
//! rule's host state ([`Engine::rule_states`]), taken at the same moment (between two
//! batches, like a swap), it describes the engine exactly: every event it accepted is either
//! reflected in the rules' state (dispatched) or in `buffered`/`ready` (waiting), never both.
//! [`Engine::restore`] puts such a moment back into a fresh engine. Guest memory, counters
//! (`RuleStats`) and quarantine are not part of it: they start afresh, as after a restart.

use serde::{Deserialize, Serialize};

use super::{Engine, Pending};
use crate::event::Event;
use crate::rule::RuleInfo;
use crate::state::RuleState;
use std::cmp::Reverse;

/// The engine's position in its stream, without the rules' state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    /// the seq the next accepted event gets
    pub next_seq: u64,
    /// the newest event time accepted
    pub newest: i64,
    pub watermark: Option<i64>,
    pub last_tick: Option<i64>,
    /// events waiting in the reorder buffer, in (time, seq) order
    pub buffered: Vec<Event>,
    /// events released from the buffer, waiting for their batch, in release order
    pub ready: Vec<Event>,
}

impl Engine {
    /// The engine's position now: call it between two batches (any time its owner holds it).
    pub fn snapshot(&self) -> EngineSnapshot {
        let mut buffered: Vec<Event> = self.buffer.iter().map(|r| r.0.0.clone()).collect();
        buffered.sort_by_key(|e| (e.time, e.seq));
        EngineSnapshot {
            next_seq: self.next_seq,
            newest: self.newest,
            watermark: self.watermark,
            last_tick: self.last_tick,
            buffered,
            ready: self.ready.clone(),
        }
    }

    /// Each running rule's id and host state, in the order added (rules that never had an
    /// instance are left out: they hold nothing).
    pub fn rule_states(&self) -> impl Iterator<Item = (&str, &RuleState)> {
        self.rules.iter().filter_map(|r| {
            r.instance
                .state()
                .map(|s| (r.instance.info().id.as_str(), s))
        })
    }

    /// Takes every running rule's host state out (each rule is left empty), by rule id: what a
    /// promoted shadow hands to the rules that replace the live ones.
    pub fn take_rule_states(&mut self) -> Vec<(String, RuleState)> {
        self.rules
            .iter_mut()
            .filter(|r| r.instance.state().is_some())
            .map(|r| (r.instance.info().id.clone(), r.instance.take_state()))
            .collect()
    }

    /// Gives running rule `id` the host state `state` in place of its own, between two
    /// batches; whether a rule has that id.
    pub fn replace_rule_state(&mut self, id: &str, state: RuleState) -> bool {
        match self.rules.iter_mut().find(|r| r.instance.info().id == id) {
            Some(rule) => {
                rule.instance.put_state(state);
                true
            }
            None => false,
        }
    }

    /// Puts a snapshot back, before this engine accepts any event: seq continues from it,
    /// its waiting events wait here, and each rule takes the state `state` returns for it
    /// (under its own limits; `None`: it keeps the state `init` gave it). Returns the ids of
    /// the rules that took a state.
    pub fn restore(
        &mut self,
        snapshot: EngineSnapshot,
        mut state: impl FnMut(&RuleInfo) -> Option<RuleState>,
    ) -> Vec<String> {
        debug_assert!(
            self.next_seq == 1 && self.pending() == 0,
            "restore is for an engine that has accepted no event"
        );
        self.next_seq = snapshot.next_seq.max(1);
        self.newest = snapshot.newest;
        self.watermark = snapshot.watermark;
        self.last_tick = snapshot.last_tick;
        self.buffer = snapshot
            .buffered
            .into_iter()
            .map(|e| Reverse(Pending(e)))
            .collect();
        self.ready_bytes = snapshot.ready.iter().map(Event::text_bytes).sum();
        self.ready = snapshot.ready;
        let mut restored = Vec::new();
        for rule in &mut self.rules {
            if let Some(s) = state(rule.instance.info()) {
                rule.instance.put_state(s);
                restored.push(rule.instance.info().id.clone());
            }
        }
        restored
    }
}
