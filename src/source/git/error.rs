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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_a_series_registered_at_start() {
        let s = String::new;
        let errors = [
            GitError::Unreachable {
                url: s(),
                reason: s(),
            },
            GitError::Authentication {
                url: s(),
                reason: s(),
            },
            GitError::RefNotFound {
                url: s(),
                reference: s(),
                reason: s(),
            },
            GitError::Timeout {
                url: s(),
                seconds: 1.0,
                reason: s(),
            },
            GitError::CorruptCache {
                url: s(),
                path: s(),
                reason: s(),
            },
            GitError::Tree {
                url: s(),
                commit: s(),
                reason: s(),
            },
            GitError::Other {
                url: s(),
                reason: s(),
            },
        ];
        for e in errors {
            assert!(
                crate::telemetry::labels::GIT_FAILURES.contains(&e.kind()),
                "{e}"
            );
        }
    }
}
