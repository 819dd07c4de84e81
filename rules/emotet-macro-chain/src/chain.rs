//! One chain: the stages seen so far on one host under one Office process, what each stage
//! was (the samples a finding shows), the evidence, and the byte encoding that keeps it in
//! host state between batches.
//!
//! Every list is bounded and every text cut, so an encoded chain stays far below the host's
//! 64 KiB value limit whatever the input. Decoding never panics: bytes it cannot read give
//! `None`, and the caller starts afresh.

use yagura_sdk::Severity;

/// The six stages of the chain, in the order the documented behaviour goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// 1. Office (directly or through WMI/COM) started a shell, script host or LOLBin.
    Launch = 0,
    /// 2. An encoded or obfuscated command line or a download cradle in the tree.
    Cradle = 1,
    /// 3. A network connection by the tree.
    Network = 2,
    /// 4. An executable or DLL written by the tree into a user-writable folder.
    Drop = 3,
    /// 5. That file run, or loaded by rundll32/regsvr32.
    Execute = 4,
    /// 6. A Run key pointing at it.
    Persist = 5,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 6] = [
        Stage::Launch,
        Stage::Cradle,
        Stage::Network,
        Stage::Drop,
        Stage::Execute,
        Stage::Persist,
    ];

    /// The stage's bit in a stage set.
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The stage's number, 1 to 6, as the documentation counts them.
    pub const fn number(self) -> u8 {
        self as u8 + 1
    }

    /// What the stage is, in a few words.
    pub const fn label(self) -> &'static str {
        match self {
            Stage::Launch => "shell started from Office",
            Stage::Cradle => "obfuscated command or download cradle",
            Stage::Network => "network connection",
            Stage::Drop => "executable written to a user-writable folder",
            Stage::Execute => "dropped file executed",
            Stage::Persist => "Run-key persistence",
        }
    }
}

/// How the first shell is linked to Office.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Office is the parent.
    Direct = 0,
    /// Started by WmiPrvSE.exe (WMI `Win32_Process.Create`) after Office opened a document.
    Wmi = 1,
    /// Started by explorer.exe (COM `ShellBrowserWindow`/`ShellWindows`) after Office opened
    /// a document.
    Com = 2,
}

impl Link {
    /// The link as the finding's context names it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Link::Direct => "direct",
            Link::Wmi => "wmi",
            Link::Com => "com",
        }
    }

    fn from_u8(b: u8) -> Option<Link> {
        match b {
            0 => Some(Link::Direct),
            1 => Some(Link::Wmi),
            2 => Some(Link::Com),
            _ => None,
        }
    }
}

/// Samples kept per list.
pub const SAMPLES: usize = 8;
/// Evidence kept per chain; past it the last slot takes the newest event.
pub const EVIDENCE: usize = 32;
/// Characters kept of any text (command lines, paths).
pub const TEXT_MAX: usize = 1024;

/// One chain, as kept in host state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chain {
    /// the stages seen, one bit per [`Stage`]
    pub stages: u8,
    /// the stages the last finding reported
    pub reported: u8,
    /// event time of the first and the latest stage
    pub first: i64,
    pub last: i64,
    pub link: Option<Link>,
    /// connections counted (the samples are in `destinations`)
    pub connections: u32,
    /// the host, as the events spell it
    pub host: String,
    /// the Office image path and its label (`WINWORD.EXE (pid 100)`)
    pub office: String,
    pub office_label: String,
    /// the account the first shell ran as
    pub user: String,
    /// the first shell's label and command line
    pub child: String,
    pub child_cmd: String,
    /// the first stage-2 indicator and the command line it was found in
    pub indicator: String,
    pub indicator_cmd: String,
    pub destinations: Vec<String>,
    pub dropped: Vec<String>,
    pub executed: Vec<String>,
    pub persistence: Vec<String>,
    pub evidence: Vec<u64>,
}

impl Chain {
    /// Whether the chain has `stage`.
    pub fn has(&self, stage: Stage) -> bool {
        self.stages & stage.bit() != 0
    }

