//! One followed repository, [`GitSource`]: its public calls (fetch with a watchdog, read, does
//! a push concern it), and what every part of the source shares (`Inner`: the settings, the
//! redacted URL and the secrets to scrub, the cache folder and its lock).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, RwLock, TryLockError, Weak};
use std::time::{Duration, Instant};

use git2::Oid;
use sha2::{Digest, Sha256};

use super::credentials::{raw_password, redact_text};
use super::error::GitError;
use super::remote_url::RepoUrl;
use super::settings::GitSettings;
use crate::source::dir::ParseCache;
use crate::source::scan::Deferred;
use crate::source::snapshot::Snapshot;

/// How long the watchdog waits past the timeout for libgit2 to end a fetch by itself.
const WATCHDOG_GRACE: Duration = Duration::from_millis(500);

/// One followed repository. Cheap to clone (clones share the cache, the parse cache and the
/// counter); `Send + Sync`.
#[derive(Clone)]
pub struct GitSource {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) settings: GitSettings,
    pub(super) url: Result<RepoUrl, String>,
    pub(super) redacted: String,
    /// A full commit id as the reference: fetched once, never again.
    pub(super) pin: Option<Oid>,
    pub(super) repo_dir: PathBuf,
    /// Fetches exclusive, reads shared, across every source of this process using the folder.
    pub(super) lock: Arc<RwLock<()>>,
    pub(super) cache: ParseCache,
    pub(super) files_read: Arc<AtomicU64>,
    /// Per workflow file: its blob and the last commit that changed it, for
    /// `orchestrator.io/source-commit` (labelling every workflow with the head commit would
    /// change all of them on every push). A memo: an unchanged blob keeps its commit.
    pub(super) last_changes: Mutex<HashMap<String, (Oid, String)>>,
}

