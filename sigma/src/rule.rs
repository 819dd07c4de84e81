//! The compiled form of a Sigma rule ([`Rule`], plain data) and its evaluation ([`Matching`]).
//!
//! Matching follows the Sigma specification (v2.1):
//! - text compares case-insensitively unless the rule said `|cased`, and a value matches whole:
//!   `*` is any run of characters, `?` one character;
//! - a list of values matches when any does, or every one with `|all`;
//! - a selection (a map) matches when every field of it matches; a list of maps when any does;
//! - `null` matches a field the event does not have, or an empty one;
//! - keywords (a selection that is a plain list) match as a substring of any value of the event;
//! - `|re` is a regular expression searched in the value, case-sensitive unless `(?i)`.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// An event as a Sigma rule reads it: fields by their Sigma names.
pub trait Fields {
    /// The field's value as text (numbers in decimal), or `None` when the event has no such field.
    fn field(&self, name: &str) -> Option<Cow<'_, str>>;
    /// The field's value folded as patterns are ([`fold`]), for case-insensitive matching. A
    /// view that keeps values per event overrides it, so that a value read by many rules is
    /// folded once.
    fn folded(&self, name: &str) -> Option<Cow<'_, str>> {
        self.field(name).map(|v| Cow::Owned(fold(&v)))
    }
    /// Calls `found` with each value of the event until it returns true; says whether it did.
    /// Keywords search these.
    fn any_value(&self, found: &mut dyn FnMut(&str) -> bool) -> bool;
    /// As [`Fields::any_value`], with each value and its folded form. A view that keeps
    /// values per event overrides it, so that many keywords fold each value once.
    fn any_folded(&self, found: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        self.any_value(&mut |value| found(value, &fold(value)))
    }
}

/// Sigma's `level`, which becomes the finding's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

/// A rule's `logsource`, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// One compiled Sigma rule, with the metadata a finding shows. The DRL 1.1, under which
/// SigmaHQ's rules are published, asks that a match names the rule's author: `author`,
/// `license` and `references` travel with the rule for that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's `id` (a UUID in SigmaHQ's rules).
    pub id: String,
    pub title: String,
    pub level: Level,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// `attack.t1021.002`, `attack.lateral-movement`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub logsource: LogSource,
    /// The named detections, in name order; the condition refers to them by index.
    pub selections: Vec<Selection>,
    pub condition: Cond,
}

/// A named detection: matches when any of its groups matches, a group when all of its items do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub name: String,
    pub any: Vec<Vec<Item>>,
}

/// One field (or, with no field, keywords) and the values it is tested against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// `None`: keywords, searched in every value of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `|all`: every value must match, not one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    pub values: Vec<Matcher>,
}

/// One value of an item, with its modifiers applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Matcher {
    /// A whole-value pattern. Unless `cased`, both sides compare lower-cased.
    Text {
        pattern: Vec<Part>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cased: bool,
    },
    /// `|re`: searched in the value; flags are inline (`(?i)`, `(?m)`, `(?s)`).
    Regex { pattern: String },
    /// `|cidr`: the value is an address inside the network.
    Cidr { network: String },
    /// `|gt`, `|gte`, `|lt`, `|lte`: the value read as a number.
    Compare { op: CompareOp, number: f64 },
    /// `null`: the field is absent or empty.
    Null,
    /// `|exists`: the field is there (`true`) or not (`false`).
    Exists { present: bool },
    /// `|fieldref`: the value equals another field's value (case-insensitively).
    FieldRef { field: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompareOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A piece of a text pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Lit(String),
    /// `*`: any run of characters, the empty one too.
    Any,
    /// `?`: exactly one character.
    One,
    /// One character out of these (what `|windash` makes of a dash).
    OneOf(String),
}

/// The condition over the selections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// `N of selection_*` with N above 1.
    AtLeast {
        n: usize,
        of: Vec<Cond>,
    },
}

/// The field name of a gate's literal found in any value of the event (keywords); no Sigma
/// field is named with the empty string.
pub const KEYWORDS: &str = "";

