//! Declarative rule cases (`docs/rule-cases.md`): a TOML file of events and the findings a rule
//! must — or must not — report for them, run through the real engine.
//!
//! [`CaseFile::load`] reads and checks a file (every error names the file, and the line where
//! TOML gives one); [`CaseFile::run`] runs each case on a fresh instance of the rule and returns
//! a [`CaseResult`] per case, whose failures say what was expected and what came instead.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{BufRead, Cursor};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::engine::{Engine, EngineOptions};
use crate::event::Event;
use crate::finding::{Finding, Severity};
use crate::intake::{self, Format};
use crate::rule::Value;
use crate::sandbox::{Limits, RuleComponent};

/// Cases check what a rule finds, not how fast it finds it: each call of a case may spend this
/// much CPU time (or the sandbox's deadline, where that is longer), so that a slow machine —
/// a debug build, an emulator, a sanitizer — cannot fail a case, while a rule that never
/// returns still fails it. Speed is measured by the benchmarks (docs/performance.md), and
/// the running host keeps its own deadline.
pub(crate) const CASE_CALL_DEADLINE: Duration = Duration::from_secs(10);

/// The limits a case runs under: `limits` with the deadline raised to [`CASE_CALL_DEADLINE`].
pub(crate) fn case_limits(limits: Limits) -> Limits {
    Limits {
        call_deadline: limits.call_deadline.max(CASE_CALL_DEADLINE),
        ..limits
    }
}

/// A cases file: the rule it is for and its cases.
#[derive(Debug, Clone)]
pub struct CaseFile {
    pub path: PathBuf,
    /// the rule id the cases are for
    pub rule: String,
    pub cases: Vec<Case>,
}

/// One case: events, config overrides and what must come out.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub description: Option<String>,
    /// overrides as TOML values; typed against the rule's parameters when the case runs
    pub config: BTreeMap<String, toml::Value>,
    pub events: Events,
    pub format: Format,
    /// total findings reported, updates included
    pub findings: Option<usize>,
    /// distinct dedup keys among them
    pub alerts: Option<usize>,
    pub expect: Vec<Expect>,
}

/// Where a case's events come from.
#[derive(Debug, Clone)]
pub enum Events {
    /// lines written in the cases file; `first_line` is the file line of the first of them
    Inline { text: String, first_line: usize },
    /// a file, resolved against the cases file's directory
    File(PathBuf),
}

/// A finding that must be reported.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// substring of the title, case-insensitive
    pub title: Option<String>,
    pub severity: Option<Severity>,
    #[serde(default)]
    pub techniques: Vec<String>,
    /// `kind:value[/role]`
    #[serde(default)]
    pub entities: Vec<String>,
    #[serde(default)]
    pub context: BTreeMap<String, toml::Value>,
    /// exactly this many findings match; none: at least one
    pub count: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rule: String,
    #[serde(rename = "case", default)]
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    description: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    events: Option<toml::Spanned<String>>,
    events_file: Option<PathBuf>,
    format: Option<String>,
    findings: Option<usize>,
    alerts: Option<usize>,
    #[serde(default)]
    expect: Vec<Expect>,
}

