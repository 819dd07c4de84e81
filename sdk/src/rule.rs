//! The [`Rule`] trait, the [`RuleInfo`] builder and the [`export_rule!`](crate::export_rule)
//! macro that turns a `Rule` into the component's exports.
//!
//! The host calls `info` once, then `init` with the tenant's settings, then `on-events` and
//! `on-tick` many times. After a trap it throws the instance away and calls `init` on a fresh
//! one, so a rule must keep nothing in guest memory that it cannot rebuild: lasting state
//! belongs in [`state`](crate::state).

use crate::{Batch, Config, EventClass, Finding, Param, RuleInfo, Severity};

/// A detection rule.
///
/// Implement it on the rule's type and call [`export_rule!`](crate::export_rule) once.
pub trait Rule: Sized + 'static {
    /// What the rule is: id, description, severity, techniques, subscriptions and params.
    ///
    /// Build it with [`RuleInfo::new`]. Leave the version unset to use the rule crate's
    /// `CARGO_PKG_VERSION`.
    fn info() -> RuleInfo;

    /// Builds the rule from the tenant's settings. Parameters the tenant did not set read as
    /// the defaults declared in [`Rule::info`]. An error names the parameter and what is wrong
    /// with it ([`ConfigError`](crate::ConfigError) converts into `String` with `?`).
    fn init(config: &Config) -> Result<Self, String>;

    /// Evaluates a batch of events (in event-time order, only of subscribed classes), pushing
    /// findings to `out`. On `Err` the host counts a fault and drops the findings.
    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String>;

    /// Event time reached `watermark` (ms since the Unix epoch): push findings for what timed
    /// out. Does nothing by default.
    fn on_tick(&mut self, watermark: i64, out: &mut Vec<Finding>) -> Result<(), String> {
        let _ = (watermark, out);
        Ok(())
    }
}

impl EventClass {
    /// Every event class, for rules that subscribe to everything.
    pub const ALL: [EventClass; 10] = [
        EventClass::Authentication,
        EventClass::Process,
        EventClass::Network,
        EventClass::File,
        EventClass::Registry,
        EventClass::Dns,
        EventClass::Http,
        EventClass::Job,
        EventClass::Script,
        EventClass::Other,
    ];
}

impl RuleInfo {
    /// Starts describing a rule with its stable id (lowercase with dashes) and display name.
    #[allow(clippy::new_ret_no_self)] // a builder, as for `Finding::new`
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> RuleInfoBuilder {
        RuleInfoBuilder {
            info: RuleInfo {
                id: id.into(),
                name: name.into(),
                description: String::new(),
                version: String::new(),
                severity: Severity::Medium,
                techniques: Vec::new(),
                subscriptions: Vec::new(),
                params: Vec::new(),
            },
        }
    }
}

/// Builds a [`RuleInfo`]; started by [`RuleInfo::new`]. Severity defaults to medium.
#[derive(Debug, Clone)]
pub struct RuleInfoBuilder {
    info: RuleInfo,
}

impl RuleInfoBuilder {
    /// Sets what the rule detects and why it matters.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.info.description = description.into();
        self
    }

    /// Sets the rule's semver version; by default the rule crate's `CARGO_PKG_VERSION`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = version.into();
        self
    }

    /// Sets the default severity of the rule's findings.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.info.severity = severity;
        self
    }

    /// Adds a MITRE ATT&CK technique id, e.g. `T1059.001`.
    pub fn technique(mut self, id: impl Into<String>) -> Self {
        self.info.techniques.push(id.into());
        self
    }

    /// Subscribes to an event class; the host sends only subscribed classes.
    pub fn subscribe(mut self, class: EventClass) -> Self {
        if !self.info.subscriptions.contains(&class) {
            self.info.subscriptions.push(class);
        }
        self
    }

    /// Subscribes to every event class.
    pub fn subscribe_all(mut self) -> Self {
        for class in EventClass::ALL {
            self = self.subscribe(class);
        }
        self
    }

    /// Declares a configuration parameter (see [`Param::integer`] and its siblings).
    pub fn param(mut self, param: Param) -> Self {
        self.info.params.push(param);
        self
    }

    /// Finishes the description.
    pub fn build(self) -> RuleInfo {
        self.info
    }
}

/// The code behind [`export_rule!`](crate::export_rule). Public only for the macro.
pub mod glue {
    use core::cell::RefCell;

    use crate::{Batch, Config, Finding, Rule, RuleInfo, Value, types};

    /// The settings as `init` receives them.
    pub type RawConfig = Vec<(String, Value)>;

    /// The rule instance of a component, empty until `init` succeeds.
    pub type Slot<R> = RefCell<Option<R>>;