    /// Adds `stage`, seen at `time` in event `seq`. Returns whether it is new.
    pub fn add(&mut self, stage: Stage, time: i64, seq: u64) -> bool {
        let new = !self.has(stage);
        self.stages |= stage.bit();
        self.touch(time);
        self.cite(seq);
        new
    }

    /// Moves the latest time forward to `time`.
    pub fn touch(&mut self, time: i64) {
        self.last = self.last.max(time);
    }

    /// Cites event `seq` as evidence: kept while there is room, else in the last slot, so the
    /// newest stage is always cited.
    pub fn cite(&mut self, seq: u64) {
        if self.evidence.contains(&seq) {
            return;
        }
        if self.evidence.len() < EVIDENCE {
            self.evidence.push(seq);
        } else if let Some(last) = self.evidence.last_mut() {
            *last = seq;
        }
    }

    /// How many stages the chain has.
    pub fn count(&self) -> u32 {
        self.stages.count_ones()
    }

    /// The severity of a chain with these stages: a dropped file run is critical, three or
    /// more stages high, two medium, one low.
    pub fn severity(&self) -> Severity {
        if self.has(Stage::Execute) {
            Severity::Critical
        } else {
            match self.count() {
                0 | 1 => Severity::Low,
                2 => Severity::Medium,
                _ => Severity::High,
            }
        }
    }

    /// The chain as bytes for host state.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.push(VERSION);
        out.push(self.stages);
        out.push(self.reported);
        out.extend_from_slice(&self.first.to_le_bytes());
        out.extend_from_slice(&self.last.to_le_bytes());
        out.push(self.link.map_or(u8::MAX, |l| l as u8));
        out.extend_from_slice(&self.connections.to_le_bytes());
        for text in [
            &self.host,
            &self.office,
            &self.office_label,
            &self.user,
            &self.child,
            &self.child_cmd,
            &self.indicator,
            &self.indicator_cmd,
        ] {
            put_text(&mut out, text);
        }
        for list in [
            &self.destinations,
            &self.dropped,
            &self.executed,
            &self.persistence,
        ] {
            let n = list.len().min(SAMPLES);
            out.push(n as u8); // n <= SAMPLES < 256
            for item in &list[..n] {
                put_text(&mut out, item);
            }
        }
        let n = self.evidence.len().min(EVIDENCE);
        out.push(n as u8); // n <= EVIDENCE < 256
        for seq in &self.evidence[..n] {
            out.extend_from_slice(&seq.to_le_bytes());
        }
        out
    }

    /// A chain from [`Chain::encode`]'s bytes; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Chain> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return None;
        }
        let mut chain = Chain {
            stages: r.u8()?,
            reported: r.u8()?,
            first: i64::from_le_bytes(r.array()?),
            last: i64::from_le_bytes(r.array()?),
            link: Link::from_u8(r.u8()?),
            connections: u32::from_le_bytes(r.array()?),
            ..Chain::default()
        };
        for text in [
            &mut chain.host,
            &mut chain.office,
            &mut chain.office_label,
            &mut chain.user,
            &mut chain.child,
            &mut chain.child_cmd,
            &mut chain.indicator,
            &mut chain.indicator_cmd,
        ] {
            *text = r.text()?;
        }
        for list in [
            &mut chain.destinations,
            &mut chain.dropped,
            &mut chain.executed,
            &mut chain.persistence,
        ] {
            let n = usize::from(r.u8()?).min(SAMPLES);
            for _ in 0..n {
                list.push(r.text()?);
            }
        }
        let n = usize::from(r.u8()?).min(EVIDENCE);
        for _ in 0..n {
            chain.evidence.push(u64::from_le_bytes(r.array()?));
        }
        Some(chain)
    }
}

/// Adds `item` (cut to [`TEXT_MAX`]) to a sample list unless it is there or the list is full.
pub fn sample(list: &mut Vec<String>, item: &str) {
    if list.len() < SAMPLES && !list.iter().any(|i| i.eq_ignore_ascii_case(item)) {
        list.push(cut(item).to_owned());
    }
}

