//! When a source is reported again: what the last report said, kept in host state as a small
//! value, and the test "did it learn something" (a new kind of scan, or a count that grew by
//! the growth factor).

/// The kinds of scan, as bits.
pub(crate) const SWEEP: u8 = 1;
pub(crate) const VERTICAL: u8 = 2;
/// Not a kind: the sweep's distinct set reached the host's cap, so its count is a floor.
pub(crate) const CAPPED: u8 = 4;

/// What the last report of a source said. Stored as 13 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reported {
    /// [`SWEEP`] | [`VERTICAL`]
    pub kinds: u8,
    /// distinct destinations of the sweep
    pub hosts: u32,
    /// destinations scanned vertically
    pub scanned: u32,
    /// the most distinct ports of one destination
    pub ports: u32,
}

/// What the source is doing now, at the event at hand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// distinct destinations, when the sweep reaches its threshold
    pub sweep: Option<u32>,
    /// destinations scanned vertically and the distinct ports of this destination, when this
    /// pair reaches the port threshold
    pub vertical: Option<(u32, u32)>,
    /// the sweep's distinct destinations reached the host's cap on a distinct set: the count
    /// cannot grow any more, which is worth one last report
    pub capped: bool,
}

impl Reported {
    pub(crate) fn encode(&self) -> [u8; 13] {
        let mut b = [0u8; 13];
        b[0] = self.kinds;
        b[1..5].copy_from_slice(&self.hosts.to_le_bytes());
        b[5..9].copy_from_slice(&self.scanned.to_le_bytes());
        b[9..13].copy_from_slice(&self.ports.to_le_bytes());
        b
    }

    /// `None` for anything that is not 13 bytes.
    pub(crate) fn decode(b: &[u8]) -> Option<Reported> {
        let b: &[u8; 13] = b.try_into().ok()?;
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Reported {
            kinds: b[0],
            hosts: word(1),
            scanned: word(5),
            ports: word(9),
        })
    }
}

/// Whether `seen` is worth a report after `last` (none: never reported in the window), and
/// what the report will say. A report is due for a new kind of scan, or when a count reached
/// `growth` times what the last report said.
pub(crate) fn due(last: Option<Reported>, seen: Seen, growth: f64) -> Option<Reported> {
    let grew = |now: u32, then: u32| f64::from(now) >= f64::from(then) * growth;
    let last_or_default = last.unwrap_or_default();
    let mut next = last_or_default;
    let mut learned = last.is_none();
    if let Some(hosts) = seen.sweep {
        learned |= next.kinds & SWEEP == 0 || grew(hosts, next.hosts);
        next.kinds |= SWEEP;
        next.hosts = next.hosts.max(hosts);
    }
    if seen.capped && seen.sweep.is_some() {
        learned |= next.kinds & CAPPED == 0;
        next.kinds |= CAPPED;
    }
    if let Some((scanned, ports)) = seen.vertical {
        learned |=
            next.kinds & VERTICAL == 0 || grew(scanned, next.scanned) || grew(ports, next.ports);
        next.kinds |= VERTICAL;
        next.scanned = next.scanned.max(scanned);
        next.ports = next.ports.max(ports);
    }
    (learned && next.kinds & (SWEEP | VERTICAL) != 0).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Reported {
            kinds: SWEEP | VERTICAL,
            hosts: 70_000,
            scanned: 3,
            ports: u32::MAX,
        };
        assert_eq!(Reported::decode(&r.encode()), Some(r));
        assert_eq!(Reported::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn first_crossing_reports() {
        let seen = Seen {
            sweep: Some(15),
            ..Seen::default()
        };
        let r = due(None, seen, 2.0).expect("first report");
        assert_eq!((r.kinds, r.hosts), (SWEEP, 15));
        assert_eq!(due(None, Seen::default(), 2.0), None, "nothing to say");
    }

    #[test]
    fn growth_and_new_kinds() {
        let last = Reported {
            kinds: SWEEP,
            hosts: 15,
            scanned: 0,
            ports: 0,
        };
        let sweep = |n| Seen {
            sweep: Some(n),
            ..Seen::default()
        };
        assert_eq!(due(Some(last), sweep(29), 2.0), None);
        assert_eq!(due(Some(last), sweep(30), 2.0).map(|r| r.hosts), Some(30));
        let both = Seen {
            sweep: Some(16),
            vertical: Some((1, 10)),
            capped: false,
        };
        let r = due(Some(last), both, 2.0).expect("a new kind");
        assert_eq!(r.kinds, SWEEP | VERTICAL);
        assert_eq!(r.hosts, 16);
        let vertical = |scanned, ports| Seen {
            vertical: Some((scanned, ports)),
            ..Seen::default()
        };
        assert_eq!(due(Some(r), vertical(1, 19), 2.0), None);
        assert!(due(Some(r), vertical(1, 20), 2.0).is_some(), "more ports");
        assert!(
            due(Some(r), vertical(2, 10), 2.0).is_some(),
            "another target"
        );
        assert!(due(Some(r), vertical(1, 11), 1.1).is_some(), "a finer step");
    }

    #[test]
    fn reaching_the_cap_reports_once() {
        let last = Reported {
            kinds: SWEEP,
            hosts: 7_680,
            scanned: 0,
            ports: 0,
        };
        let capped = Seen {
            sweep: Some(10_000),
            capped: true,
            ..Seen::default()
        };
        let r = due(Some(last), capped, 2.0).expect("the cap is news");
        assert_eq!(r.kinds, SWEEP | CAPPED);
        assert_eq!(due(Some(r), capped, 2.0), None, "but only once");
    }
}