    const NOT_INITIALISED: &str = "rule not initialised: the host called it before `init`";

    /// `info` export: the rule's info, its version defaulting to `crate_version`.
    pub fn info<R: Rule>(crate_version: &str) -> RuleInfo {
        let mut info = R::info();
        if info.version.is_empty() {
            info.version = crate_version.to_owned();
        }
        info
    }

    /// `init` export: builds a rule from `config` and puts it in `slot`. On error the slot
    /// keeps what it held.
    pub fn init<R: Rule>(slot: &Slot<R>, config: Vec<(String, Value)>) -> Result<(), String> {
        install_panic_hook();
        let config = Config::new(config).with_defaults(R::info().params);
        let rule = R::init(&config)?;
        *slot.borrow_mut() = Some(rule);
        Ok(())
    }

    /// In a component a panic aborts, and the host sees only an `unreachable` trap: this hook
    /// first sends the panic message and location to the host's log, at error level.
    fn install_panic_hook() {
        #[cfg(target_arch = "wasm32")]
        {
            static INSTALLED: std::sync::Once = std::sync::Once::new();
            INSTALLED.call_once(|| {
                std::panic::set_hook(Box::new(|panic| {
                    let message = panic.payload_as_str().unwrap_or("(no message)");
                    let message = match panic.location() {
                        Some(at) => format!("rule panicked at {at}: {message}"),
                        None => format!("rule panicked: {message}"),
                    };
                    crate::log::error(&message);
                }));
            });
        }
    }

    /// `on-events` export.
    pub fn on_events<R: Rule>(slot: &Slot<R>, batch: types::Batch) -> Result<Vec<Finding>, String> {
        let batch = Batch::new(batch);
        let mut guard = slot.borrow_mut();
        let rule = guard.as_mut().ok_or(NOT_INITIALISED)?;
        let mut out = Vec::new();
        rule.on_events(&batch, &mut out)?;
        Ok(out)
    }

    /// The export functions of a rule as pointers: what `export_rule!` leaves in a native
    /// build, where the component exports do not exist.
    pub struct NativeExports<R> {
        /// `info`
        pub info: fn(&str) -> RuleInfo,
        /// `init`
        pub init: fn(&Slot<R>, RawConfig) -> Result<(), String>,
        /// `on-events`
        pub on_events: fn(&Slot<R>, types::Batch) -> Result<Vec<Finding>, String>,
        /// `on-tick`
        pub on_tick: fn(&Slot<R>, i64) -> Result<Vec<Finding>, String>,
    }

    impl<R: Rule> NativeExports<R> {
        /// The glue functions for `R`.
        pub const fn new() -> Self {
            NativeExports {
                info: info::<R>,
                init: init::<R>,
                on_events: on_events::<R>,
                on_tick: on_tick::<R>,
            }
        }
    }

    impl<R: Rule> Default for NativeExports<R> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// `on-tick` export.
    pub fn on_tick<R: Rule>(slot: &Slot<R>, watermark: i64) -> Result<Vec<Finding>, String> {
        let mut guard = slot.borrow_mut();
        let rule = guard.as_mut().ok_or(NOT_INITIALISED)?;
        let mut out = Vec::new();
        rule.on_tick(watermark, &mut out)?;
        Ok(out)
    }
}

/// Exports a [`Rule`] type as the component's `yagura:detection/rule` interface.
///
/// Call it once per rule crate, at the crate root: `yagura_sdk::export_rule!(MyRule);`. The
/// rule instance lives in a thread-local slot: `init` replaces it, `on-events` and `on-tick`
/// use it and fail with an error if `init` has not succeeded yet.
///
/// The component exports exist on `wasm32` only; natively the macro still type-checks, so a
/// rule crate builds and runs its unit tests with a plain `cargo test -p <crate>`.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        const _: () = {
            #[allow(dead_code)] // used by the export below, on wasm32 only
            struct YaguraRuleExport;

            ::std::thread_local! {
                static RULE: $crate::__private::Slot<$rule> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            impl $crate::bindings::exports::yagura::detection::rule::Guest for YaguraRuleExport {
                fn info() -> $crate::RuleInfo {
                    $crate::__private::info::<$rule>(::core::env!("CARGO_PKG_VERSION"))
                }

                fn init(
                    config: ::std::vec::Vec<(::std::string::String, $crate::Value)>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    RULE.with(|slot| $crate::__private::init::<$rule>(slot, config))
                }

                fn on_events(
                    batch: $crate::types::Batch,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Finding>, ::std::string::String>
                {
                    RULE.with(|slot| $crate::__private::on_events::<$rule>(slot, batch))
                }

                fn on_tick(
                    watermark: i64,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Finding>, ::std::string::String>
                {
                    RULE.with(|slot| $crate::__private::on_tick::<$rule>(slot, watermark))
                }
            }

            // Only a wasm module exports these names: a native cdylib (`cargo test` of a rule
            // crate) cannot link symbols such as `yagura:detection/rule@0.1.0#info`.
            #[cfg(target_arch = "wasm32")]
            $crate::__export_bindings!(YaguraRuleExport);
        };

        // Natively, nothing would use the rule without the exports: this keeps it reachable
        // (no dead-code warnings in `cargo test -p <rule crate>`).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub static __YAGURA_RULE: $crate::__private::NativeExports<$rule> =
            $crate::__private::NativeExports::new();
    };
}