/// A test an event must pass for a rule to match: the value of one of the fields, folded
/// ([`fold`]), contains its literal (folded) — one of the `(field, literal)` pairs holds. It
/// follows from the condition (a selection the condition cannot do without, tested with text
/// that holds a literal), so an index can skip a rule whose gate fails without evaluating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    /// `(field, literal)`; the field [`KEYWORDS`] stands for any value of the event (a
    /// keyword selection's)
    pub literals: Vec<(String, String)>,
}

impl Gate {
    /// Whether an event passes: one of the fields' folded values holds its literal. (The
    /// Sigma engine finds the literals of all rules at once; this is the test one by one.)
    pub fn admits(&self, event: &dyn Fields) -> bool {
        self.literals.iter().any(|(field, literal)| {
            if field == KEYWORDS {
                event.any_folded(&mut |_, value| value.contains(literal.as_str()))
            } else {
                event
                    .folded(field)
                    .is_some_and(|value| value.contains(literal.as_str()))
            }
        })
    }

    /// How selective it is: the length of its shortest literal (longer literals are rarer).
    fn strength(&self) -> usize {
        self.literals
            .iter()
            .map(|(_, l)| l.chars().count())
            .min()
            .unwrap_or(0)
    }

    /// The stronger of two gates (either is necessary).
    fn best(a: Option<Gate>, b: Option<Gate>) -> Option<Gate> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.strength() > a.strength() { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Gates one of which is necessary, as one; none if one of them is none.
    fn union(gates: impl IntoIterator<Item = Option<Gate>>) -> Option<Gate> {
        let mut literals = Vec::new();
        let mut any = false;
        for gate in gates {
            literals.extend(gate?.literals);
            any = true;
        }
        any.then(|| Gate {
            literals: dedup(literals),
        })
    }
}

/// The pairs in first-seen order, each once.
fn dedup(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    pairs
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

fn cond_gate(cond: &Cond, selections: &[Selection]) -> Option<Gate> {
    match cond {
        Cond::Sel(i) => Gate::union(
            selections
                .get(*i)?
                .any
                .iter()
                .map(|group| group.iter().map(item_gate).fold(None, Gate::best)),
        ),
        Cond::Not(_) => None,
        Cond::And(all) => all
            .iter()
            .map(|c| cond_gate(c, selections))
            .fold(None, Gate::best),
        // `n of` (n ≥ 1): one of them at least
        Cond::Or(any) | Cond::AtLeast { of: any, .. } => {
            if any.is_empty() {
                return None;
            }
            Gate::union(any.iter().map(|c| cond_gate(c, selections)))
        }
    }
}

fn item_gate(item: &Item) -> Option<Gate> {
    let field = item.field.clone().unwrap_or_else(|| KEYWORDS.to_owned());
    let literal = |m: &Matcher| match m {
        Matcher::Text { pattern, .. } => pattern
            .iter()
            .filter_map(|p| match p {
                Part::Lit(s) if !s.is_empty() => Some(fold(s)),
                _ => None,
            })
            .max_by_key(|s| s.chars().count()),
        _ => None,
    };
    if item.all {
        // every value must match: any one's literal is necessary
        let best = item
            .values
            .iter()
            .filter_map(literal)
            .max_by_key(|s| s.chars().count())?;
        return Some(Gate {
            literals: vec![(field, best)],
        });
    }
    let literals = item
        .values
        .iter()
        .map(|value| Some((field.clone(), literal(value)?)))
        .collect::<Option<Vec<_>>>()?;
    (!literals.is_empty()).then(|| Gate {
        literals: dedup(literals),
    })
}

/// Why a compiled rule cannot be made ready to match: a regular expression or network that
/// does not parse, a condition naming a selection that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// `regex`, `network` or `condition`.
    pub kind: &'static str,
    /// Where: `selection `x`: field `y`: `the value``.
    pub at: String,
    /// Why, in one line.
    pub error: String,
}

impl Unusable {
    fn new(kind: &'static str, at: String, error: impl std::fmt::Display) -> Self {
        // the regex crate's errors span lines (the pattern, a caret, the reason): keep the reason
        let error = error.to_string();
        let line = error
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default();
        Unusable {
            kind,
            at,
            error: line.trim().trim_start_matches("error: ").to_owned(),
        }
    }

