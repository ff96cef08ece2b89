//! Where the shared reference material is (the workflow corpus, the Data Index SDLs):
//! `../shared` beside the checkout, or the folder `ORCHESTRATOR_PROVIDER_SHARED` names (a
//! checkout that is not beside it, such as a git worktree elsewhere). Tests that need it print
//! `skipped: ...` when it is not there.
#![allow(dead_code)]

use std::path::PathBuf;

/// Names the shared folder when it is not `../shared` beside the checkout.
pub const SHARED_ENV: &str = "ORCHESTRATOR_PROVIDER_SHARED";

/// The shared folder (it may not exist).
pub fn dir() -> PathBuf {
    match std::env::var_os(SHARED_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}
