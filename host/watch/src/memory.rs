//! What the watcher's process keeps of memory it freed. The watcher is
//! one process for months: a hostile server's flood (up to a session's
//! 64 MiB of untagged data, then an abort) is freed when its session
//! ends, but glibc keeps freed memory in the malloc arena of the thread
//! that used it, one arena per thread up to 8 per core, each growing in
//! 64 MiB heaps: measured in the hostile soak, 270 MiB resident of which
//! 28 MB were in use, growing with every flood on another worker.

/// Arenas the watcher's threads share: few, so a flood's freed pages are
/// found again by the next session rather than held in an arena of
/// their own (the watcher's threads wait on the network, not on malloc).
const ARENAS: libc::c_int = 2;

/// Caps glibc's malloc arenas; called once at start, before the threads.
pub(super) fn few_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a malloc parameter; called before the
    // watcher starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Gives the pages of freed memory back to the system (each arena's free
/// chunks are returned with `madvise`); called when a session ends.
pub(super) fn give_back() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
