//! Quarantine: a sliding window over a rule's most recent calls that says when the rule has
//! faulted too often to keep calling it.
//!
//! Every kind of fault counts (trap, timeout, memory limit, an error the rule returned, a
//! fresh instance that failed to start): each means the call's findings were lost. The
//! engine owns the decision ([`super::Engine`] stops calling a quarantined rule and keeps its
//! state); this type only counts.

use std::collections::VecDeque;

/// The outcomes of a rule's last `calls` calls.
#[derive(Debug, Clone)]
pub(super) struct FaultWindow {
    /// faults within the window that quarantine the rule; 0: never
    limit: u32,
    /// calls the window spans
    calls: u32,
    /// `true` for a faulted call, oldest first; at most `calls` long
    recent: VecDeque<bool>,
    faults: u32,
}

impl FaultWindow {
    pub(super) fn new(limit: u32, calls: u32) -> FaultWindow {
        FaultWindow {
            limit,
            // a window shorter than the limit could never fill with enough faults
            calls: calls.max(limit).max(1),
            recent: VecDeque::new(),
            faults: 0,
        }
    }

    /// Records one call; true when this call brings the faults in the window to the limit.
    pub(super) fn record(&mut self, faulted: bool) -> bool {
        if self.limit == 0 {
            return false;
        }
        if self.recent.len() == self.calls as usize && self.recent.pop_front() == Some(true) {
            self.faults -= 1;
        }
        self.recent.push_back(faulted);
        if faulted {
            self.faults += 1;
        }
        faulted && self.faults >= self.limit
    }

    /// Forgets every call (on re-enable).
    pub(super) fn clear(&mut self) {
        self.recent.clear();
        self.faults = 0;
    }

    /// Faults within the window.
    pub(super) fn faults(&self) -> u32 {
        self.faults
    }

    /// Calls within the window.
    pub(super) fn calls(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantines_at_n_faults_within_m_calls() {
        let mut w = FaultWindow::new(3, 5);
        assert!(!w.record(true));
        assert!(!w.record(false));
        assert!(!w.record(true));
        assert!(w.record(true), "three faults within five calls");
    }

    #[test]
    fn faults_that_slide_out_of_the_window_are_forgotten() {
        let mut w = FaultWindow::new(3, 4);
        // fault, ok, ok, fault, ok, fault: never three within any four calls
        for (faulted, expect) in [
            (true, false),
            (false, false),
            (false, false),
            (true, false),
            (false, false),
            (true, false),
        ] {
            assert_eq!(w.record(faulted), expect);
        }
        assert_eq!(w.faults(), 2);
        assert_eq!(w.calls(), 4);
    }

    #[test]
    fn a_limit_of_zero_never_quarantines_and_clear_forgets() {
        let mut w = FaultWindow::new(0, 20);
        assert!((0..100).all(|_| !w.record(true)));
        let mut w = FaultWindow::new(2, 20);
        assert!(!w.record(true));
        w.clear();
        assert!(!w.record(true), "the fault before clear no longer counts");
        assert!(w.record(true));
    }
}
