//! Sigma rules for Yagura (docs/sigma.md).
//!
//! A Sigma rule is compiled once, on the host, into a [`Rule`]: plain data (serde) that names
//! its selections, the matchers of each field and the condition over the selections, with
//! every modifier already applied (`contains` is a pattern with a leading and trailing `*`,
//! `windash` a character class, `base64offset` three encoded strings…). Evaluating a rule
//! needs no Sigma parser, so the same code runs on the host and, built for wasm32, inside the
//! sandbox.
//!
//! - [`rule`]: the compiled form and [`Matching`], a rule ready to match events.
//! - [`windows`]: where a Windows rule's `logsource` routes (channel, event ids), and a view of
//!   an EVTX record's JSON as Sigma's field names.
//! - `compile` (feature `compile`): Sigma YAML to [`Rule`], refusing with a reason whatever the
//!   evaluation does not do — a rule is compiled whole or refused, never partly dropped.

#[cfg(feature = "compile")]
pub mod compile;
pub mod rule;
pub mod windows;

pub use rule::{
    Cond, Fields, Gate, Item, KEYWORDS, Level, LogSource, Matcher, Matching, Part, Rule, Selection,
    fold,
};
