//! Sigma YAML to [`Rule`]: parsed by `rsigma-parser`, every modifier applied, the condition
//! resolved to selection indexes, the `logsource` routed. What the evaluation does not do is
//! refused with a [`Refusal`] naming the construct; a rule is never compiled in part.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Level as SigmaLevel, Modifier, Quantifier, SigmaRule,
    SigmaValue, SpecialChar, StringPart,
};

use crate::rule::{
    CompareOp, Cond, Item, Level, LogSource, Matcher, Matching, Part, Rule, Selection,
};
use crate::windows;

/// The characters `|windash` lets stand for a dash: hyphen, slash, en dash, em dash,
/// horizontal bar (pySigma's list).
pub const WINDASH: &str = "-/\u{2013}\u{2014}\u{2015}";

/// Why a rule (or a document of a Sigma file) was not compiled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// What kind of construct: `modifier`, `detection`, `condition`, `logsource`, `regex`,
    /// `correlation`, `filter`, `metadata`, `yaml`.
    pub kind: &'static str,
    /// Where in the rule: the selection and field (empty when the whole rule is meant).
    pub at: String,
    /// The construct and why, without what is particular to one rule where that can be
    /// left out: what `yagura sigma check` counts by.
    pub what: String,
}

impl Refusal {
    pub fn new(kind: &'static str, what: impl Into<String>) -> Self {
        Refusal {
            kind,
            at: String::new(),
            what: what.into(),
        }
    }

    /// The same refusal, found inside `place`.
    pub fn at(mut self, place: impl fmt::Display) -> Self {
        self.at = if self.at.is_empty() {
            place.to_string()
        } else {
            format!("{place}: {}", self.at)
        };
        self
    }

    /// `kind: what`, the key `yagura sigma check` counts refusals by.
    pub fn reason(&self) -> String {
        format!("{}: {}", self.kind, self.what)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.kind, self.what)
        } else {
            write!(f, "{}: {}: {}", self.kind, self.at, self.what)
        }
    }
}

/// A document of a Sigma file that did not compile.
#[derive(Debug, Clone)]
pub struct Refused {
    pub title: Option<String>,
    pub id: Option<String>,
    pub refusal: Refusal,
}

/// What a Sigma file compiled to.
#[derive(Debug, Default)]
pub struct Compiled {
    pub rules: Vec<Rule>,
    pub refused: Vec<Refused>,
}

/// Options of the compiler.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The licence named on rules that name none (SigmaHQ's rules carry theirs in the
    /// repository, not in each file: `DRL-1.1`).
    pub license: Option<String>,
}

/// Compiles every document of one Sigma file (several with `---` and `action:`).
pub fn compile_yaml(text: &str, options: &Options) -> Compiled {
    let mut out = Compiled::default();
    let collection = match rsigma_parser::parse_sigma_yaml(text) {
        Ok(collection) => collection,
        Err(e) => {
            out.refused.push(Refused {
                title: None,
                id: None,
                refusal: Refusal::new("yaml", "the file does not parse").at(e),
            });
            return out;
        }
    };
    for error in &collection.errors {
        let refusal = Refusal::new("yaml", "a document that does not parse").at(error);
        out.refused.push(Refused {
            title: None,
            id: None,
            refusal,
        });
    }
    for rule in &collection.rules {
        match compile_rule(rule, options) {
            Ok(compiled) => out.rules.push(compiled),
            Err(refusal) => out.refused.push(Refused {
                title: Some(rule.title.clone()),
                id: rule.id.clone(),
                refusal,
            }),
        }
    }
    for correlation in &collection.correlations {
        out.refused.push(Refused {
            title: Some(correlation.title.clone()),
            id: correlation.id.clone(),
            refusal: Refusal::new("correlation", "correlation rules are not run yet"),
        });
    }
    for filter in &collection.filters {
        out.refused.push(Refused {
            title: Some(filter.title.clone()),
            id: filter.id.clone(),
            refusal: Refusal::new("filter", "filter rules are not applied yet"),
        });
    }
    out
}