    fn within(mut self, place: impl std::fmt::Display) -> Self {
        self.at = format!("{place}: {}", self.at);
        self
    }
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.kind, self.at, self.error)
    }
}

impl std::error::Error for Unusable {}

/// A rule ready to match: patterns lower-cased, regular expressions and networks parsed.
#[derive(Debug)]
pub struct Matching {
    rule: Rule,
    selections: Vec<Vec<Vec<ReadyItem>>>,
}

#[derive(Debug)]
struct ReadyItem {
    field: Option<String>,
    all: bool,
    values: Vec<Ready>,
}

#[derive(Debug)]
enum Ready {
    Text { text: TextMatch, cased: bool },
    Regex(regex::Regex),
    Cidr(IpNet),
    Compare(CompareOp, f64),
    Null,
    Exists(bool),
    FieldRef(String),
}

/// A text pattern, with the common shapes (`foo`, `foo*`, `*foo`, `*foo*`) tested without the
/// general wildcard matcher.
#[derive(Debug)]
enum TextMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Anything,
    Glob(Vec<Tok>),
}

#[derive(Debug)]
enum Tok {
    Char(char),
    One,
    Class(Vec<char>),
    Star,
}

impl Matching {
    /// Parses what the rule's matchers hold; refuses a rule whose condition names a selection
    /// it does not have.
    pub fn new(rule: Rule) -> Result<Self, Unusable> {
        check_cond(&rule.condition, rule.selections.len())?;
        let selections = rule
            .selections
            .iter()
            .map(|selection| {
                selection
                    .any
                    .iter()
                    .map(|group| group.iter().map(ReadyItem::new).collect::<Result<_, _>>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.within(format_args!("selection `{}`", selection.name)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Matching { rule, selections })
    }

    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// A test the rule's events must pass, if the condition gives one ([`Gate`]).
    pub fn gate(&self) -> Option<Gate> {
        cond_gate(&self.rule.condition, &self.rule.selections)
    }

    /// The names of the fields the rule reads (`fieldref` targets too), possibly repeated.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.selections.iter().flatten().flatten().flat_map(|item| {
            let refs = item.values.iter().filter_map(|v| match v {
                Ready::FieldRef(other) => Some(other.as_str()),
                _ => None,
            });
            item.field.as_deref().into_iter().chain(refs)
        })
    }

    /// Whether the event matches the rule's condition. (Routing by `logsource` is the
    /// caller's: see [`crate::windows::Route`].)
    pub fn matches(&self, event: &dyn Fields) -> bool {
        self.cond(&self.rule.condition, event)
    }

    fn cond(&self, cond: &Cond, event: &dyn Fields) -> bool {
        match cond {
            Cond::Sel(index) => self.selections[*index]
                .iter()
                .any(|group| group.iter().all(|item| item.matches(event))),
            Cond::Not(inner) => !self.cond(inner, event),
            Cond::And(all) => all.iter().all(|c| self.cond(c, event)),
            Cond::Or(any) => any.iter().any(|c| self.cond(c, event)),
            Cond::AtLeast { n, of } => {
                of.iter().filter(|c| self.cond(c, event)).take(*n).count() == *n
            }
        }
    }
}

fn check_cond(cond: &Cond, selections: usize) -> Result<(), Unusable> {
    match cond {
        Cond::Sel(index) if *index >= selections => Err(Unusable::new(
            "condition",
            format!("selection {index}"),
            format!("the rule has {selections}"),
        )),
        Cond::Sel(_) => Ok(()),
        Cond::Not(inner) => check_cond(inner, selections),
        Cond::And(list) | Cond::Or(list) | Cond::AtLeast { of: list, .. } => {
            list.iter().try_for_each(|c| check_cond(c, selections))
        }
    }
}

impl ReadyItem {
    fn new(item: &Item) -> Result<Self, Unusable> {
        let values = item.values.iter().map(Ready::new).collect::<Result<_, _>>();
        let values = values.map_err(|e| {
            e.within(format_args!(
                "field `{}`",
                item.field.as_deref().unwrap_or("(keywords)")
            ))
        })?;
        Ok(ReadyItem {
            field: item.field.clone(),
            all: item.all,
            values,
        })
    }

