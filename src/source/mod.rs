//! Sources: where workflow definitions come from. Each source reads everything it has and
//! returns a [`Snapshot`]: the workflows it could use and a diagnostic for everything it could
//! not. A source that cannot be read at all returns a [`SourceError`] instead, never a silently
//! empty snapshot, so that callers can keep the last good state.

pub mod bundled;
pub mod data_index;
pub mod dir;
pub mod git;

use crate::workflow::{Diagnostic, Workflow};

/// Everything one read of a source produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Usable workflows, one per id, sorted by id.
    pub workflows: Vec<Workflow>,
    /// Per-file and per-workflow problems, sorted by file.
    pub diagnostics: Vec<Diagnostic>,
}

/// A source that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source folder {path}: {reason}")]
    Folder { path: String, reason: String },
}
