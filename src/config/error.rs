//! What a configuration error says: the key, where its value came from, and what is wrong.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A configuration error: which key, where its value came from, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key `{key}` (from {origin}): {message}")]
pub struct ConfigError {
    pub key: String,
    pub origin: Origin,
    pub message: String,
}

impl Origin {
    pub(super) fn is_file(&self) -> bool {
        matches!(self, Origin::File(_))
    }
}