    fn matches(&self, event: &dyn Fields) -> bool {
        match &self.field {
            Some(name) => {
                let value = event.field(name);
                let lower = OnceCell::new();
                let folded = || lower.get_or_init(|| event.folded(name)).as_deref();
                let test = |m: &Ready| m.matches(value.as_deref(), &folded, event);
                if self.all {
                    self.values.iter().all(test)
                } else {
                    self.values.iter().any(test)
                }
            }
            None => {
                let test = |m: &Ready| {
                    event.any_folded(&mut |value, lower| {
                        m.matches(Some(value), &|| Some(lower), event)
                    })
                };
                if self.all {
                    self.values.iter().all(test)
                } else {
                    self.values.iter().any(test)
                }
            }
        }
    }
}

impl Ready {
    fn new(matcher: &Matcher) -> Result<Self, Unusable> {
        Ok(match matcher {
            Matcher::Text { pattern, cased } => Ready::Text {
                text: TextMatch::new(pattern, *cased),
                cased: *cased,
            },
            Matcher::Regex { pattern } => Ready::Regex(
                regex::Regex::new(pattern)
                    .map_err(|e| Unusable::new("regex", format!("`{pattern}`"), e))?,
            ),
            // a bare address is its own network (/32, /128), as pySigma reads it
            Matcher::Cidr { network } => Ready::Cidr(match network.trim().parse::<IpAddr>() {
                Ok(address) => IpNet::from(address),
                Err(_) => network
                    .trim()
                    .parse()
                    .map_err(|e| Unusable::new("network", format!("`{network}`"), e))?,
            }),
            Matcher::Compare { op, number } => Ready::Compare(*op, *number),
            Matcher::Null => Ready::Null,
            Matcher::Exists { present } => Ready::Exists(*present),
            Matcher::FieldRef { field } => Ready::FieldRef(field.clone()),
        })
    }

    /// `folded` gives the value folded (read once, when a matcher first needs it).
    fn matches<'v>(
        &self,
        value: Option<&str>,
        folded: &dyn Fn() -> Option<&'v str>,
        event: &dyn Fields,
    ) -> bool {
        match self {
            Ready::Null => value.is_none_or(str::is_empty),
            Ready::Exists(present) => value.is_some() == *present,
            Ready::Text { text, cased } => value.is_some_and(|v| {
                if *cased {
                    text.matches(v)
                } else {
                    folded().is_some_and(|lower| text.matches(lower))
                }
            }),
            Ready::Regex(re) => value.is_some_and(|v| re.is_match(v)),
            Ready::Cidr(net) => value
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
                // `::ffff:10.1.2.3` (as Windows writes IPv4 peers) is 10.1.2.3
                .is_some_and(|ip| net.contains(&ip.to_canonical())),
            Ready::Compare(op, number) => value
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .is_some_and(|v| match op {
                    CompareOp::Gt => v > *number,
                    CompareOp::Gte => v >= *number,
                    CompareOp::Lt => v < *number,
                    CompareOp::Lte => v <= *number,
                }),
            Ready::FieldRef(other) => match (value, event.field(other)) {
                (Some(v), Some(o)) => fold(v) == fold(&o),
                _ => false,
            },
        }
    }
}

