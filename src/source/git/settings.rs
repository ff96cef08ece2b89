//! How to follow one repository: [`GitSettings`].

use std::path::PathBuf;
use std::time::Duration;

use super::credentials::{GitAuth, redact_text};
use crate::config::DEFAULT_INCLUDE;
use crate::workflow::ParseLimits;

/// How to follow one repository. `Debug` redacts the URL's credentials and the token.
#[derive(Clone)]
pub struct GitSettings {
    /// `https://`, `http://`, `ssh://`, `git@host:path`, `git://`, `file://` (or an absolute path).
    pub url: String,
    /// A branch or tag name, a full `refs/...` name, or a full 40-hex commit id (a pin: fetched
    /// once, never again).
    pub reference: String,
    /// Folders (or files) to read, relative to the repository root; empty: the whole repository.
    pub paths: Vec<String>,
    /// Fetch only this many commits of history (a shallow clone); `None`: the whole history.
    pub depth: Option<u32>,
    pub auth: GitAuth,
    /// The folder under which this repository's bare clone lives (in a subfolder named after the
    /// URL, so sources can share the folder).
    pub cache_dir: PathBuf,
    /// Bound on one fetch (connect, negotiation, transfer).
    pub timeout: Duration,
    /// Globs over paths relative to the repository root, as a folder source's are over paths
    /// relative to its folder (`*` crosses `/`).
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub limits: ParseLimits,
    pub resource_roots: Vec<String>,
}

impl GitSettings {
    /// Settings with the defaults of a folder source (workflow globs, limits, resource roots)
    /// and a 120 s timeout.
    pub fn new(
        url: impl Into<String>,
        reference: impl Into<String>,
        cache_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            url: url.into(),
            reference: reference.into(),
            paths: Vec::new(),
            depth: None,
            auth: GitAuth::default(),
            cache_dir: cache_dir.into(),
            timeout: Duration::from_secs(120),
            include: DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect(),
            exclude: Vec::new(),
            limits: ParseLimits::default(),
            resource_roots: vec!["src/main/resources".into()],
        }
    }
}

impl std::fmt::Debug for GitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSettings")
            .field("url", &redact_text(&self.url, &self.auth))
            .field("reference", &self.reference)
            .field("paths", &self.paths)
            .field("depth", &self.depth)
            .field("auth", &self.auth)
            .field("cache_dir", &self.cache_dir)
            .field("timeout", &self.timeout)
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .finish_non_exhaustive()
    }
}
