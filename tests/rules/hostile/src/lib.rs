//! Test fixture `hostile`: a rule that misbehaves on demand, so tests can check that the
//! sandbox stops it and the host and other rules carry on.
//!
//! Param `mode` picks the misbehaviour in `on-events`: `none` (behave), `trap` (panic, which
//! is a trap in a component), `loop` (never return), `alloc` (grow memory without end),
//! `flood` (`flood_findings` findings, default 100 000, of 1 KiB each: about 100 MiB, past a
//! 64 MiB memory limit; lower it to test output caps instead), `error` (return an error).
//! Param `after` delays
//! it: the rule behaves — one finding titled `ok` per batch — until it has seen more than
//! `after` events in total. The count is kept in host state (counter `seen`), so it survives
//! the fresh instance the host makes after a trap.

use core::hint::black_box;

use yagura_sdk::prelude::*;

/// Description size of each `flood` finding.
const FLOOD_DESCRIPTION: usize = 1024;
/// The window of the `seen` counter: long enough to count "in total".
const SEEN_WINDOW: Window = Window::days(3650);

/// What the rule does once it misbehaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    Trap,
    Loop,
    Alloc,
    Flood,
    Error,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "none" => Mode::None,
            "trap" => Mode::Trap,
            "loop" => Mode::Loop,
            "alloc" => Mode::Alloc,
            "flood" => Mode::Flood,
            "error" => Mode::Error,
            _ => return None,
        })
    }
}

struct Hostile {
    mode: Mode,
    after: i64,
    flood_findings: usize,
}

impl Rule for Hostile {
    fn info() -> RuleInfo {
        RuleInfo::new("hostile", "Hostile test fixture")
            .description("Misbehaves on demand: traps, loops, allocates, floods or fails.")
            .severity(Severity::Informational)
            .subscribe_all()
            .param(Param::text(
                "mode",
                "none, trap, loop, alloc, flood or error",
                "none",
            ))
            .param(Param::integer(
                "after",
                "events to see (in total, across instances) before misbehaving",
                0,
            ))
            .param(Param::integer(
                "flood_findings",
                "findings returned in flood mode",
                100_000,
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        let mode = config.text("mode")?;
        let mode = Mode::parse(mode).ok_or_else(|| {
            ConfigError::invalid(
                "mode",
                format!("unknown mode `{mode}`: expected none, trap, loop, alloc, flood or error"),
            )
        })?;
        let after = config.integer_in("after", 0..=i64::MAX)?;
        let flood_findings = config.integer_in("flood_findings", 0..=10_000_000)?;
        Ok(Hostile {
            mode,
            after,
            flood_findings: usize::try_from(flood_findings).map_err(|e| e.to_string())?,
        })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        let at = batch.events().map(|e| e.time).max().unwrap_or(0);
        let seen = state::counter_add("seen", at, SEEN_WINDOW, batch.len() as i64)?;
        if self.mode == Mode::None || seen <= self.after {
            out.push(
                Finding::new("ok")
                    .evidence_all(batch.events().map(|e| e.seq))
                    .time(at)
                    .context("seen", seen)
                    .build(),
            );
            return Ok(());
        }
        match self.mode {
            Mode::None => Ok(()),
            Mode::Trap => panic!("hostile rule: trap mode after {seen} events"),
            Mode::Loop => {
                let mut spins = 0u64;
                loop {
                    spins = black_box(spins.wrapping_add(1));
                }
            }
            Mode::Alloc => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Filled, so every page is really touched.
                    hoard.push(vec![0xa5; 1 << 20]);
                    black_box(&hoard);
                }
            }
            Mode::Flood => {
                let description = "x".repeat(FLOOD_DESCRIPTION);
                out.extend((0..self.flood_findings).map(|i| {
                    Finding::new("flood")
                        .description(description.clone())
                        .dedup_key(i.to_string())
                        .time(at)
                        .build()
                }));
                Ok(())
            }
            Mode::Error => Err(format!("hostile rule: error mode after {seen} events")),
        }
    }
}

export_rule!(Hostile);
