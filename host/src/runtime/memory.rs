//! Giving freed memory back to the system. Each tenant's engine thread and each blocking task
//! that decodes a body allocates in its own glibc arena, and glibc returns an arena's free
//! pages to the system only at its top: under steady ingest, free memory piles up in the
//! middle of the arenas (measured in a soak: 393 MiB of RSS of which `malloc_trim` gave back
//! 164 MiB; docs/performance.md, "The soak benchmark"). [`give_back`] asks glibc to release
//! every arena's free pages; the front doors call it every few seconds.

use std::time::Duration;

/// How often a front door gives memory back.
pub const EVERY: Duration = Duration::from_secs(10);

/// Releases the free pages of every malloc arena to the system (glibc's `malloc_trim(0)`,
/// which walks each arena: a few ms). Nothing to do with other allocators.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only reorganises the allocator's own free
    // lists under its locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