impl CaseFile {
    /// Reads and checks a cases file.
    pub fn load(path: &Path) -> anyhow::Result<CaseFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read cases file {}", path.display()))?;
        CaseFile::parse(&text, path)
    }

    /// Parses cases-file text; `path` names it in errors and anchors `events_file`.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<CaseFile> {
        let shown = path.display();
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{shown}: {}", e.to_string().trim_end()))?;
        if raw.cases.is_empty() {
            bail!("{shown}: no [[case]] in the file");
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut cases: Vec<Case> = Vec::with_capacity(raw.cases.len());
        for (i, c) in raw.cases.into_iter().enumerate() {
            let at = format!("{shown}: case {} `{}`", i + 1, c.name);
            if c.name.trim().is_empty() {
                bail!("{shown}: case {} has an empty name", i + 1);
            }
            if cases.iter().any(|other| other.name == c.name) {
                bail!("{at}: another case has the same name");
            }
            let events = match (c.events, c.events_file) {
                (Some(inline), None) => {
                    let start = inline.span().start;
                    let mut first_line = text[..start.min(text.len())].matches('\n').count() + 1;
                    // a `"""` string starts on the next line when a newline follows the quotes
                    if text[start.min(text.len())..].starts_with("\"\"\"\n")
                        || text[start.min(text.len())..].starts_with("'''\n")
                    {
                        first_line += 1;
                    }
                    Events::Inline {
                        text: inline.into_inner(),
                        first_line,
                    }
                }
                (None, Some(file)) => Events::File(dir.join(file)),
                (Some(_), Some(_)) => bail!("{at}: give `events` or `events_file`, not both"),
                (None, None) => bail!("{at}: no events (`events` or `events_file`)"),
            };
            let format = match &c.format {
                None => Format::Auto,
                Some(name) => name.parse().map_err(|e| anyhow::anyhow!("{at}: {e}"))?,
            };
            if c.findings.is_none() && c.alerts.is_none() && c.expect.is_empty() {
                bail!(
                    "{at}: the case checks nothing; give `findings`, `alerts` or an [[case.expect]] \
                     (`findings = 0` for a case that must not fire)"
                );
            }
            for (j, e) in c.expect.iter().enumerate() {
                for entity in &e.entities {
                    EntitySpec::parse(entity)
                        .map_err(|why| anyhow::anyhow!("{at}: expect {}: {why}", j + 1))?;
                }
                if let Some(bad) = e.context.values().find(|v| context_text(v).is_none()) {
                    bail!(
                        "{at}: expect {}: context values are strings, numbers or booleans, got {bad}",
                        j + 1
                    );
                }
            }
            cases.push(Case {
                name: c.name,
                description: c.description,
                config: c.config,
                events,
                format,
                findings: c.findings,
                alerts: c.alerts,
                expect: c.expect,
            });
        }
        Ok(CaseFile {
            path: path.to_path_buf(),
            rule: raw.rule,
            cases,
        })
    }

    /// Runs every case against `component`, which must be the rule the file names.
    pub fn run(&self, component: &RuleComponent) -> anyhow::Result<Vec<CaseResult>> {
        self.run_with(component, &[])
    }

    /// As [`CaseFile::run`], with `base` config under each case's own (a pack's config for
    /// the rule: the cases check the rule as the pack ships it).
    pub fn run_with(
        &self,
        component: &RuleComponent,
        base: &[(String, Value)],
    ) -> anyhow::Result<Vec<CaseResult>> {
        if component.info().id != self.rule {
            bail!(
                "{} is for rule `{}`, but {} is rule `{}`",
                self.path.display(),
                self.rule,
                component.origin(),
                component.info().id
            );
        }
        Ok(self
            .cases
            .iter()
            .map(|c| c.run(self, component, base))
            .collect())
    }
}

impl Case {
    /// The events file of a case that has one.
    pub fn events_path(&self) -> Option<&Path> {
        match &self.events {
            Events::File(path) => Some(path),
            Events::Inline { .. } => None,
        }
    }

    fn run(
        &self,
        file: &CaseFile,
        component: &RuleComponent,
        base: &[(String, Value)],
    ) -> CaseResult {
        let mut result = CaseResult {
            name: self.name.clone(),
            findings: Vec::new(),
            failures: Vec::new(),
        };
        let events = match self.read_events(file) {
            Ok(events) => events,
            Err(e) => {
                result.failures.push(format!("{e:#}"));
                return result;
            }
        };
        let overrides = match self.overrides(component) {
            Ok(o) => base.iter().cloned().chain(o).collect::<Vec<_>>(),
            Err(e) => {
                result.failures.push(e);
                return result;
            }
        };
        let limits = case_limits(component.default_limits());
        let instance = match component.instantiate_with(&overrides, limits) {
            Ok(i) => i,
            Err(e) => {
                result.failures.push(format!("the rule did not start: {e}"));
                return result;
            }
        };
        let mut engine = Engine::new(EngineOptions::default());
        engine.add_rule(instance);
        let mut findings = Vec::new();
        let mut sink = |_: &crate::rule::RuleInfo, f: Finding| findings.push(f);
        for event in events {
            engine.push(event, &mut sink);
        }
        engine.flush(&mut sink);
        for (_, stats) in engine.rule_stats() {
            if stats.faults > 0 {
                result.failures.push(format!(
                    "the rule faulted {} times; last: {}",
                    stats.faults,
                    stats
                        .last_fault
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), ToString::to_string)
                ));
            }
        }
        result.failures.extend(self.check(&findings));
        result.findings = findings;
        result
    }

    /// The case's events; a rejected line fails the case, naming the line.
    fn read_events(&self, file: &CaseFile) -> anyhow::Result<Vec<Event>> {
        let (reader, name, line_offset): (Box<dyn BufRead + Send>, String, usize) =
            match &self.events {
                Events::Inline { text, first_line } => (
                    Box::new(Cursor::new(text.clone().into_bytes())),
                    file.path.display().to_string(),
                    first_line - 1,
                ),
                Events::File(path) => {
                    let (_, records) = intake::open(path, self.format)
                        .with_context(|| format!("cannot read events file {}", path.display()))?;
                    return collect(records, 0);
                }
            };
        let (_, records) = intake::from_reader(reader, name.clone(), self.format)
            .with_context(|| format!("{name}: the events of case `{}`", self.name))?;
        collect(records, line_offset)
    }

    /// The case's config, typed against the rule's parameters.
    fn overrides(&self, component: &RuleComponent) -> Result<Vec<(String, Value)>, String> {
        component
            .info()
            .typed_config(&self.config)
            .map_err(|e| format!("config: {e}"))
    }

    /// What is wrong with `findings` for this case; empty when it passes.
    fn check(&self, findings: &[Finding]) -> Vec<String> {
        let mut failures = Vec::new();
        if let Some(n) = self.findings
            && findings.len() != n
        {
            failures.push(format!(
                "expected {} in all, got {}",
                plural(n, "finding"),
                findings.len()
            ));
        }
        if let Some(n) = self.alerts {
            let mut keys: Vec<&str> = findings.iter().map(|f| f.dedup_key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            if keys.len() != n {
                failures.push(format!(
                    "expected {} (distinct dedup keys), got {}: {:?}",
                    plural(n, "alert"),
                    keys.len(),
                    keys
                ));
            }
        }
        for expect in &self.expect {
            let matching = findings.iter().filter(|f| expect.matches(f)).count();
            let ok = match expect.count {
                Some(n) => matching == n,
                None => matching > 0,
            };
            if !ok {
                let wanted = match expect.count {
                    Some(n) => format!("exactly {}", plural(n, "finding")),
                    None => "a finding".to_owned(),
                };
                failures.push(format!(
                    "expected {wanted} with {expect}; {matching} matched"
                ));
            }
        }
        failures
    }
}