/// Compiles one parsed rule.
pub fn compile_rule(rule: &SigmaRule, options: &Options) -> Result<Rule, Refusal> {
    let id = rule
        .id
        .clone()
        .ok_or_else(|| Refusal::new("metadata", "no `id`: a finding names its rule by id"))?;
    let logsource = LogSource {
        product: rule.logsource.product.clone(),
        category: rule.logsource.category.clone(),
        service: rule.logsource.service.clone(),
    };
    windows::route(&logsource).map_err(|e| Refusal::new("logsource", e))?;
    if let Some(timeframe) = &rule.detection.timeframe {
        return Err(Refusal::new(
            "detection",
            format!("`timeframe: {timeframe}` (write a correlation rule)"),
        ));
    }

    // Selections in name order: the condition refers to them by index.
    let named: BTreeMap<&str, &Detection> = rule
        .detection
        .named
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let names: Vec<&str> = named.keys().copied().collect();
    let selections = named
        .iter()
        .map(|(name, detection)| {
            let any = groups(detection).map_err(|r| r.at(format_args!("selection `{name}`")))?;
            Ok(Selection {
                name: (*name).to_owned(),
                any,
            })
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    let mut conditions = rule
        .detection
        .conditions
        .iter()
        .map(|c| condition(c, &names))
        .collect::<Result<Vec<_>, _>>()?;
    let condition = match conditions.len() {
        0 => return Err(Refusal::new("condition", "the rule has no condition")),
        1 => conditions.remove(0),
        _ => Cond::Or(conditions),
    };

    let compiled = Rule {
        id,
        title: rule.title.clone(),
        level: match rule.level {
            Some(SigmaLevel::Informational) => Level::Informational,
            Some(SigmaLevel::Low) => Level::Low,
            Some(SigmaLevel::Medium) | None => Level::Medium,
            Some(SigmaLevel::High) => Level::High,
            Some(SigmaLevel::Critical) => Level::Critical,
        },
        author: rule.author.clone(),
        license: rule.license.clone().or_else(|| options.license.clone()),
        references: rule.references.clone(),
        tags: rule.tags.clone(),
        logsource,
        selections,
        condition,
    };
    // What only the evaluation can tell: a regular expression the regex crate refuses, a
    // network that does not parse.
    Matching::new(compiled.clone()).map_err(|e| Refusal::new(e.kind, e.error).at(e.at))?;
    Ok(compiled)
}

/// A detection as groups: it matches when all items of any group do.
fn groups(detection: &Detection) -> Result<Vec<Vec<Item>>, Refusal> {
    match detection {
        // an empty map or list would match every event
        Detection::AllOf(items) if items.is_empty() => {
            Err(Refusal::new("detection", "an empty map"))
        }
        Detection::Keywords(values) if values.is_empty() => {
            Err(Refusal::new("detection", "an empty list"))
        }
        Detection::AnyOf(subs) if subs.is_empty() => {
            Err(Refusal::new("detection", "an empty list"))
        }
        Detection::AllOf(items) => Ok(vec![items.iter().map(item).collect::<Result<_, _>>()?]),
        Detection::AnyOf(subs) => {
            let mut out = Vec::new();
            for sub in subs {
                out.extend(groups(sub)?);
            }
            Ok(out)
        }
        Detection::Keywords(values) => {
            let values = values.iter().map(keyword).collect::<Result<_, _>>()?;
            Ok(vec![vec![Item {
                field: None,
                all: false,
                values,
            }]])
        }
        Detection::ArrayMatch { field, .. } => Err(Refusal::new(
            "detection",
            format!("array matching on `{field}` (Sigma 2.x `[any]`/`[all]`)"),
        )),
        Detection::And(_) => Err(Refusal::new(
            "detection",
            "array matching mixed with fields (Sigma 2.x)",
        )),
        Detection::Conditional { .. } => {
            Err(Refusal::new("detection", "a nested condition (Sigma 2.x)"))
        }
    }
}

/// A keyword: a substring of any value, as Sigma engines search keywords.
fn keyword(value: &SigmaValue) -> Result<Matcher, Refusal> {
    let pattern = match value {
        SigmaValue::String(s) => parts(&s.parts),
        SigmaValue::Integer(n) => vec![Part::Lit(n.to_string())],
        SigmaValue::Float(n) => vec![Part::Lit(n.to_string())],
        SigmaValue::Bool(b) => vec![Part::Lit(b.to_string())],
        SigmaValue::Null => return Err(Refusal::new("detection", "a `null` keyword")),
    };
    Ok(Matcher::Text {
        pattern: wrap(pattern, true, true),
        cased: false,
    })
}

/// The modifiers of one field, sorted by what they do.
#[derive(Default)]
struct Mods {
    anchor: Option<Modifier>,
    all: bool,
    cased: bool,
    re: bool,
    re_flags: String,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    compare: Option<CompareOp>,
    encoding: Option<Modifier>,
    base64: Option<Modifier>,
    windash: bool,
}

fn mods(list: &[Modifier]) -> Result<Mods, Refusal> {
    let mut m = Mods::default();
    for (i, modifier) in list.iter().enumerate() {
        // a modifier twice, or two that set the same thing (`gt|lt`, `wide|utf16be`,
        // `base64|base64offset`): which one was meant is not clear
        let clash = |other: &Modifier| match (modifier, other) {
            (a, b) if a == b => true,
            (Modifier::Gt | Modifier::Gte | Modifier::Lt | Modifier::Lte, b) => {
                matches!(
                    b,
                    Modifier::Gt | Modifier::Gte | Modifier::Lt | Modifier::Lte
                )
            }
            (Modifier::Wide | Modifier::Utf16be | Modifier::Utf16, b) => {
                matches!(b, Modifier::Wide | Modifier::Utf16be | Modifier::Utf16)
            }
            (Modifier::Base64 | Modifier::Base64Offset, b) => {
                matches!(b, Modifier::Base64 | Modifier::Base64Offset)
            }
            _ => false,
        };
        if list[..i].iter().any(clash) {
            return Err(Refusal::new(
                "modifier",
                format!("the combination `{}`", names(list)),
            ));
        }
        match modifier {
            Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith => {
                if m.anchor.is_some_and(|a| a != *modifier) {
                    return Err(Refusal::new(
                        "modifier",
                        "two of `contains`, `startswith`, `endswith`",
                    ));
                }
                m.anchor = Some(*modifier);
            }
            Modifier::All => m.all = true,
            Modifier::Cased => m.cased = true,
            Modifier::Re => m.re = true,
            Modifier::IgnoreCase => m.re_flags.push('i'),
            Modifier::Multiline => m.re_flags.push('m'),
            Modifier::DotAll => m.re_flags.push('s'),
            Modifier::Cidr => m.cidr = true,
            Modifier::Exists => m.exists = true,
            Modifier::FieldRef => m.fieldref = true,
            Modifier::Gt => m.compare = Some(CompareOp::Gt),
            Modifier::Gte => m.compare = Some(CompareOp::Gte),
            Modifier::Lt => m.compare = Some(CompareOp::Lt),
            Modifier::Lte => m.compare = Some(CompareOp::Lte),
            Modifier::Wide | Modifier::Utf16be | Modifier::Utf16 => m.encoding = Some(*modifier),
            Modifier::Base64 | Modifier::Base64Offset => m.base64 = Some(*modifier),
            Modifier::WindAsh => m.windash = true,
            other => {
                return Err(Refusal::new(
                    "modifier",
                    format!("`{}`", modifier_name(*other)),
                ));
            }
        }
    }
    let special = [m.re, m.cidr, m.exists, m.fieldref, m.compare.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    let text_mods =
        m.anchor.is_some() || m.encoding.is_some() || m.base64.is_some() || m.windash || m.cased;
    if special > 1 || (special == 1 && text_mods) {
        return Err(Refusal::new(
            "modifier",
            format!("the combination `{}`", names(list)),
        ));
    }
    if !m.re_flags.is_empty() && !m.re {
        return Err(Refusal::new(
            "modifier",
            "regular expression flags without `re`",
        ));
    }
    if m.windash && m.base64.is_some() {
        // the order would matter (dashes of the text, or characters of its base64) and
        // SigmaHQ's rules use neither
        return Err(Refusal::new(
            "modifier",
            format!("the combination `{}`", names(list)),
        ));
    }
    if m.encoding.is_some() && m.base64.is_none() {
        return Err(Refusal::new(
            "modifier",
            format!("`{}` without `base64` or `base64offset`", names(list)),
        ));
    }
    Ok(m)
}

fn names(list: &[Modifier]) -> String {
    list.iter()
        .map(|m| modifier_name(*m))
        .collect::<Vec<_>>()
        .join("|")
}

fn modifier_name(m: Modifier) -> &'static str {
    match m {
        Modifier::Contains => "contains",
        Modifier::StartsWith => "startswith",
        Modifier::EndsWith => "endswith",
        Modifier::All => "all",
        Modifier::Base64 => "base64",
        Modifier::Base64Offset => "base64offset",
        Modifier::Wide => "wide",
        Modifier::Utf16be => "utf16be",
        Modifier::Utf16 => "utf16",
        Modifier::WindAsh => "windash",
        Modifier::Re => "re",
        Modifier::Cidr => "cidr",
        Modifier::Cased => "cased",
        Modifier::Exists => "exists",
        Modifier::Expand => "expand",
        Modifier::FieldRef => "fieldref",
        Modifier::Gt => "gt",
        Modifier::Gte => "gte",
        Modifier::Lt => "lt",
        Modifier::Lte => "lte",
        Modifier::Neq => "neq",
        Modifier::IgnoreCase => "i",
        Modifier::Multiline => "m",
        Modifier::DotAll => "s",
        Modifier::Minute => "minute",
        Modifier::Hour => "hour",
        Modifier::Day => "day",
        Modifier::Week => "week",
        Modifier::Month => "month",
        Modifier::Year => "year",
    }
}

fn item(item: &DetectionItem) -> Result<Item, Refusal> {
    let field = item.field.name.clone();
    let at = format!("field `{}`", field.as_deref().unwrap_or("(keywords)"));
    let m = mods(&item.field.modifiers).map_err(|r| r.at(&at))?;
    let mut values = Vec::new();
    for value in &item.values {
        let variants = matchers(value, &m).map_err(|r| r.at(&at))?;
        if m.all && variants.len() > 1 {
            return Err(
                Refusal::new("modifier", "`all` over `base64offset`'s three encodings").at(&at),
            );
        }
        values.extend(variants);
    }
    if values.is_empty() {
        return Err(Refusal::new("detection", "a field with no value").at(&at));
    }
    Ok(Item {
        field,
        all: m.all,
        values,
    })
}

/// The matchers one value of a field becomes: one, or three for `base64offset`.
fn matchers(value: &SigmaValue, m: &Mods) -> Result<Vec<Matcher>, Refusal> {
    let text = |v: &SigmaValue| match v {
        SigmaValue::String(s) => Some(s.original.clone()),
        SigmaValue::Integer(n) => Some(n.to_string()),
        SigmaValue::Float(n) => Some(n.to_string()),
        SigmaValue::Bool(b) => Some(b.to_string()),
        SigmaValue::Null => None,
    };
    if m.exists {
        return match value {
            SigmaValue::Bool(present) => Ok(vec![Matcher::Exists { present: *present }]),
            other => Err(Refusal::new(
                "detection",
                format!("`exists` takes true or false, not `{other}`"),
            )),
        };
    }
    if matches!(value, SigmaValue::Null) {
        return Ok(vec![Matcher::Null]);
    }
    if m.re {
        let pattern = text(value).unwrap_or_default();
        let flags = if m.re_flags.is_empty() {
            String::new()
        } else {
            format!("(?{})", m.re_flags)
        };
        return Ok(vec![Matcher::Regex {
            pattern: format!("{flags}{pattern}"),
        }]);
    }
    if m.cidr {
        return Ok(vec![Matcher::Cidr {
            network: text(value).unwrap_or_default(),
        }]);
    }
    if m.fieldref {
        return Ok(vec![Matcher::FieldRef {
            field: text(value).unwrap_or_default(),
        }]);
    }
    if let Some(op) = m.compare {
        let number = match value {
            SigmaValue::Integer(n) => *n as f64,
            SigmaValue::Float(n) => *n,
            other => {
                return Err(Refusal::new(
                    "detection",
                    format!("a comparison with `{other}`, not a number"),
                ));
            }
        };
        return Ok(vec![Matcher::Compare { op, number }]);
    }
    let base = match value {
        SigmaValue::String(s) => parts(&s.parts),
        other => vec![Part::Lit(text(other).unwrap_or_default())],
    };
    let encoded: Vec<Vec<Part>> = match m.base64 {
        None => vec![base],
        Some(kind) => {
            let [Part::Lit(plain)] = base.as_slice() else {
                return Err(Refusal::new(
                    "detection",
                    "`base64` of a value with wildcards",
                ));
            };
            let bytes = encode(plain, m.encoding);
            match kind {
                Modifier::Base64 => vec![vec![Part::Lit(BASE64.encode(&bytes))]],
                _ => {
                    let variants = base64_offsets(&bytes);
                    // a value of one byte leaves an empty variant, which would match anything
                    if variants.iter().any(String::is_empty) {
                        return Err(Refusal::new(
                            "detection",
                            "`base64offset` of a value too short to encode (2 bytes at least)",
                        ));
                    }
                    variants.into_iter().map(|s| vec![Part::Lit(s)]).collect()
                }
            }
        }
    };
    let (lead, trail) = match m.anchor {
        Some(Modifier::Contains) => (true, true),
        Some(Modifier::StartsWith) => (false, true),
        Some(Modifier::EndsWith) => (true, false),
        _ => (false, false),
    };
    Ok(encoded
        .into_iter()
        .map(|p| {
            let p = if m.windash { windash(p) } else { p };
            Matcher::Text {
                pattern: wrap(p, lead, trail),
                cased: m.cased,
            }
        })
        .collect())
}

fn parts(sigma: &[StringPart]) -> Vec<Part> {
    sigma
        .iter()
        .map(|p| match p {
            StringPart::Plain(s) => Part::Lit(s.clone()),
            StringPart::Special(SpecialChar::WildcardMulti) => Part::Any,
            StringPart::Special(SpecialChar::WildcardSingle) => Part::One,
        })
        .collect()
}

/// Adds a leading or trailing `*` where there is none.
fn wrap(mut p: Vec<Part>, lead: bool, trail: bool) -> Vec<Part> {
    if lead && p.first() != Some(&Part::Any) {
        p.insert(0, Part::Any);
    }
    if trail && p.last() != Some(&Part::Any) {
        p.push(Part::Any);
    }
    p
}

/// `|windash`: a `-` or `/` that starts a word (pySigma's `\B[-/]\b`) matches any dash.
fn windash(p: Vec<Part>) -> Vec<Part> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for part in p {
        let Part::Lit(s) = part else {
            out.push(part);
            continue;
        };
        let chars: Vec<char> = s.chars().collect();
        let mut lit = String::new();
        for (i, c) in chars.iter().enumerate() {
            let before_is_word = i > 0 && word(chars[i - 1]);
            let after_is_word = chars.get(i + 1).is_some_and(|n| word(*n));
            if (*c == '-' || *c == '/') && !before_is_word && after_is_word {
                if !lit.is_empty() {
                    out.push(Part::Lit(std::mem::take(&mut lit)));
                }
                out.push(Part::OneOf(WINDASH.to_owned()));
            } else {
                lit.push(*c);
            }
        }
        if !lit.is_empty() {
            out.push(Part::Lit(lit));
        }
    }
    out
}

fn encode(plain: &str, encoding: Option<Modifier>) -> Vec<u8> {
    match encoding {
        Some(Modifier::Wide) => plain.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Some(Modifier::Utf16be) => plain.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        // `utf16`: with the byte-order mark, little-endian
        Some(Modifier::Utf16) => [0xFF, 0xFE]
            .into_iter()
            .chain(plain.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        _ => plain.as_bytes().to_vec(),
    }
}

/// `|base64offset`: the value's base64 at each of the three offsets it can start at inside a
/// longer base64 text, cut to the characters that do not depend on its neighbours (pySigma's
/// `SigmaBase64OffsetModifier`).
fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(bytes);
            let encoded = BASE64.encode(&padded);
            let end = encoded.len() - END_CUT[(bytes.len() + i) % 3];
            encoded.get(START[i]..end).unwrap_or_default().to_owned()
        })
        .collect()
}

