//! What one connection says about scanning: its class (failed, unknown, established), the
//! weights of the classes and the weighted score of a set of targets.
//!
//! A scanner's connections mostly fail: closed ports answer with a RST (Zeek `REJ`), filtered
//! ports and absent hosts do not answer (`S0`), firewalls deny. A half-open SYN scan (nmap
//! `-sS`, masscan) tears down even a port that accepted, before any data (`RSTO` with history
//! `ShR`). Ordinary clients mostly complete their connections and exchange data. So a failed
//! probe weighs more than a connection of unknown fate, and an established one less (the same
//! observation is behind Zeek's `scan.zeek`, which counts failed attempts only, and behind
//! Threshold Random Walk scan detection).

use yagura_sdk::{Activity, Disposition, Outcome};

/// The class of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// refused, blocked, unanswered, or torn down by the originator before the handshake
    /// completed
    Failed,
    /// allowed by a firewall, or nothing known about the answer
    Unknown,
    /// the handshake completed
    Established,
}

/// The facts of a network event that decide its class.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub activity: Activity,
    pub outcome: Outcome,
    pub disposition: Disposition,
    /// Zeek `conn_state` or the firewall's state word
    pub state: Option<&'a str>,
    /// Zeek `history`, when the source has one
    pub history: Option<&'a str>,
}

/// Classifies one connection.
pub(crate) fn classify(f: &Facts<'_>) -> Probe {
    match f.disposition {
        Disposition::Blocked | Disposition::Rejected | Disposition::NoAnswer => Probe::Failed,
        Disposition::Established if half_open(f.state, f.history) => Probe::Failed,
        Disposition::Established => Probe::Established,
        Disposition::Allowed | Disposition::Unknown => {
            if f.activity == Activity::Refuse || f.outcome == Outcome::Failure {
                Probe::Failed
            } else {
                Probe::Unknown
            }
        }
    }
}

/// A connection the originator reset (`RSTO`) without ever acknowledging the responder's
/// SYN-ACK or sending data: the history has no upper-case `A` or `D`. That is a SYN scan's
/// hit on an open port (`ShR`); a client that aborts a real session has acked it first.
fn half_open(state: Option<&str>, history: Option<&str>) -> bool {
    let (Some(state), Some(history)) = (state, history) else {
        return false;
    };
    state.eq_ignore_ascii_case("RSTO") && !history.is_empty() && !history.contains(['A', 'D'])
}

/// How much each class counts toward a threshold. A connection of unknown fate counts 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Weights {
    /// ≥ 1
    pub failed: f64,
    /// 0 to 1
    pub established: f64,
}

/// Distinct targets seen in a window: all of them, those with at least one connection that
/// was not established, and those with at least one failed one (`failed ⊆ not_established ⊆
/// all`). A target counts with the heaviest class it was seen with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Targets {
    pub all: u32,
    pub not_established: u32,
    pub failed: u32,
}

/// Scores compare with this slack, so that `0.1 × 200` reaches 20.
const SLACK: f64 = 1e-9;

impl Weights {
    /// The weighted count of `t`: established targets count `established`, unknown ones 1,
    /// failed ones `failed`.
    pub(crate) fn score(&self, t: Targets) -> f64 {
        // Clamp: the three sets are kept apart, so a count can lag another by an eviction.
        let failed = f64::from(t.failed.min(t.not_established).min(t.all));
        let not_established = f64::from(t.not_established.min(t.all));
        let all = f64::from(t.all);
        self.established * all
            + (1.0 - self.established) * not_established
            + (self.failed - 1.0) * failed
    }

    /// Whether `t` reaches `threshold`.
    pub(crate) fn reaches(&self, t: Targets, threshold: f64) -> bool {
        self.score(t) + SLACK >= threshold
    }

    /// The most `all` targets can score: every one of them failed.
    pub(crate) fn at_most(&self, all: u32) -> f64 {
        self.failed * f64::from(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(disposition: Disposition) -> Facts<'static> {
        Facts {
            activity: Activity::Traffic,
            outcome: Outcome::Unknown,
            disposition,
            state: None,
            history: None,
        }
    }

    const DEFAULT: Weights = Weights {
        failed: 2.0,
        established: 0.5,
    };

    #[test]
    fn dispositions() {
        assert_eq!(classify(&facts(Disposition::Rejected)), Probe::Failed);
        assert_eq!(classify(&facts(Disposition::NoAnswer)), Probe::Failed);
        assert_eq!(classify(&facts(Disposition::Blocked)), Probe::Failed);
        assert_eq!(classify(&facts(Disposition::Allowed)), Probe::Unknown);
        assert_eq!(classify(&facts(Disposition::Unknown)), Probe::Unknown);
        assert_eq!(
            classify(&facts(Disposition::Established)),
            Probe::Established
        );
    }

    #[test]
    fn refusals_without_a_disposition_fail() {
        let mut f = facts(Disposition::Unknown);
        f.activity = Activity::Refuse;
        assert_eq!(classify(&f), Probe::Failed);
        let mut f = facts(Disposition::Allowed);
        f.outcome = Outcome::Failure;
        assert_eq!(classify(&f), Probe::Failed);
    }

    #[test]
    fn a_syn_scan_hit_on_an_open_port_is_a_failed_probe() {
        let mut f = facts(Disposition::Established);
        f.state = Some("RSTO");
        f.history = Some("ShR");
        assert_eq!(classify(&f), Probe::Failed);
        f.history = Some("ShADadR"); // a session the client aborted after data
        assert_eq!(classify(&f), Probe::Established);
        f.history = Some("ShAR"); // a full connect, then RST (connect scan or health check)
        assert_eq!(classify(&f), Probe::Established);
        f.history = None;
        assert_eq!(classify(&f), Probe::Established);
        f.state = Some("SF");
        f.history = Some("ShR");
        assert_eq!(classify(&f), Probe::Established);
    }

    #[test]
    fn scores() {
        let t = |all, not_established, failed| Targets {
            all,
            not_established,
            failed,
        };
        // 13 ports, 12 refused and one half-open hit: every one failed
        assert_eq!(DEFAULT.score(t(13, 13, 13)), 26.0);
        assert_eq!(DEFAULT.score(t(20, 20, 0)), 20.0, "unknown fate counts 1");
        assert_eq!(
            DEFAULT.score(t(39, 0, 0)),
            19.5,
            "established counts a half"
        );
        assert_eq!(DEFAULT.score(t(10, 4, 2)), 3.0 + 2.0 + 4.0);
        assert!(DEFAULT.reaches(t(10, 10, 10), 20.0));
        assert!(!DEFAULT.reaches(t(9, 9, 9), 20.0));
        // inconsistent counts never score more than the heaviest reading
        assert_eq!(DEFAULT.score(t(1, 5, 9)), 2.0);
        let tenth = Weights {
            failed: 1.0,
            established: 0.1,
        };
        assert!(tenth.reaches(t(200, 0, 0), 20.0));
        assert_eq!(DEFAULT.at_most(7), 14.0);
    }
}
