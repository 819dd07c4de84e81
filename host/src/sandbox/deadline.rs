//! Call deadlines, counted in the CPU time of the thread that makes the call.
//!
//! wasmtime's epoch interruption stops a guest at the first check after the engine's epoch
//! passes the store's deadline; the epoch thread ticks in wall time. A busy machine stretches
//! wall time: a rule that needs 2 ms of CPU can take 200 ms of wall time while its thread
//! waits for a core, and a wall-clock deadline would fault it for the machine's load. So when
//! the epoch deadline comes, the store's callback looks at the thread's CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`) instead: under the budget, the deadline moves on by what is
//! left of the budget (in ticks); at or over it, the call is interrupted. A rule that loops
//! still stops after its budget of CPU time (and at least the budget in wall time); a rule
//! that merely waits for a core is never cut short. Where the platform has no thread CPU
//! clock, the wall clock counts instead.
//!
//! A guest cannot block (it has no I/O), and the host's imports do not wait on anything, so
//! the CPU time of the calling thread during a call is the time the rule spent.

use std::time::Duration;

use wasmtime::{Store, UpdateDeadline};

use super::bindings::RuleCtx;

/// What a store's current call may spend.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallClock {
    /// the calling thread's CPU clock when the call started
    started: Duration,
    budget: Duration,
    /// the epoch tick, to turn what is left of the budget back into ticks
    tick: Duration,
}

impl CallClock {
    /// The CPU time the current call may spend.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// Starts the clock of a call on `store` that may spend `budget` of CPU time.
pub(super) fn arm(store: &mut Store<RuleCtx>, budget: Duration, tick: Duration) {
    store.data_mut().clock = CallClock {
        started: thread_cpu_time(),
        budget,
        tick,
    };
    store.set_epoch_deadline(ticks(budget, tick));
}

/// Installs the callback that decides, when the epoch deadline comes, whether the call has
/// spent its budget.
pub(super) fn install(store: &mut Store<RuleCtx>) {
    store.epoch_deadline_callback(|ctx| {
        let clock = ctx.data().clock;
        let spent = thread_cpu_time().saturating_sub(clock.started);
        Ok(match clock.budget.checked_sub(spent) {
            Some(left) if !left.is_zero() => UpdateDeadline::Continue(ticks(left, clock.tick)),
            _ => UpdateDeadline::Interrupt,
        })
    });
}

/// Epoch ticks that make up `budget` (at least two, so a tick landing right after the
/// deadline is set cannot cut a call short).
pub(super) fn ticks(budget: Duration, tick: Duration) -> u64 {
    let tick = tick.as_micros().max(1);
    (budget.as_micros().div_ceil(tick) as u64).max(2)
}

/// The CPU time the calling thread has used.
#[cfg(unix)]
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    } else {
        wall_time()
    }
}

#[cfg(not(unix))]
pub(crate) fn thread_cpu_time() -> Duration {
    wall_time()
}

/// Wall time since the first call, where the thread CPU clock is not to be had.
fn wall_time() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_at_least_two_ticks() {
        let tick = Duration::from_millis(5);
        assert_eq!(ticks(Duration::from_millis(100), tick), 20);
        assert_eq!(ticks(Duration::from_millis(101), tick), 21);
        assert_eq!(ticks(Duration::from_millis(1), tick), 2);
        assert_eq!(ticks(Duration::ZERO, tick), 2);
    }

    /// The thread clock moves with work and stands still while the thread sleeps: the
    /// property the deadline rests on. (No bound on how much it moves: that is the machine's.)
    #[cfg(unix)]
    #[test]
    fn the_thread_clock_counts_work_not_sleep() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu_time() - before;
        let mut x = 0u64;
        let started = thread_cpu_time();
        while thread_cpu_time() - started < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let worked = thread_cpu_time() - started;
        assert!(worked >= Duration::from_millis(20));
        // sleeping used far less CPU than 50 ms of wall time (only the syscalls)
        assert!(slept < Duration::from_millis(50), "{slept:?}");
        assert!(x > 0);
    }
}