/// `text` cut to at most [`TEXT_MAX`] bytes, at a character boundary.
pub fn cut(text: &str) -> &str {
    cut_to(text, TEXT_MAX)
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut_to(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

const VERSION: u8 = 1;

fn put_text(out: &mut Vec<u8>, text: &str) {
    let text = cut(text);
    out.extend_from_slice(&(text.len() as u16).to_le_bytes()); // <= TEXT_MAX < 65536
    out.extend_from_slice(text.as_bytes());
}

/// A cursor over encoded bytes; every read is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn text(&mut self) -> Option<String> {
        let len = u16::from_le_bytes(self.array()?);
        let bytes = self.take(usize::from(len))?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_chain() -> Chain {
        let mut c = Chain {
            first: 1_000,
            last: 1_000,
            link: Some(Link::Wmi),
            office: r"C:\Office\WINWORD.EXE".into(),
            office_label: "WINWORD.EXE (pid 100)".into(),
            user: r"CORP\alice".into(),
            child: "powershell.exe (pid 4242)".into(),
            child_cmd: "powershell -enc AAAA".into(),
            indicator: "IEX".into(),
            indicator_cmd: "powershell IEX x".into(),
            connections: 3,
            ..Chain::default()
        };
        c.add(Stage::Launch, 1_000, 1);
        c.add(Stage::Cradle, 1_500, 2);
        sample(&mut c.destinations, "203.0.113.9:80");
        sample(&mut c.dropped, r"C:\Users\alice\AppData\Local\Temp\x.dll");
        sample(&mut c.persistence, "Run\\x = rundll32 x.dll,#1");
        c
    }

    #[test]
    fn round_trip() {
        let c = sample_chain();
        assert_eq!(Chain::decode(&c.encode()), Some(c.clone()));
        let empty = Chain::default();
        assert_eq!(Chain::decode(&empty.encode()), Some(empty));
    }

    #[test]
    fn bad_bytes_decode_to_none() {
        let bytes = sample_chain().encode();
        for n in 0..bytes.len() {
            assert_eq!(Chain::decode(&bytes[..n]), None, "cut at {n}");
        }
        assert_eq!(Chain::decode(&[9, 9, 9]), None);
        assert_eq!(Chain::decode(&[]), None);
    }

    #[test]
    fn stages_and_severity() {
        let mut c = Chain::default();
        assert!(c.add(Stage::Launch, 5, 1));
        assert!(!c.add(Stage::Launch, 6, 2));
        assert_eq!(c.severity(), Severity::Low);
        c.add(Stage::Network, 7, 3);
        assert_eq!(c.severity(), Severity::Medium);
        c.add(Stage::Drop, 8, 4);
        assert_eq!(c.severity(), Severity::High);
        c.add(Stage::Execute, 9, 5);
        assert_eq!(c.severity(), Severity::Critical);
        assert_eq!((c.count(), c.last), (4, 9));
        assert_eq!(c.evidence, [1, 2, 3, 4, 5]);
        assert_eq!(Stage::Persist.number(), 6);
        assert_eq!(Stage::ALL.len(), 6);
    }

    #[test]
    fn lists_and_texts_are_bounded() {
        let mut c = Chain::default();
        for seq in 0..100 {
            c.cite(seq);
        }
        assert_eq!(c.evidence.len(), EVIDENCE);
        assert_eq!(c.evidence.last(), Some(&99));
        for i in 0..20 {
            sample(&mut c.dropped, &format!("f{i}.exe"));
        }
        sample(&mut c.destinations, &"é".repeat(TEXT_MAX));
        assert_eq!(c.dropped.len(), SAMPLES);
        assert!(c.destinations[0].len() <= TEXT_MAX);
        c.child_cmd = "x".repeat(100_000);
        let bytes = c.encode();
        assert!(bytes.len() < 64 * 1024);
        let back = Chain::decode(&bytes).expect("decodes");
        assert_eq!(back.child_cmd.len(), TEXT_MAX);
    }
}
