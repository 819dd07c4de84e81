//! Rule `sigma`: the Sigma engine. One component runs any number of Sigma rules, given as its
//! `rules` parameter in the compiled form (`yagura_sigma::Rule`, JSON) that `yagura sigma
//! compile` writes and `yagura replay --sigma` passes. A change of Sigma rules is a change of
//! configuration: it hot-swaps like any rule's settings, with no component rebuilt.
//!
//! Each event is read with Sigma's Windows field names through the field map ([`fields`]).
//! The rules are indexed by route: an event is tried against the rules whose logsource names
//! its channel and event id (and those that name no channel, or no id), never all of them.
//! Every match is a finding that names the Sigma rule (`analytic.uid` is its id) and carries
//! its author, licence and references, which the DRL 1.1 of SigmaHQ's rules asks to show
//! wherever a match is shown.

pub mod fields;

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use yagura_sdk::prelude::*;
use yagura_sigma::windows::{self, Route};
use yagura_sigma::{Level, Matching};

pub use fields::{Cached, SigmaEvent};

/// A compiled rule with its route.
struct Loaded {
    matching: Matching,
    route: Route,
    /// `T1059.001`… from the rule's `attack.t…` tags
    techniques: Vec<String>,
    /// `context` entries every finding of the rule carries
    context: Vec<(String, String)>,
}

/// The rules by route: what an event of a channel and event id is tried against.
#[derive(Default)]
struct Index {
    /// routes that name no channel (`product: windows` alone)
    any_channel: Vec<usize>,
    /// routes that name a channel but no event id, by lowercase channel
    channel: HashMap<String, Vec<usize>>,
    /// by lowercase channel and event id
    channel_id: HashMap<(String, u32), Vec<usize>>,
}

impl Index {
    fn add(&mut self, at: usize, route: &Route) {
        if route.channels.is_empty() {
            self.any_channel.push(at);
            return;
        }
        for channel in &route.channels {
            let channel = channel.to_ascii_lowercase();
            if route.event_ids.is_empty() {
                self.channel.entry(channel).or_default().push(at);
            } else {
                for id in &route.event_ids {
                    self.channel_id
                        .entry((channel.clone(), *id))
                        .or_default()
                        .push(at);
                }
            }
        }
    }
}

/// The literal index: for each field that rules gate on ([`yagura_sigma::Gate`]), one
/// automaton of all their literals in it, run once over an event's value to learn which of
/// those rules can match the event. A rule whose gate fails is not evaluated.
#[derive(Default)]
struct Gates {
    fields: Vec<FieldGate>,
    /// per rule: the fields of its gate (indexes into `fields`); empty: no gate
    of_rule: Vec<Vec<usize>>,
    /// per rule: the event number its gate last passed at
    passed: Vec<u32>,
    /// per field: the event number its value was last scanned at
    scanned: Vec<u32>,
    /// the event being evaluated, counted from 1
    event: u32,
}

struct FieldGate {
    name: String,
    automaton: AhoCorasick,
    /// per literal (the automaton's pattern id): the rules it lets through
    rules: Vec<Vec<usize>>,
}

