//! What one read of a source produced ([`Snapshot`]), or why it produced nothing
//! ([`SourceError`]).

use std::collections::BTreeMap;

use crate::workflow::{DeploymentInfo, Diagnostic, Workflow};

/// Everything one read of a source produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Usable workflows, one per id, sorted by id.
    pub workflows: Vec<Workflow>,
    /// Per-file and per-workflow problems, sorted by file.
    pub diagnostics: Vec<Diagnostic>,
    /// From a Data Index: every deployed workflow id and its deployment, whether or not its
    /// content is among `workflows` (content from git or a folder is not fetched again).
    pub deployments: BTreeMap<String, DeploymentInfo>,
}

impl Snapshot {
    /// How many workflows the snapshot knows of (defined or deployed).
    pub fn len(&self) -> usize {
        self.workflows.len().max(self.deployments.len())
    }

    pub fn is_empty(&self) -> bool {
        self.workflows.is_empty() && self.deployments.is_empty()
    }
}

/// A source that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source folder {path}: {reason}")]
    Folder { path: String, reason: String },
}