fn condition(expr: &ConditionExpr, names: &[&str]) -> Result<Cond, Refusal> {
    Ok(match expr {
        ConditionExpr::Identifier(name) => {
            Cond::Sel(names.iter().position(|n| n == name).ok_or_else(|| {
                Refusal::new("condition", "names a detection that is not there")
                    .at(format_args!("`{name}`"))
            })?)
        }
        ConditionExpr::Not(inner) => Cond::Not(Box::new(condition(inner, names)?)),
        ConditionExpr::And(list) => Cond::And(
            list.iter()
                .map(|c| condition(c, names))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Or(list) => Cond::Or(
            list.iter()
                .map(|c| condition(c, names))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let of: Vec<Cond> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| pattern.matches_detection_name(n))
                .map(|(i, _)| Cond::Sel(i))
                .collect();
            if of.is_empty() {
                return Err(
                    Refusal::new("condition", "a selector that matches no detection")
                        .at(format_args!("`{quantifier} of {pattern}`")),
                );
            }
            match quantifier {
                Quantifier::Any => Cond::Or(of),
                Quantifier::All => Cond::And(of),
                // `0 of` would always hold, more than there are never
                Quantifier::Count(n)
                    if *n == 0 || usize::try_from(*n).map_or(true, |n| n > of.len()) =>
                {
                    return Err(Refusal::new(
                        "condition",
                        format!("a count outside 1 to the {} detections it names", of.len()),
                    )
                    .at(format_args!("`{quantifier} of {pattern}`")));
                }
                Quantifier::Count(n) => Cond::AtLeast {
                    n: usize::try_from(*n).unwrap_or(usize::MAX),
                    of,
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Fields;
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    struct Event(BTreeMap<&'static str, String>);

    impl Fields for Event {
        fn field(&self, name: &str) -> Option<Cow<'_, str>> {
            self.0.get(name).map(|v| Cow::Borrowed(v.as_str()))
        }
        fn any_value(&self, found: &mut dyn FnMut(&str) -> bool) -> bool {
            self.0.values().any(|v| found(v))
        }
    }

    fn event(pairs: &[(&'static str, &str)]) -> Event {
        Event(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
    }

    fn one(yaml: &str) -> Result<Matching, Refusal> {
        let mut compiled = compile_yaml(yaml, &Options::default());
        if let Some(refused) = compiled.refused.pop() {
            return Err(refused.refusal);
        }
        Ok(Matching::new(compiled.rules.remove(0)).expect("compiled rules are usable"))
    }

    fn rule(detection: &str) -> String {
        format!(
            "title: t\nid: 6f0f0d8c-0000-4000-8000-000000000001\nauthor: A. Author\nlevel: high\ntags: [attack.t1059.001]\n\
             logsource:\n  product: windows\n  category: process_creation\ndetection:\n{detection}"
        )
    }

    #[test]
    fn metadata_and_conditions() {
        let r = one(&rule(
            "  selection_img:\n    Image|endswith: '\\powershell.exe'\n  selection_cli:\n    CommandLine|contains|all: [' -w hidden', ' -enc ']\n  filter_main:\n    ParentImage|endswith: '\\explorer.exe'\n  condition: all of selection_* and not 1 of filter_*\n",
        ))
        .expect("compiles");
        assert_eq!(r.rule().level, Level::High);
        assert_eq!(r.rule().author.as_deref(), Some("A. Author"));
        assert_eq!(r.rule().tags, ["attack.t1059.001"]);
        let hit = event(&[
            ("Image", "C:\\x\\PowerShell.exe"),
            ("CommandLine", "powershell -w hidden -enc AAA"),
        ]);
        assert!(r.matches(&hit));
        let filtered = event(&[
            ("Image", "C:\\x\\powershell.exe"),
            ("CommandLine", "powershell -w hidden -enc AAA"),
            ("ParentImage", "C:\\Windows\\explorer.exe"),
        ]);
        assert!(!r.matches(&filtered));
        assert!(!r.matches(&event(&[
            ("Image", "C:\\x\\powershell.exe"),
            ("CommandLine", "powershell -enc AAA")
        ])));
    }

    #[test]
    fn windash_matches_every_dash_that_starts_a_word() {
        let r = one(&rule("  selection:\n    CommandLine|windash|contains: ' -s '\n  sel2:\n    CommandLine|windash|contains: 'x-y'\n  condition: selection and sel2\n")).expect("compiles");
        for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
            let cmd = format!("tool {dash}s x-y");
            assert!(r.matches(&event(&[("CommandLine", &cmd)])), "{cmd}");
        }
        assert!(
            !r.matches(&event(&[("CommandLine", "tool -s x/y")])),
            "a dash inside a word stays a dash"
        );
    }

    #[test]
    fn base64offset_finds_the_text_at_any_offset() {
        let r = one(&rule("  selection:\n    CommandLine|base64offset|contains: 'IEX (New-Object'\n  condition: selection\n")).expect("compiles");
        for prefix in ["", "a", "ab", "abc"] {
            let encoded = BASE64.encode(format!("{prefix}IEX (New-Object Net.WebClient)"));
            let cmd = format!("powershell -enc {encoded}");
            assert!(
                r.matches(&event(&[("CommandLine", &cmd)])),
                "offset {}",
                prefix.len()
            );
        }
        assert!(!r.matches(&event(&[(
            "CommandLine",
            &format!("-enc {}", BASE64.encode("Get-Date"))
        )])));
        let wide = one(&rule("  selection:\n    CommandLine|wide|base64offset|contains: 'whoami'\n  condition: selection\n")).expect("compiles");
        let utf16: Vec<u8> = "cmd /c whoami"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(wide.matches(&event(&[("CommandLine", &BASE64.encode(utf16))])));
    }

    #[test]
    fn regex_flags_numbers_and_null() {
        let r = one(&rule("  selection:\n    CommandLine|re|i: 'NET\\s+USE'\n    EventID: 1\n    ParentImage: null\n  condition: selection\n")).expect("compiles");
        assert!(r.matches(&event(&[
            ("CommandLine", "net  use \\\\h"),
            ("EventID", "1")
        ])));
        assert!(!r.matches(&event(&[
            ("CommandLine", "net use"),
            ("EventID", "1"),
            ("ParentImage", "x")
        ])));
        assert!(!r.matches(&event(&[("CommandLine", "net use"), ("EventID", "11")])));
    }

    #[test]
    fn refusals_name_the_construct() {
        let refused = |detection: &str| one(&rule(detection)).expect_err("refused");
        let expand =
            refused("  selection:\n    Image|expand: '%System%\\x.exe'\n  condition: selection\n");
        assert_eq!(
            expand.to_string(),
            "modifier: selection `selection`: field `Image`: `expand`"
        );
        assert_eq!(expand.reason(), "modifier: `expand`");
        let look = refused("  selection:\n    CommandLine|re: 'a(?=b)'\n  condition: selection\n");
        assert_eq!(
            look.to_string(),
            "regex: selection `selection`: field `CommandLine`: `a(?=b)`: \
             look-around, including look-ahead and look-behind, is not supported"
        );
        let missing = refused("  selection:\n    Image: x\n  condition: selection and other\n");
        assert_eq!(
            missing.to_string(),
            "condition: `other`: names a detection that is not there"
        );
        let none = refused("  selection:\n    Image: x\n  condition: 1 of filter_*\n");
        assert_eq!(
            none.to_string(),
            "condition: `1 of filter_*`: a selector that matches no detection"
        );
        let combo = refused("  selection:\n    Image|re|contains: x\n  condition: selection\n");
        assert_eq!(
            combo.to_string(),
            "modifier: selection `selection`: field `Image`: the combination `re|contains`"
        );
        for (mods, value) in [
            ("gt|lt", "1"),
            ("base64|base64offset", "x"),
            ("contains|contains", "x"),
            ("windash|base64offset|contains", "-x"),
        ] {
            let twice = refused(&format!(
                "  selection:\n    Image|{mods}: '{value}'\n  condition: selection\n"
            ));
            let want =
                format!("modifier: selection `selection`: field `Image`: the combination `{mods}`");
            assert_eq!(twice.to_string(), want);
        }
        let short =
            refused("  selection:\n    Image|base64offset|contains: 'a'\n  condition: selection\n");
        assert_eq!(short.kind, "detection", "{short}");
        let empty = refused("  selection: {}\n  condition: selection\n");
        assert_eq!(
            empty.to_string(),
            "detection: selection `selection`: an empty map"
        );
        let zero = refused("  sel_a:\n    Image: x\n  condition: 0 of sel_*\n");
        assert_eq!(
            zero.to_string(),
            "condition: `0 of sel_*`: a count outside 1 to the 1 detections it names"
        );
        let net =
            refused("  selection:\n    IpAddress|cidr: '10.0.0.0/33'\n  condition: selection\n");
        assert_eq!(net.kind, "network", "{net}");
        let selection = "  selection:\n    Image: x\n  condition: selection\n";
        let access =
            one(&rule(selection).replace("process_creation", "file_access")).expect_err("refused");
        assert_eq!(
            access.to_string(),
            "logsource: category `file_access` has no Sysmon or PowerShell event"
        );
        let no_id = one(&rule(selection).replace("id: 6f0f0d8c-0000-4000-8000-000000000001\n", ""))
            .expect_err("refused");
        assert_eq!(no_id.kind, "metadata");
        let yaml = one("title: [unclosed\n").expect_err("refused");
        assert_eq!(yaml.kind, "yaml");
    }

    #[test]
    fn correlations_are_refused_by_name_and_rules_beside_them_compile() {
        let text = format!(
            "{}---\ntitle: many\nid: 6f0f0d8c-0000-4000-8000-000000000002\ncorrelation:\n  type: event_count\n  rules: [6f0f0d8c-0000-4000-8000-000000000001]\n  group-by: [Computer]\n  timespan: 5m\n  condition:\n    gte: 10\n",
            rule("  selection:\n    Image: x\n  condition: selection\n")
        );
        let compiled = compile_yaml(
            &text,
            &Options {
                license: Some("DRL-1.1".into()),
            },
        );
        assert_eq!(compiled.rules.len(), 1);
        assert_eq!(compiled.rules[0].license.as_deref(), Some("DRL-1.1"));
        assert_eq!(compiled.refused.len(), 1);
        assert_eq!(compiled.refused[0].title.as_deref(), Some("many"));
        assert_eq!(compiled.refused[0].refusal.kind, "correlation");
    }
}