fn collect(records: intake::Records, line_offset: usize) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    for record in records {
        match record {
            Ok(event) => events.push(event),
            Err(e) => bail!(
                "{}:{}: event rejected: {}",
                e.source_name,
                e.line as usize + line_offset,
                e.message
            ),
        }
    }
    if events.is_empty() {
        bail!("the case has no events");
    }
    Ok(events)
}

impl Expect {
    fn matches(&self, f: &Finding) -> bool {
        if let Some(title) = &self.title
            && !f.title.to_lowercase().contains(&title.to_lowercase())
        {
            return false;
        }
        if self.severity.is_some_and(|s| s != f.severity) {
            return false;
        }
        if !self
            .techniques
            .iter()
            .all(|t| f.techniques.iter().any(|have| have.eq_ignore_ascii_case(t)))
        {
            return false;
        }
        let entities_ok = self.entities.iter().all(|spec| {
            EntitySpec::parse(spec).is_ok_and(|spec| f.entities.iter().any(|e| spec.matches(e)))
        });
        if !entities_ok {
            return false;
        }
        self.context.iter().all(|(key, want)| {
            let want = context_text(want).unwrap_or_default();
            f.context.iter().any(|(k, v)| k == key && *v == want)
        })
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(t) = &self.title {
            parts.push(format!("title ~ {t:?}"));
        }
        if let Some(s) = self.severity {
            parts.push(format!("severity {}", s.caption().to_lowercase()));
        }
        if !self.techniques.is_empty() {
            parts.push(format!("techniques [{}]", self.techniques.join(", ")));
        }
        if !self.entities.is_empty() {
            parts.push(format!("entities [{}]", self.entities.join(", ")));
        }
        if !self.context.is_empty() {
            let kv: Vec<String> = self
                .context
                .iter()
                .map(|(k, v)| format!("{k}={}", context_text(v).unwrap_or_default()))
                .collect();
            parts.push(format!("context {{{}}}", kv.join(", ")));
        }
        if parts.is_empty() {
            parts.push("anything".to_owned());
        }
        f.write_str(&parts.join(", "))
    }
}

/// Whether `finding` names the entity `spec` (`kind:value[/role]`, as in a case's `entities`).
pub fn names_entity(finding: &Finding, spec: &str) -> Result<bool, String> {
    let spec = EntitySpec::parse(spec)?;
    Ok(finding.entities.iter().any(|e| spec.matches(e)))
}

/// A context value of a case as the text a finding's context holds.
fn context_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `kind:value[/role]`.
struct EntitySpec<'a> {
    kind: &'a str,
    value: &'a str,
    role: Option<&'a str>,
}