impl TextMatch {
    fn new(pattern: &[Part], cased: bool) -> Self {
        let fold = |s: &str| if cased { s.to_owned() } else { fold(s) };
        match pattern {
            [] => TextMatch::Exact(String::new()),
            [Part::Lit(s)] => TextMatch::Exact(fold(s)),
            [Part::Lit(s), Part::Any] => TextMatch::Prefix(fold(s)),
            [Part::Any, Part::Lit(s)] => TextMatch::Suffix(fold(s)),
            [Part::Any, Part::Lit(s), Part::Any] => TextMatch::Contains(fold(s)),
            parts if parts.iter().all(|p| *p == Part::Any) => TextMatch::Anything,
            parts => TextMatch::Glob(
                parts
                    .iter()
                    .flat_map(|part| match part {
                        Part::Lit(s) => fold(s).chars().map(Tok::Char).collect(),
                        Part::Any => vec![Tok::Star],
                        Part::One => vec![Tok::One],
                        Part::OneOf(chars) => vec![Tok::Class(fold(chars).chars().collect())],
                    })
                    .collect(),
            ),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            TextMatch::Exact(s) => value == s,
            TextMatch::Prefix(s) => value.starts_with(s.as_str()),
            TextMatch::Suffix(s) => value.ends_with(s.as_str()),
            TextMatch::Contains(s) => value.contains(s.as_str()),
            TextMatch::Anything => true,
            TextMatch::Glob(toks) => glob(toks, &value.chars().collect::<Vec<_>>()),
        }
    }
}