impl Gates {
    /// Builds the automata from each rule's gate (`None`: the rule is always evaluated).
    fn new(gates: &[Option<yagura_sigma::Gate>]) -> Result<Self, String> {
        let mut names: Vec<&str> = Vec::new();
        let mut field_at: HashMap<&str, usize> = HashMap::new();
        let mut literals: Vec<Vec<&str>> = Vec::new();
        let mut literal_at: HashMap<(usize, &str), usize> = HashMap::new();
        let mut rules: Vec<Vec<Vec<usize>>> = Vec::new();
        let mut of_rule = Vec::with_capacity(gates.len());
        for (rule, gate) in gates.iter().enumerate() {
            let mut fields = Vec::new();
            for (field, literal) in gate.iter().flat_map(|g| &g.literals) {
                let f = *field_at.entry(field).or_insert_with(|| {
                    names.push(field);
                    literals.push(Vec::new());
                    rules.push(Vec::new());
                    names.len() - 1
                });
                match literal_at.get(&(f, literal.as_str())) {
                    Some(&at) => rules[f][at].push(rule),
                    None => {
                        literal_at.insert((f, literal), literals[f].len());
                        literals[f].push(literal);
                        rules[f].push(vec![rule]);
                    }
                }
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
            of_rule.push(fields);
        }
        let mut fields = Vec::with_capacity(names.len());
        for ((name, literals), rules) in names.into_iter().zip(literals).zip(rules) {
            let automaton = AhoCorasick::new(&literals)
                .map_err(|e| format!("the literal index of field `{name}`: {e}"))?;
            fields.push(FieldGate {
                name: name.to_owned(),
                automaton,
                rules,
            });
        }
        Ok(Gates {
            scanned: vec![0; fields.len()],
            passed: vec![0; gates.len()],
            fields,
            of_rule,
            event: 0,
        })
    }

    /// Starts a new event.
    fn next_event(&mut self) {
        self.event = self.event.wrapping_add(1);
        if self.event == 0 {
            // after 2^32 events: forget every mark rather than take an old one for new
            self.passed.fill(0);
            self.scanned.fill(0);
            self.event = 1;
        }
    }

    /// Whether `rule` can match the event: it has no gate, or one of its fields' values holds
    /// one of its literals. Each field is scanned once per event, for all rules.
    fn admits(&mut self, rule: usize, event: &dyn yagura_sigma::Fields) -> bool {
        if self.of_rule[rule].is_empty() {
            return true;
        }
        for i in 0..self.of_rule[rule].len() {
            if self.passed[rule] == self.event {
                return true;
            }
            let field = self.of_rule[rule][i];
            if self.scanned[field] == self.event {
                continue;
            }
            self.scanned[field] = self.event;
            let gate = &self.fields[field];
            let (passed, now) = (&mut self.passed, self.event);
            let mut scan = |value: &str| {
                for found in gate.automaton.find_overlapping_iter(value) {
                    for &r in &gate.rules[found.pattern().as_usize()] {
                        passed[r] = now;
                    }
                }
            };
            if gate.name == yagura_sigma::KEYWORDS {
                event.any_folded(&mut |_, value| {
                    scan(value);
                    false
                });
            } else if let Some(value) = event.folded(&gate.name) {
                scan(&value);
            }
        }
        self.passed[rule] == self.event
    }
}

/// The engine: its rules, their index and a reused key buffer.
pub struct SigmaEngine {
    rules: Vec<Loaded>,
    index: Index,
    gates: Gates,
    /// the fields the rules read, numbered for [`Cached`]
    names: HashMap<String, usize>,
    key: (String, u32),
}

impl SigmaEngine {
    /// Loads rules in the compiled form (a JSON array). An error names the rule.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let rules: Vec<yagura_sigma::Rule> = serde_json::from_str(json).map_err(|e| {
            format!("`rules` is not a list of compiled Sigma rules (yagura sigma compile): {e}")
        })?;
        let mut gates = Vec::with_capacity(rules.len());
        let mut engine = SigmaEngine {
            rules: Vec::with_capacity(rules.len()),
            index: Index::default(),
            gates: Gates::default(),
            names: HashMap::new(),
            key: (String::new(), 0),
        };
        for rule in rules {
            let what = format!("Sigma rule `{}` ({})", rule.title, rule.id);
            let route = windows::route(&rule.logsource).map_err(|e| format!("{what}: {e}"))?;
            let techniques = techniques(&rule.tags);
            let context = context(&rule);
            let matching = Matching::new(rule).map_err(|e| format!("{what}: {e}"))?;
            for name in matching.field_names() {
                if !engine.names.contains_key(name) {
                    engine.names.insert(name.to_owned(), engine.names.len());
                }
            }
            engine.index.add(engine.rules.len(), &route);
            gates.push(matching.gate());
            engine.rules.push(Loaded {
                matching,
                route,
                techniques,
                context,
            });
        }
        engine.gates = Gates::new(&gates)?;
        Ok(engine)
    }

    /// How many rules are loaded.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The findings of one event, in rule order.
    pub fn evaluate(&mut self, ev: &EventRef<'_>, out: &mut Vec<Finding>) {
        // Sigma's Windows rules read Windows events: an event with no channel (Zeek, syslog,
        // a firewall) is no rule's, not even of one that names no channel
        let Some(channel) = ev.channel().filter(|c| !c.is_empty()) else {
            return;
        };
        self.key.0.clear();
        self.key
            .0
            .extend(channel.chars().map(|c| c.to_ascii_lowercase()));
        self.key.1 = ev.code().unwrap_or(0);
        let by_id = self.index.channel_id.get(&self.key).map(Vec::as_slice);
        let by_channel = self.index.channel.get(&self.key.0).map(Vec::as_slice);
        let candidates = [Some(self.index.any_channel.as_slice()), by_channel, by_id];
        if candidates.iter().flatten().all(|c| c.is_empty()) {
            return;
        }
        let sigma = SigmaEvent::new(*ev);
        let event_type = sigma.event_type();
        let cached = Cached::new(sigma, &self.names);
        self.gates.next_event();
        let code = ev.code();
        let mut matched: Vec<usize> = Vec::new();
        for &at in candidates.into_iter().flatten().flatten() {
            let rule = &self.rules[at];
            // the index placed it by channel and id; the route still checks the rest
            // (`EventType`, and the ids of a route that names no channel)
            if rule.route.admits_parts(Some(channel), code, event_type)
                && self.gates.admits(at, &cached)
                && rule.matching.matches(&cached)
            {
                matched.push(at);
            }
        }
        // each rule is in one list of the index; in rule order, once each regardless
        matched.sort_unstable();
        matched.dedup();
        for at in matched {
            out.push(finding(&self.rules[at], ev));
        }
    }
}

