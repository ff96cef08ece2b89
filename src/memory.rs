//! glibc's allocator, tuned for a long-running daemon: fewer arenas, and freed memory handed
//! back after a cycle that did work. No-ops elsewhere.

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core) and keeps
/// freed memory in each; the daemon's threads (tokio workers, rayon, blocking reads) then hold
/// a third more RSS than they use. Two arenas measured 58 -> 45 MB with 1000 workflows.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; called before the runtime starts threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the heap memory freed by a cycle that did work (parsing and mapping allocate far
/// more than they keep) to the operating system; glibc would otherwise hold on to it.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}