impl<'a> EntitySpec<'a> {
    const KINDS: [&'static str; 6] = ["host", "user", "ip", "process", "file", "other"];

    fn parse(spec: &'a str) -> Result<EntitySpec<'a>, String> {
        let (kind, rest) = spec
            .split_once(':')
            .ok_or_else(|| format!("entity `{spec}` is not kind:value[/role]"))?;
        if !Self::KINDS.contains(&kind) {
            return Err(format!(
                "entity `{spec}`: unknown kind `{kind}` (kinds: {})",
                Self::KINDS.join(", ")
            ));
        }
        // Values may hold `/` (paths); the role is the part after the last `/` when it is a
        // plain word.
        let (value, role) = match rest.rsplit_once('/') {
            Some((v, r))
                if !r.is_empty()
                    && r.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                (v, Some(r))
            }
            _ => (rest, None),
        };
        if value.is_empty() {
            return Err(format!("entity `{spec}` has an empty value"));
        }
        Ok(EntitySpec { kind, value, role })
    }

    fn matches(&self, e: &crate::finding::Entity) -> bool {
        if e.kind.as_str() != self.kind {
            return false;
        }
        if let Some(role) = self.role
            && e.role.as_deref() != Some(role)
        {
            return false;
        }
        if e.value.eq_ignore_ascii_case(self.value) {
            return true;
        }
        // `user:alice` also matches `CORP\alice`
        self.kind == "user"
            && !self.value.contains('\\')
            && e.value
                .rsplit_once('\\')
                .is_some_and(|(_, name)| name.eq_ignore_ascii_case(self.value))
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub findings: Vec<Finding>,
    /// empty: passed
    pub failures: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failure report: what was wrong and every finding reported.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        for failure in &self.failures {
            let _ = writeln!(s, "{failure}");
        }
        if self.findings.is_empty() {
            let _ = writeln!(s, "the rule reported no finding");
        } else {
            let _ = writeln!(
                s,
                "the rule reported {}:",
                plural(self.findings.len(), "finding")
            );
            for f in &self.findings {
                let _ = writeln!(s, "  - {}", describe(f));
            }
        }
        s
    }
}

/// One line per finding: title, severity, techniques, entities, dedup key, context.
pub fn describe(f: &Finding) -> String {
    let entities: Vec<String> = f
        .entities
        .iter()
        .map(|e| match &e.role {
            Some(role) => format!("{}:{}/{role}", e.kind.as_str(), e.value),
            None => format!("{}:{}", e.kind.as_str(), e.value),
        })
        .collect();
    let context: Vec<String> = f.context.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{:?} severity {} techniques [{}] entities [{}] dedup {:?} context {{{}}}",
        f.title,
        f.severity.caption().to_lowercase(),
        f.techniques.join(", "),
        entities.join(", "),
        f.dedup_key,
        context.join(", ")
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<CaseFile> {
        CaseFile::parse(text, Path::new("rules/x/cases.toml"))
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("the file is refused"))
    }

    const EVENT: &str = r#"{"time":1000,"class":"network","activity":"open"}"#;

    #[test]
    fn a_good_file_parses_with_line_numbers_of_inline_events() {
        let text = format!(
            "rule = \"x\"\n\n[[case]]\nname = \"one\"\nevents = \"\"\"\n{EVENT}\n\"\"\"\nfindings = 0\n\n\
             [[case]]\nname = \"two\"\nevents_file = \"cases/two.ndjson\"\nformat = \"zeek-conn\"\n\
             config = {{ threshold = 3 }}\n[[case.expect]]\ntitle = \"scan\"\n\
             entities = [\"ip:10.0.0.1/source\", \"file:C:/x/y.exe\"]\ncontext = {{ n = 3 }}\ncount = 1\n"
        );
        let file = parse(&text).expect("parses");
        assert_eq!(file.rule, "x");
        assert_eq!(file.cases.len(), 2);
        match &file.cases[0].events {
            Events::Inline { first_line, text } => {
                assert_eq!(*first_line, 6);
                assert_eq!(text.trim(), EVENT);
            }
            other => panic!("inline events, got {other:?}"),
        }
        assert_eq!(
            file.cases[1].events_path(),
            Some(Path::new("rules/x/cases/two.ndjson"))
        );
        assert_eq!(file.cases[1].format, Format::ZeekConn);
        assert_eq!(file.cases[1].expect[0].count, Some(1));
    }

