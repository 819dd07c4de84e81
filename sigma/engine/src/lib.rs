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

/// The engine: its rules, their index and a reused key buffer.
pub struct SigmaEngine {
    rules: Vec<Loaded>,
    index: Index,
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
        let mut engine = SigmaEngine {
            rules: Vec::with_capacity(rules.len()),
            index: Index::default(),
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
            engine.rules.push(Loaded {
                matching,
                route,
                techniques,
                context,
            });
        }
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
        let sigma = SigmaEvent::new(*ev);
        let cached = Cached::new(sigma, &self.names);
        let channel = ev.channel().unwrap_or("");
        self.key.0.clear();
        self.key
            .0
            .extend(channel.chars().map(|c| c.to_ascii_lowercase()));
        self.key.1 = ev.code().unwrap_or(0);
        let by_id = self.index.channel_id.get(&self.key).map(Vec::as_slice);
        let by_channel = self.index.channel.get(&self.key.0).map(Vec::as_slice);
        let event_type = sigma.event_type();
        let candidates = [Some(self.index.any_channel.as_slice()), by_channel, by_id];
        let code = ev.code();
        let mut matched: Vec<usize> = Vec::new();
        for &at in candidates.into_iter().flatten().flatten() {
            let rule = &self.rules[at];
            // the index placed it by channel and id; the route still checks the rest
            // (`EventType`, and the ids of a route that names no channel)
            if rule.route.admits_parts(Some(channel), code, event_type)
                && rule.matching.matches(&cached)
            {
                matched.push(at);
            }
        }
        matched.sort_unstable();
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