/// Lower case, one character at a time, the same for patterns and values: unlike
/// `str::to_lowercase`, a character's case never depends on its neighbours (a final `Σ`), so a
/// pattern cut at its wildcards folds as the whole value does.
pub fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Wildcard matching with one backtrack point: the last `*` seen takes one more character
/// whenever what follows it fails. Linear in practice, at worst pattern × value.
fn glob(toks: &[Tok], s: &[char]) -> bool {
    let (mut t, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let step = toks.get(t).is_some_and(|tok| match tok {
            Tok::Char(c) => *c == s[i],
            Tok::One => true,
            Tok::Class(chars) => chars.contains(&s[i]),
            Tok::Star => false,
        });
        if step {
            t += 1;
            i += 1;
        } else if matches!(toks.get(t), Some(Tok::Star)) {
            star = Some((t, i));
            t += 1;
        } else if let Some((star_t, star_i)) = star {
            t = star_t + 1;
            i = star_i + 1;
            star = Some((star_t, star_i + 1));
        } else {
            return false;
        }
    }
    toks[t..].iter().all(|tok| matches!(tok, Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Event(BTreeMap<&'static str, &'static str>);

    impl Fields for Event {
        fn field(&self, name: &str) -> Option<Cow<'_, str>> {
            self.0.get(name).map(|v| Cow::Borrowed(*v))
        }
        fn any_value(&self, found: &mut dyn FnMut(&str) -> bool) -> bool {
            self.0.values().any(|v| found(v))
        }
    }

    fn lit(s: &str) -> Part {
        Part::Lit(s.into())
    }

    fn text(pattern: Vec<Part>) -> Matcher {
        Matcher::Text {
            pattern,
            cased: false,
        }
    }

    fn one_item(field: Option<&str>, all: bool, values: Vec<Matcher>) -> Matching {
        let item = Item {
            field: field.map(str::to_owned),
            all,
            values,
        };
        Matching::new(Rule {
            id: "r".into(),
            title: "t".into(),
            level: Level::High,
            author: None,
            license: None,
            references: vec![],
            tags: vec![],
            logsource: LogSource::default(),
            selections: vec![Selection {
                name: "selection".into(),
                any: vec![vec![item]],
            }],
            condition: Cond::Sel(0),
        })
        .expect("a valid rule")
    }

    fn event(pairs: &[(&'static str, &'static str)]) -> Event {
        Event(pairs.iter().copied().collect())
    }

    fn item(field: Option<&str>, all: bool, values: Vec<Matcher>) -> Item {
        Item {
            field: field.map(str::to_owned),
            all,
            values,
        }
    }

    fn rule_of(selections: Vec<Vec<Vec<Item>>>, condition: Cond) -> Matching {
        let mut rule = one_item(None, false, vec![]).rule().clone();
        rule.selections = selections
            .into_iter()
            .enumerate()
            .map(|(i, any)| Selection {
                name: format!("s{i}"),
                any,
            })
            .collect();
        rule.condition = condition;
        Matching::new(rule).expect("a valid rule")
    }

    fn pairs(gate: Option<Gate>) -> Vec<(String, String)> {
        gate.map(|g| g.literals).unwrap_or_default()
    }

    fn pair(field: &str, literal: &str) -> (String, String) {
        (field.to_owned(), literal.to_owned())
    }

    #[test]
    fn a_gate_is_the_literal_a_match_cannot_do_without() {
        let image = || {
            item(
                Some("Image"),
                false,
                vec![
                    text(vec![Part::Any, lit("\\Cmd.exe")]),
                    text(vec![Part::Any, lit("\\pwsh"), Part::One, lit(".exe")]),
                ],
            )
        };
        let cli = || {
            item(
                Some("CommandLine"),
                true,
                vec![
                    text(vec![Part::Any, lit(" /c "), Part::Any]),
                    text(vec![Part::Any, lit("whoami"), Part::Any]),
                ],
            )
        };
        // one item: each value's longest literal, folded
        let m = rule_of(vec![vec![vec![image()]]], Cond::Sel(0));
        assert_eq!(
            pairs(m.gate()),
            [pair("Image", "\\cmd.exe"), pair("Image", "\\pwsh")]
        );
        // `|all`: the strongest one value suffices; in a group, the strongest item
        let m = rule_of(vec![vec![vec![image(), cli()]]], Cond::Sel(0));
        assert_eq!(pairs(m.gate()), [pair("CommandLine", "whoami")]);
        // `and`: the stronger side; `not` gives none
        let m = rule_of(
            vec![vec![vec![image()]], vec![vec![cli()]]],
            Cond::And(vec![Cond::Sel(0), Cond::Not(Box::new(Cond::Sel(1)))]),
        );
        assert_eq!(
            pairs(m.gate()),
            [pair("Image", "\\cmd.exe"), pair("Image", "\\pwsh")]
        );
        // `or`, `1 of`, a list of maps: every side's literals, fields mixed
        let m = rule_of(vec![vec![vec![image()], vec![cli()]]], Cond::Sel(0));
        assert_eq!(
            pairs(m.gate()),
            [
                pair("Image", "\\cmd.exe"),
                pair("Image", "\\pwsh"),
                pair("CommandLine", "whoami")
            ]
        );
        // keywords: the literal in any value
        let keywords = item(
            None,
            false,
            vec![text(vec![Part::Any, lit("Mimikatz"), Part::Any])],
        );
        let m = rule_of(vec![vec![vec![keywords]]], Cond::Sel(0));
        assert_eq!(pairs(m.gate()), [pair(KEYWORDS, "mimikatz")]);
        let gate = m.gate().expect("a gate");
        assert!(gate.admits(&event(&[("A", "x"), ("B", "run MIMIKATZ")])));
        assert!(!gate.admits(&event(&[("A", "x")])));
        // a side without a literal leaves the rule ungated: a regex, null, not
        let keywords = item(
            None,
            false,
            vec![Matcher::Regex {
                pattern: "a+".into(),
            }],
        );
        let regex = item(
            Some("Image"),
            false,
            vec![Matcher::Regex {
                pattern: "a+".into(),
            }],
        );
        let null = item(
            Some("Image"),
            false,
            vec![Matcher::Null, text(vec![lit("x")])],
        );
        for other in [keywords, regex, null] {
            let m = rule_of(
                vec![vec![vec![image()]], vec![vec![other]]],
                Cond::Or(vec![Cond::Sel(0), Cond::Sel(1)]),
            );
            assert_eq!(m.gate(), None);
        }
        let m = rule_of(vec![vec![vec![image()]]], Cond::Not(Box::new(Cond::Sel(0))));
        assert_eq!(m.gate(), None);
    }

    #[test]
    fn an_event_a_rule_matches_passes_its_gate() {
        let m = rule_of(
            vec![vec![vec![item(
                Some("Image"),
                false,
                vec![Matcher::Text {
                    pattern: vec![Part::Any, lit("\\PowerShell.EXE")],
                    cased: true,
                }],
            )]]],
            Cond::Sel(0),
        );
        let gate = m.gate().expect("a gate");
        let ev = event(&[("Image", "C:\\Windows\\PowerShell.EXE")]);
        assert!(
            m.matches(&ev) && gate.admits(&ev),
            "a cased match passes its folded gate"
        );
        let other = event(&[("Image", "C:\\Windows\\cmd.exe")]);
        assert!(!gate.admits(&other));
        assert!(!gate.admits(&event(&[])));
    }

    #[test]
    fn text_is_case_insensitive_unless_cased() {
        let greek = one_item(
            Some("F"),
            false,
            vec![text(vec![Part::Any, lit("ΟΔΟΣ"), Part::Any])],
        );
        assert!(
            greek.matches(&event(&[("F", "ΟΔΟΣΑ")])),
            "a final sigma folds as any other"
        );
        let rule = one_item(
            Some("Image"),
            false,
            vec![text(vec![Part::Any, lit("\\PowerShell.EXE")])],
        );
        assert!(rule.matches(&event(&[("Image", "C:\\Windows\\powershell.exe")])));
        assert!(!rule.matches(&event(&[("Image", "C:\\Windows\\powershell.exe.bak")])));
        let cased = one_item(
            Some("Image"),
            false,
            vec![Matcher::Text {
                pattern: vec![Part::Any, lit("\\PowerShell.EXE")],
                cased: true,
            }],
        );
        assert!(!cased.matches(&event(&[("Image", "C:\\Windows\\powershell.exe")])));
        assert!(cased.matches(&event(&[("Image", "C:\\Windows\\PowerShell.EXE")])));
    }

    #[test]
    fn wildcards_and_classes_match_whole_values() {
        let rule = one_item(
            Some("CommandLine"),
            false,
            vec![text(vec![
                lit("cmd"),
                Part::One,
                Part::Any,
                Part::OneOf("-/".into()),
                lit("c "),
                Part::Any,
            ])],
        );
        assert!(rule.matches(&event(&[("CommandLine", "cmd.exe /c whoami")])));
        assert!(rule.matches(&event(&[("CommandLine", "CMD  -C dir")])));
        assert!(
            !rule.matches(&event(&[("CommandLine", "cmd/c dir")])),
            "? needs one character before the dash"
        );
        assert!(!rule.matches(&event(&[("CommandLine", "xcmd.exe /c whoami")])));
        assert!(glob(
            &[Tok::Star, Tok::Char('a'), Tok::Star, Tok::Char('b')],
            &['x', 'a', 'b', 'a', 'b']
        ));
        assert!(!glob(
            &[Tok::Star, Tok::Char('a'), Tok::Char('b')],
            &['a', 'b', 'a']
        ));
    }

    #[test]
    fn lists_are_any_unless_all() {
        let values = vec![
            text(vec![Part::Any, lit("-enc"), Part::Any]),
            text(vec![Part::Any, lit("hidden"), Part::Any]),
        ];
        let any = one_item(Some("CommandLine"), false, values.clone());
        let all = one_item(Some("CommandLine"), true, values);
        let one = event(&[("CommandLine", "powershell -enc AAA")]);
        let both = event(&[("CommandLine", "powershell -w hidden -enc AAA")]);
        assert!(any.matches(&one) && any.matches(&both));
        assert!(!all.matches(&one) && all.matches(&both));
    }

    #[test]
    fn null_exists_and_missing_fields() {
        let null = one_item(Some("ParentImage"), false, vec![Matcher::Null]);
        assert!(null.matches(&event(&[])));
        assert!(null.matches(&event(&[("ParentImage", "")])));
        assert!(!null.matches(&event(&[("ParentImage", "x")])));
        let exists = one_item(
            Some("ParentImage"),
            false,
            vec![Matcher::Exists { present: true }],
        );
        assert!(exists.matches(&event(&[("ParentImage", "")])) && !exists.matches(&event(&[])));
        let star = one_item(Some("ParentImage"), false, vec![text(vec![Part::Any])]);
        assert!(
            !star.matches(&event(&[])),
            "`*` needs the field to be there"
        );
    }

    #[test]
    fn keywords_search_every_value() {
        let rule = one_item(
            None,
            false,
            vec![text(vec![Part::Any, lit("mimikatz"), Part::Any])],
        );
        assert!(rule.matches(&event(&[("A", "x"), ("B", "run Mimikatz.exe now")])));
        assert!(!rule.matches(&event(&[("A", "mimi"), ("B", "katz")])));
    }

    #[test]
    fn regex_cidr_compare_and_fieldref() {
        let re = one_item(
            Some("CommandLine"),
            false,
            vec![Matcher::Regex {
                pattern: "(?i)\\\\\\\\[a-z]+\\\\c\\$".into(),
            }],
        );
        assert!(re.matches(&event(&[("CommandLine", "copy x \\\\HOST\\C$\\y")])));
        let cidr = one_item(
            Some("DestinationIp"),
            false,
            vec![Matcher::Cidr {
                network: "10.0.0.0/8".into(),
            }],
        );
        assert!(cidr.matches(&event(&[("DestinationIp", "10.1.2.3")])));
        assert!(!cidr.matches(&event(&[("DestinationIp", "11.1.2.3")])));
        assert!(!cidr.matches(&event(&[("DestinationIp", "not an address")])));
        assert!(
            cidr.matches(&event(&[("DestinationIp", "::ffff:10.1.2.3")])),
            "IPv4-mapped"
        );
        let bare = one_item(
            Some("IpAddress"),
            false,
            vec![Matcher::Cidr {
                network: "192.0.2.7".into(),
            }],
        );
        assert!(
            bare.matches(&event(&[("IpAddress", "192.0.2.7")]))
                && !bare.matches(&event(&[("IpAddress", "192.0.2.8")]))
        );
        let gt = one_item(
            Some("Size"),
            false,
            vec![Matcher::Compare {
                op: CompareOp::Gt,
                number: 10.0,
            }],
        );
        assert!(gt.matches(&event(&[("Size", "11")])) && !gt.matches(&event(&[("Size", "10")])));
        assert!(
            !gt.matches(&event(&[("Size", "inf")])),
            "only finite numbers compare"
        );
        let fieldref = one_item(
            Some("SourceUser"),
            false,
            vec![Matcher::FieldRef {
                field: "TargetUser".into(),
            }],
        );
        assert!(fieldref.matches(&event(&[("SourceUser", "Bob"), ("TargetUser", "bob")])));
        assert!(!fieldref.matches(&event(&[("SourceUser", "Bob")])));
    }

    #[test]
    fn conditions_and_unusable_rules() {
        let mut rule = one_item(Some("A"), false, vec![text(vec![lit("1")])])
            .rule()
            .clone();
        rule.selections.push(Selection {
            name: "filter".into(),
            any: vec![vec![Item {
                field: Some("B".into()),
                all: false,
                values: vec![text(vec![lit("2")])],
            }]],
        });
        rule.condition = Cond::And(vec![Cond::Sel(0), Cond::Not(Box::new(Cond::Sel(1)))]);
        let ready = Matching::new(rule.clone()).expect("valid");
        assert!(ready.matches(&event(&[("A", "1")])));
        assert!(!ready.matches(&event(&[("A", "1"), ("B", "2")])));
        rule.condition = Cond::AtLeast {
            n: 2,
            of: vec![Cond::Sel(0), Cond::Sel(1)],
        };
        let two = Matching::new(rule.clone()).expect("valid");
        assert!(
            !two.matches(&event(&[("A", "1")])) && two.matches(&event(&[("A", "1"), ("B", "2")]))
        );
        rule.condition = Cond::Sel(2);
        assert!(Matching::new(rule.clone()).is_err());
        rule.condition = Cond::Sel(0);
        rule.selections[0].any[0][0].values = vec![Matcher::Regex {
            pattern: "(".into(),
        }];
        let err = Matching::new(rule).expect_err("a bad regex");
        assert_eq!(
            err.to_string(),
            "regex: selection `selection`: field `A`: `(`: unclosed group"
        );
    }

    #[test]
    fn the_compiled_form_round_trips_through_json() {
        let rule = one_item(
            Some("Image"),
            true,
            vec![text(vec![Part::Any, lit("x"), Part::OneOf("-/".into())])],
        );
        let json = serde_json::to_string(rule.rule()).expect("serializes");
        let back: Rule = serde_json::from_str(&json).expect("parses");
        assert_eq!(&back, rule.rule());
    }
}