/// Calls the generated export macro. A macro of its own because rustfmt cannot format the
/// generated macro's `with_types_in` syntax inside a larger macro body.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_bindings {
    ($ty:ident) => {
        $crate::bindings::export!($ty with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::glue;
    use crate::{
        Batch, Config, EventClass, Finding, Param, Rule, RuleInfo, Severity, Value, types,
    };

    struct Counting {
        threshold: i64,
        seen: usize,
    }

    impl Rule for Counting {
        fn info() -> RuleInfo {
            RuleInfo::new("counting", "Counting")
                .subscribe(EventClass::Process)
                .subscribe(EventClass::Process)
                .param(Param::integer("threshold", "events before a finding", 2))
                .build()
        }

        fn init(config: &Config) -> Result<Self, String> {
            let threshold = config.integer_in("threshold", 1..=100)?;
            Ok(Counting { threshold, seen: 0 })
        }

        fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
            self.seen += batch.len();
            if self.seen as i64 >= self.threshold {
                out.push(Finding::new("enough").build());
            }
            Ok(())
        }
    }

    fn empty_batch(events: usize) -> types::Batch {
        let event = crate::testing::blank_event(EventClass::Process, 1, 0);
        types::Batch {
            strings: Vec::new(),
            events: vec![event; events],
            attributes: Vec::new(),
        }
    }

    #[test]
    fn builder_dedups_subscriptions_and_keeps_order() {
        let info = RuleInfo::new("a", "A")
            .subscribe(EventClass::Network)
            .subscribe_all()
            .severity(Severity::High)
            .technique("T1046")
            .build();
        assert_eq!(info.subscriptions.len(), EventClass::ALL.len());
        assert_eq!(info.subscriptions[0], EventClass::Network);
        assert_eq!(info.severity, Severity::High);
        assert_eq!(info.techniques, vec!["T1046".to_owned()]);
    }

    #[test]
    fn info_defaults_version_to_crate_version() {
        let info = glue::info::<Counting>("1.2.3");
        assert_eq!(info.version, "1.2.3");
        assert_eq!(info.subscriptions, vec![EventClass::Process]);
    }

    #[test]
    fn events_before_init_are_an_error() {
        let slot = glue::Slot::<Counting>::default();
        let err = glue::on_events(&slot, empty_batch(1)).err();
        assert!(err.is_some_and(|e| e.contains("init")));
        assert!(glue::on_tick(&slot, 0).is_err());
    }

    #[test]
    fn init_applies_defaults_and_reinit_replaces_the_instance() {
        let slot = glue::Slot::<Counting>::default();
        glue::init(&slot, vec![]).expect("defaults are valid");
        assert!(
            glue::on_events(&slot, empty_batch(1))
                .expect("runs")
                .is_empty()
        );
        assert_eq!(
            glue::on_events(&slot, empty_batch(1)).expect("runs").len(),
            1
        );

        // A fresh init starts from zero.
        glue::init(&slot, vec![("threshold".into(), Value::Integer(3))]).expect("valid");
        assert!(
            glue::on_events(&slot, empty_batch(2))
                .expect("runs")
                .is_empty()
        );
        assert_eq!(
            glue::on_events(&slot, empty_batch(1)).expect("runs").len(),
            1
        );
        assert!(glue::on_tick(&slot, 5).expect("default on_tick").is_empty());
    }

    #[test]
    fn failed_init_names_the_parameter_and_keeps_the_old_instance() {
        let slot = glue::Slot::<Counting>::default();
        glue::init(&slot, vec![]).expect("defaults are valid");
        let err = glue::init(&slot, vec![("threshold".into(), Value::Integer(0))])
            .expect_err("0 is out of range");
        assert!(err.contains("threshold"), "{err}");
        assert!(glue::on_events(&slot, empty_batch(1)).is_ok());
    }
}