    #[test]
    fn every_refusal_names_the_problem() {
        let head = "rule = \"x\"\n[[case]]\nname = \"c\"\n";
        let cases: [(String, &str); 9] = [
            ("rule = \"x\"\n".to_owned(), "no [[case]]"),
            (format!("{head}findings = 0\n"), "no events"),
            (
                format!("{head}events = \"{{}}\"\nevents_file = \"a\"\nfindings = 0\n"),
                "not both",
            ),
            (format!("{head}events = \"{{}}\"\n"), "checks nothing"),
            (
                format!("{head}events = \"{{}}\"\nformat = \"xml\"\nfindings = 0\n"),
                "unknown format `xml`",
            ),
            (
                format!("{head}events = \"{{}}\"\n[[case.expect]]\nentities = [\"disk:c\"]\n"),
                "unknown kind `disk`",
            ),
            (
                format!(
                    "{head}events = \"{{}}\"\nfindings = 0\n[[case]]\nname = \"c\"\nevents = \"{{}}\"\nfindings = 0\n"
                ),
                "same name",
            ),
            (
                format!("{head}events = \"{{}}\"\nfinding = 0\n"),
                "unknown field `finding`",
            ),
            (
                format!(
                    "{head}events = \"{{}}\"\nfindings = 0\n[[case.expect]]\nseverity = \"huge\"\n"
                ),
                "unknown variant `huge`",
            ),
        ];
        for (text, want) in cases {
            let got = error(&text);
            assert!(got.contains(want), "`{want}` not in `{got}` for:\n{text}");
            assert!(
                got.contains("rules/x/cases.toml"),
                "the file is named: {got}"
            );
        }
    }

    #[test]
    fn toml_syntax_errors_give_the_line() {
        let got = error("rule = \"x\"\n[[case]]\nname = \n");
        assert!(got.contains("line 3"), "{got}");
    }

    fn finding() -> Finding {
        Finding {
            rule_id: "x".into(),
            rule_version: "1.0.0".into(),
            rule_author: None,
            matched: None,
            title: "Lateral movement to WS02".into(),
            description: String::new(),
            severity: Severity::High,
            confidence: 80,
            techniques: vec!["T1021.002".into()],
            entities: vec![
                crate::finding::Entity {
                    kind: crate::finding::EntityKind::User,
                    value: r"CORP\alice".into(),
                    role: Some("account".into()),
                },
                crate::finding::Entity {
                    kind: crate::finding::EntityKind::Host,
                    value: "WS02".into(),
                    role: Some("target".into()),
                },
            ],
            evidence: vec![1],
            dedup_key: "k".into(),
            time: 0,
            context: vec![("hosts".into(), "3".into())],
        }
    }

    fn expect(toml_text: &str) -> Expect {
        toml::from_str(toml_text).expect("an expectation")
    }

    #[test]
    fn expectations_match_title_severity_entities_and_context() {
        let f = finding();
        for yes in [
            "title = \"lateral MOVEMENT\"",
            "severity = \"high\"",
            "techniques = [\"t1021.002\"]",
            "entities = [\"user:alice\", \"host:ws02/target\"]",
            "entities = [\"user:CORP\\\\alice/account\"]",
            "context = { hosts = 3 }",
        ] {
            assert!(expect(yes).matches(&f), "{yes} matches");
        }
        for no in [
            "title = \"scan\"",
            "severity = \"critical\"",
            "techniques = [\"T1046\"]",
            "entities = [\"host:WS02/source\"]",
            "entities = [\"user:OTHER\\\\alice\"]",
            "entities = [\"ip:WS02\"]",
            "context = { hosts = 4 }",
            "context = { missing = 1 }",
        ] {
            assert!(!expect(no).matches(&f), "{no} does not match");
        }
    }

    #[test]
    fn counts_and_alerts_are_checked() {
        let text = format!(
            "rule = \"x\"\n[[case]]\nname = \"c\"\nevents = '{EVENT}'\nfindings = 2\nalerts = 1\n\
             [[case.expect]]\ntitle = \"lateral\"\ncount = 2\n"
        );
        let file = parse(&text).expect("parses");
        let case = &file.cases[0];
        assert!(case.check(&[finding(), finding()]).is_empty());
        let one = case.check(&[finding()]);
        assert_eq!(one.len(), 2, "{one:?}");
        assert!(
            one[0].contains("expected 2 findings in all, got 1"),
            "{one:?}"
        );
        let mut other = finding();
        other.dedup_key = "other".into();
        let two_keys = case.check(&[finding(), other]);
        assert!(
            two_keys.iter().any(|f| f.contains("expected 1 alert")),
            "{two_keys:?}"
        );
    }
}
