//! Why a repository could not be fetched or read.

/// Why a repository could not be fetched or read. Each message names the repository (without
/// credentials) and says what to do; [`GitError::kind`] is a short label for metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GitError {
    #[error(
        "git repository {url}: cannot be reached: {reason}; check the URL, the network and that the server is up"
    )]
    Unreachable { url: String, reason: String },
    #[error("git repository {url}: authentication failed: {reason}")]
    Authentication { url: String, reason: String },
    #[error("git repository {url}: reference `{reference}` not found: {reason}")]
    RefNotFound {
        url: String,
        reference: String,
        reason: String,
    },
    #[error(
        "git repository {url}: no answer within {seconds} s ({reason}); raise `timeout` if the repository is large or the server slow"
    )]
    Timeout {
        url: String,
        seconds: f64,
        reason: String,
    },
    #[error(
        "git repository {url}: the cache folder {path} was unusable and could not be recreated: {reason}; delete the folder and check its permissions and free space"
    )]
    CorruptCache {
        url: String,
        path: String,
        reason: String,
    },
    #[error("git repository {url}: cannot read commit {commit}: {reason}")]
    Tree {
        url: String,
        commit: String,
        reason: String,
    },
    #[error("git repository {url}: {reason}")]
    Other { url: String, reason: String },
}

impl GitError {
    /// A short label, for a metrics label or a status field.
    pub fn kind(&self) -> &'static str {
        match self {
            GitError::Unreachable { .. } => "unreachable",
            GitError::Authentication { .. } => "auth",
            GitError::RefNotFound { .. } => "ref_not_found",
            GitError::Timeout { .. } => "timeout",
            GitError::CorruptCache { .. } => "corrupt_cache",
            GitError::Tree { .. } => "tree",
            GitError::Other { .. } => "other",
        }
    }
}