impl GitSource {
    pub fn new(settings: GitSettings) -> Self {
        let url = RepoUrl::parse(&settings.url);
        let redacted = match &url {
            Ok(u) => u.redacted(),
            Err(_) => redact_text(&settings.url, &settings.auth),
        };
        // Scrubbed from every message from now on (see `crate::redact`): the token and the
        // URL's password (raw and decoded), and the Basic credentials libgit2 sends with them.
        if let Some(token) = &settings.auth.token {
            let user = settings
                .auth
                .username
                .as_deref()
                .unwrap_or("x-access-token");
            crate::redact::register_basic(user, token);
        }
        if let Ok(u) = &url
            && let Some(password) = &u.password
        {
            crate::redact::register_basic(u.user.as_deref().unwrap_or_default(), password);
        }
        if let Some(raw) = raw_password(&settings.url) {
            crate::redact::register(&raw);
        }
        let reference = settings.reference.trim();
        let pin = (reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Oid::from_str(reference).ok())
            .flatten();
        let repo_dir = settings.cache_dir.join(cache_folder_name(&url, &redacted));
        let lock = repo_lock(&repo_dir);
        Self {
            inner: Arc::new(Inner {
                settings,
                url,
                redacted,
                pin,
                repo_dir,
                lock,
                cache: ParseCache::default(),
                files_read: Arc::new(AtomicU64::new(0)),
                last_changes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `<url without credentials>@<reference>`, for logs and status.
    pub fn name(&self) -> String {
        format!("{}@{}", self.inner.redacted, self.inner.settings.reference)
    }

    pub fn url_redacted(&self) -> String {
        self.inner.redacted.clone()
    }

    /// The bare clone's folder.
    pub fn cache_path(&self) -> &Path {
        &self.inner.repo_dir
    }

    /// How many blobs [`GitSource::read`] has loaded since this source was created.
    pub fn files_read(&self) -> u64 {
        self.inner.files_read.load(Ordering::Relaxed)
    }

    /// Blocking. Opens (or recreates) the bare clone, fetches the reference if it moved, and
    /// returns the commit it resolves to (40 hex digits). Nothing is downloaded when the
    /// reference did not move, or when a pinned commit is already in the cache.
    pub fn fetch(&self) -> Result<String, GitError> {
        let inner = Arc::clone(&self.inner);
        let timeout = inner.settings.timeout;
        let (tx, rx) = sync_channel(1);
        // The thread logs where the caller logs, inside the caller's span.
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let span = tracing::Span::current();
        let spawned = std::thread::Builder::new()
            .name("git-fetch".into())
            .spawn(move || {
                let deadline = Instant::now() + inner.settings.timeout;
                let result = tracing::dispatcher::with_default(&dispatch, || {
                    span.in_scope(|| inner.fetch_until(deadline))
                });
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return Err(self
                .inner
                .other(format!("cannot start a thread to fetch: {e}")));
        }
        match rx.recv_timeout(timeout + WATCHDOG_GRACE) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    source = %self.name(),
                    "git fetch still running after its timeout; abandoned (the next fetch waits for it to end)"
                );
                Err(self.inner.timeout("the fetch did not end"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(self.inner.other("the fetch thread panicked".into()))
            }
        }
    }

    /// Blocking. Reads the workflows under `paths` at `commit` (as [`GitSource::fetch`]
    /// returned it) into a snapshot. Paths in it are relative to the repository root and every
    /// workflow carries links to the file at the configured branch or tag (the commit, for a
    /// pin). Files parsed at an earlier read are reused when their blob did not change.
    pub fn read(&self, commit: &str) -> Result<Snapshot, GitError> {
        self.inner.read(commit, false).map(|(snapshot, _)| snapshot)
    }

    /// [`GitSource::read`] for a one-shot run: the workflows without their input schemas, and
    /// what resolves them later from the commit (see [`Deferred`]). Blobs are then read without
    /// the cache's lock: nothing may fetch into the cache while the run lasts.
    pub fn read_deferred(&self, commit: &str) -> Result<(Snapshot, Deferred), GitError> {
        let (snapshot, deferred) = self.inner.read(commit, true)?;
        Ok((snapshot, deferred.expect("a deferred read keeps its tree")))
    }

    /// Whether a push (the repository's URLs as the forge reports them: `clone_url`, `ssh_url`,
    /// `html_url`, `git_http_url`...; and the pushed ref, `refs/heads/main`) concerns this
    /// source. A pinned commit never moves, so no push concerns it.
    pub fn matches_push(&self, repository_urls: &[&str], git_ref: &str) -> bool {
        let Ok(url) = &self.inner.url else {
            return false;
        };
        if self.inner.pin.is_some() {
            return false;
        }
        let identity = url.identity();
        let same_repo = repository_urls.iter().any(|u| {
            RepoUrl::parse(u)
                .map(|p| p.identity() == identity)
                .unwrap_or(false)
        });
        if !same_repo {
            return false;
        }
        let r = self.inner.settings.reference.trim();
        if r == "HEAD" {
            return git_ref.starts_with("refs/heads/");
        }
        if r.starts_with("refs/") {
            return git_ref == r;
        }
        git_ref.strip_prefix("refs/heads/") == Some(r)
            || git_ref.strip_prefix("refs/tags/") == Some(r)
    }
}

impl Inner {
    pub(super) fn url(&self) -> String {
        self.redacted.clone()
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        crate::redact::text(text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn other(&self, reason: String) -> GitError {
        GitError::Other {
            url: self.url(),
            reason: self.scrub(&reason),
        }
    }

    pub(super) fn timeout(&self, reason: &str) -> GitError {
        GitError::Timeout {
            url: self.url(),
            seconds: self.settings.timeout.as_secs_f64(),
            reason: reason.to_owned(),
        }
    }

    pub(super) fn corrupt(&self, reason: String) -> GitError {
        GitError::CorruptCache {
            url: self.url(),
            path: self.repo_dir.display().to_string(),
            reason: self.scrub(&reason),
        }
    }

    pub(super) fn ref_not_found(&self, reason: String) -> GitError {
        GitError::RefNotFound {
            url: self.url(),
            reference: self.settings.reference.clone(),
            reason,
        }
    }
}

/// One lock per cache folder in this process, so that two sources (or a source recreated on a
/// configuration reload) never fetch into the same clone at once.
fn repo_lock(dir: &Path) -> Arc<RwLock<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Weak<RwLock<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    locks.retain(|_, weak| weak.strong_count() > 0);
    if let Some(lock) = locks.get(dir).and_then(Weak::upgrade) {
        return lock;
    }
    let lock = Arc::new(RwLock::new(()));
    locks.insert(dir.to_owned(), Arc::downgrade(&lock));
    lock
}

/// Polls a `try_lock` until the deadline (a fetch abandoned by the watchdog may still hold it).
pub(super) fn wait_for<G>(
    deadline: Instant,
    mut try_lock: impl FnMut() -> Result<G, TryLockError<G>>,
) -> Option<G> {
    loop {
        match try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

/// `<host-and-path>-<12 hex of the URL's sha256>`: readable, and one folder per URL.
fn cache_folder_name(url: &Result<RepoUrl, String>, redacted: &str) -> String {
    let readable = match url {
        Ok(u) => u.identity(),
        Err(_) => "invalid-url".into(),
    };
    let mut name: String = readable
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches(|c| c == '-' || c == '.').to_owned();
    name.truncate(60);
    let hash = hex::encode(Sha256::digest(redacted.as_bytes()));
    format!("{name}-{}", &hash[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_names_debug_or_errors() {
        let mut settings = GitSettings::new(
            "https://me:url-secret@github.com/o/r.git",
            "main",
            "/tmp/cache",
        );
        settings.auth.token = Some("auth-secret".into());
        let source = GitSource::new(settings.clone());
        let shown = [
            source.name(),
            source.url_redacted(),
            format!("{source:?}"),
            format!("{settings:?}"),
            source
                .inner
                .other("failed at https://me:url-secret@github.com/ with auth-secret".into())
                .to_string(),
            source.cache_path().display().to_string(),
        ];
        for s in shown {
            assert!(
                !s.contains("url-secret") && !s.contains("auth-secret"),
                "{s}"
            );
        }
        assert_eq!(source.name(), "https://github.com/o/r.git@main");
        // An unparseable URL is scrubbed too.
        let bad = GitSource::new(GitSettings::new(
            "https://u:pw@host:notaport/r",
            "main",
            "/tmp",
        ));
        assert!(!bad.name().contains("pw"), "{}", bad.name());
    }

    #[test]
    fn pushes_match_by_repository_and_reference() {
        let s = GitSource::new(GitSettings::new(
            "git@github.com:Org/Repo.git",
            "main",
            "/tmp",
        ));
        let urls = [
            "https://github.com/org/repo.git",
            "git@github.com:org/repo.git",
        ];
        assert!(s.matches_push(&urls, "refs/heads/main"));
        assert!(!s.matches_push(&urls, "refs/heads/dev"));
        assert!(!s.matches_push(&["https://github.com/org/other"], "refs/heads/main"));
        let tag = GitSource::new(GitSettings::new(
            "https://github.com/org/repo",
            "v1",
            "/tmp",
        ));
        assert!(tag.matches_push(&["https://github.com/org/repo"], "refs/tags/v1"));
        let full = GitSource::new(GitSettings::new(
            "https://github.com/org/repo",
            "refs/heads/x",
            "/tmp",
        ));
        assert!(full.matches_push(&["https://github.com/org/repo"], "refs/heads/x"));
        let pin = GitSource::new(GitSettings::new(
            "https://github.com/org/repo",
            "0123456789abcdef0123456789abcdef01234567",
            "/tmp",
        ));
        assert!(!pin.matches_push(&["https://github.com/org/repo"], "refs/heads/main"));
    }

    #[test]
    fn one_cache_folder_per_url() {
        let a = GitSource::new(GitSettings::new("https://github.com/o/r.git", "main", "/c"));
        let b = GitSource::new(GitSettings::new("https://github.com/o/r.git", "dev", "/c"));
        let c = GitSource::new(GitSettings::new("git@github.com:o/r.git", "main", "/c"));
        assert_eq!(a.cache_path(), b.cache_path());
        assert_ne!(a.cache_path(), c.cache_path());
        let name = a
            .cache_path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(name.starts_with("github.com-o-r-"), "{name}");
    }
}