/// `attack.t1059.001` → `T1059.001`; tactics and other tags are left out.
fn techniques(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|tag| {
            let id = tag.strip_prefix("attack.")?;
            let digits = id.strip_prefix('t').or_else(|| id.strip_prefix('T'))?;
            let ok = digits
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            ok.then(|| format!("T{digits}"))
        })
        .collect()
}

/// The `context` a rule's findings carry: the rule's id, title, level, author, licence and
/// references (the host shows `analytic.*` as the finding's analytic).
fn context(rule: &yagura_sigma::Rule) -> Vec<(String, String)> {
    let mut c = vec![
        ("analytic.uid".to_owned(), rule.id.clone()),
        ("analytic.name".to_owned(), rule.title.clone()),
        ("sigma.level".to_owned(), level_name(rule.level).to_owned()),
    ];
    if let Some(author) = &rule.author {
        c.push(("analytic.author".into(), author.clone()));
    }
    if let Some(license) = &rule.license {
        c.push(("analytic.license".into(), license.clone()));
    }
    if !rule.references.is_empty() {
        c.push(("analytic.references".into(), rule.references.join(" ")));
    }
    c
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Informational => "informational",
        Level::Low => "low",
        Level::Medium => "medium",
        Level::High => "high",
        Level::Critical => "critical",
    }
}

/// Sigma's level as a severity, and the confidence the engine gives it.
fn severity(level: Level) -> (Severity, u8) {
    match level {
        Level::Informational => (Severity::Informational, 20),
        Level::Low => (Severity::Low, 40),
        Level::Medium => (Severity::Medium, 60),
        Level::High => (Severity::High, 80),
        Level::Critical => (Severity::Critical, 90),
    }
}

/// The finding of a rule's match on an event: the event's host, user, processes, addresses
/// and file as entities.
fn finding(rule: &Loaded, ev: &EventRef<'_>) -> Finding {
    let r = rule.matching.rule();
    let device = ev.hostname().unwrap_or("");
    let (severity, confidence) = severity(r.level);
    let mut description = format!("Sigma rule \"{}\" ({})", r.title, r.id);
    if let Some(author) = &r.author {
        description.push_str(&format!(" by {author}"));
    }
    if let Some(license) = &r.license {
        description.push_str(&format!(", licence {license}"));
    }
    description.push_str(&format!(
        ", matched event {} ({}{})",
        ev.seq,
        ev.channel().unwrap_or("no channel"),
        ev.code().map(|c| format!(" {c}")).unwrap_or_default()
    ));
    if !device.is_empty() {
        description.push_str(&format!(" on {device}"));
    }
    description.push('.');
    let mut f = Finding::new(r.title.clone())
        .description(description)
        .severity(severity)
        .confidence(confidence)
        .techniques(rule.techniques.iter().cloned())
        .evidence(ev.seq)
        .time(ev.time)
        .dedup_key(format!("{}|{device}", r.id));
    if !device.is_empty() {
        f = f.host(device);
    }
    if let Some(user) = ev.qualified_user() {
        f = f.user(user);
    }
    if let Some(label) = ev.process_label() {
        f = f.process(label).role("actor");
    }
    if let Some(label) = ev.parent_label() {
        f = f.process(label).role("parent");
    }
    if let Some(ip) = ev.src_ip() {
        f = f.ip(ip).role("source");
    }
    if let Some(ip) = ev.dst_ip() {
        f = f.ip(ip).role("destination");
    }
    if let Some(path) = ev.file().and_then(|file| ev.text(file.path)) {
        f = f.file(path).role("target");
    }
    for (k, v) in &rule.context {
        f = f.context(k.clone(), v);
    }
    f.build()
}

impl Rule for SigmaEngine {
    fn info() -> RuleInfo {
        RuleInfo::new("sigma", "Sigma rules")
            .description(
                "Runs Sigma rules, given compiled in `rules` (yagura sigma compile, or yagura \
                 replay --sigma): every match is a finding named after the Sigma rule, with its \
                 author, licence and references.",
            )
            .severity(Severity::Medium)
            .subscribe_all()
            .param(Param::text(
                "rules",
                "the compiled Sigma rules, a JSON array (yagura sigma compile --out writes it)",
                "[]",
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        let json = config.text("rules")?;
        SigmaEngine::from_json(json).map_err(|e| ConfigError::invalid("rules", e).into())
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        if self.rules.is_empty() {
            return Ok(());
        }
        for ev in batch {
            self.evaluate(&ev, out);
        }
        Ok(())
    }
}

export_rule!(SigmaEngine);
