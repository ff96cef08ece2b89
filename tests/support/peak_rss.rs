//! The peak memory of a child process: `ru_maxrss` from `wait4`, as the tests and benchmarks
//! measure the real binary. A child's `ru_maxrss` includes what its parent had mapped when it
//! forked, so measure from a small parent.
//!
//! ```ignore
//! #[path = "support/peak_rss.rs"]
//! mod peak_rss;
//! let (status, mb) = peak_rss::wait(child);
//! ```
#![allow(dead_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

/// Reaps `child` (read its piped output first) and says how it ended and its peak resident set
/// in MB.
pub fn wait(child: Child) -> (ExitStatus, f64) {
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; the pid is our own unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    (
        ExitStatus::from_raw(status),
        usage.ru_maxrss as f64 / 1024.0,
    )
}
