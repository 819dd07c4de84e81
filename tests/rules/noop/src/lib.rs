//! Rule `noop`: a fixture that subscribes to every class, touches each event's time and
//! returns nothing. The benchmark uses it to measure the cost of the boundary alone:
//! lowering a batch into the guest, the call, and an empty result.

use yagura_sdk::prelude::*;

struct Noop {
    /// latest event time seen, so the batch is read and not optimised away
    latest: i64,
}

impl Rule for Noop {
    fn info() -> RuleInfo {
        RuleInfo::new("noop", "No-op (boundary benchmark)")
            .description("Reads every event's time and reports nothing.")
            .severity(Severity::Informational)
            .subscribe_all()
            .build()
    }

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Noop { latest: i64::MIN })
    }

    fn on_events(&mut self, batch: &Batch, _out: &mut Vec<Finding>) -> Result<(), String> {
        for ev in batch {
            self.latest = self.latest.max(ev.time);
        }
        Ok(())
    }
}

export_rule!(Noop);
