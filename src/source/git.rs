//! A git repository as a workflow source: a bare clone in a cache folder, fetched at one
//! reference (a branch, a tag or a pinned commit), read at one commit.
//!
//! The contract follows git-sync's: [`GitSource::fetch`] asks the server for the one reference
//! it follows and downloads only when that moved (an idle fetch is one round trip and reads
//! nothing), [`GitSource::read`] turns a commit into a [`Snapshot`] through the same
//! [`read_tree`] a folder uses (so identical files give identical entities), and every failure is
//! a [`GitError`] naming the repository and what to do, so the caller can keep its last good
//! state. It is not a sync loop, has no schedule and no HTTP: the daemon owns those.
//!
//! Both calls block (libgit2); run them on a blocking thread. A fetch is bounded by
//! [`GitSettings::timeout`] whatever the server does: libgit2's socket timeouts and a deadline in
//! the progress callbacks end it from inside, and a watchdog gives up waiting on it from outside.
//!
//! Credentials never leave this module: a token in the URL's userinfo is taken out of the URL
//! (the cache's git config holds the URL without it), and every message, name and link is
//! built from the redacted URL and scrubbed of the secrets.

mod known_hosts;
mod remote_url;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, RwLock, TryLockError, Weak};
use std::time::{Duration, Instant};

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, ErrorClass, ErrorCode,
    FetchOptions, FetchPrune, ObjectType, Oid, ProxyOptions, RemoteCallbacks, Repository,
    TreeWalkMode, TreeWalkResult,
};
use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use super::dir::{ParseCache, read_tree};
use super::snapshot::Snapshot;
use crate::config::DEFAULT_INCLUDE;
use crate::workflow::{Diagnostic, ParseLimits, Tree, TreeError};
use known_hosts::{KnownHosts, Verdict};
use remote_url::{RepoUrl, scrub_userinfo};

/// How long the watchdog waits past the timeout for libgit2 to end a fetch by itself.
const WATCHDOG_GRACE: Duration = Duration::from_millis(500);

/// libgit2's `GIT_TIMEOUT`: a socket read or connect took longer than the server timeout.
const GIT_TIMEOUT: i32 = -37;

/// libgit2's `GIT_FETCH_DEPTH_UNSHALLOW`: fetch the whole history of a shallow clone.
const UNSHALLOW: i32 = i32::MAX;

const MODE_SYMLINK: i32 = 0o120000;

/// Credentials for a repository. `Debug` shows whether a token is set, never the token.
#[derive(Clone, Default)]
pub struct GitAuth {
    /// With a token: the user sent with it over https (`x-access-token` by default, as GitHub
    /// wants; GitLab wants `oauth2`). For ssh URLs without a user: the ssh user (default `git`).
    pub username: Option<String>,
    /// A token (GitHub, GitLab, Bitbucket access token), sent as the https password.
    pub token: Option<String>,
    /// A private key for ssh URLs (no passphrase).
    pub ssh_key_file: Option<PathBuf>,
    /// The known_hosts file the ssh server's key is checked against. Without it, libgit2 checks
    /// `~/.ssh/known_hosts`.
    pub known_hosts_file: Option<PathBuf>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("username", &self.username)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("ssh_key_file", &self.ssh_key_file)
            .field("known_hosts_file", &self.known_hosts_file)
            .finish()
    }
}

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

/// One followed repository. Cheap to clone (clones share the cache, the parse cache and the
/// counter); `Send + Sync`.
#[derive(Clone)]
pub struct GitSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: GitSettings,
    url: Result<RepoUrl, String>,
    redacted: String,
    /// Strings scrubbed from every message: the token, the URL's password (raw and decoded).
    secrets: Vec<String>,
    /// A full commit id as the reference: fetched once, never again.
    pin: Option<Oid>,
    repo_dir: PathBuf,
    /// Fetches exclusive, reads shared, across every source of this process using the folder.
    lock: Arc<RwLock<()>>,
    cache: ParseCache,
    files_read: AtomicU64,
    /// Per workflow file: its blob and the last commit that changed it, for
    /// `orchestrator.io/source-commit` (labelling every workflow with the head commit would
    /// change all of them on every push). A memo: an unchanged blob keeps its commit.
    last_changes: Mutex<HashMap<String, (Oid, String)>>,
}

impl GitSource {
    pub fn new(settings: GitSettings) -> Self {
        let url = RepoUrl::parse(&settings.url);
        let redacted = match &url {
            Ok(u) => u.redacted(),
            Err(_) => redact_text(&settings.url, &settings.auth),
        };
        let mut secrets: Vec<String> = Vec::new();
        secrets.extend(settings.auth.token.clone());
        if let Ok(u) = &url {
            secrets.extend(u.password.clone());
        }
        secrets.extend(raw_password(&settings.url));
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
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
                secrets,
                pin,
                repo_dir,
                lock,
                cache: ParseCache::default(),
                files_read: AtomicU64::new(0),
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
        self.inner.read(commit)
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

/// A fetch that failed: on the network side (final), or in the local clone (worth a re-clone).
enum Failure {
    Error(GitError),
    Local(String),
}

impl From<GitError> for Failure {
    fn from(e: GitError) -> Self {
        Failure::Error(e)
    }
}

/// What the callbacks of one connection observed, to explain the error libgit2 returns.
struct CallState {
    deadline: Instant,
    timed_out: Cell<bool>,
    credential_attempts: Cell<u32>,
    auth_problem: RefCell<Option<String>>,
}

impl CallState {
    fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            timed_out: Cell::new(false),
            credential_attempts: Cell::new(0),
            auth_problem: RefCell::new(None),
        }
    }

    fn within_deadline(&self) -> bool {
        let ok = Instant::now() < self.deadline;
        if !ok {
            self.timed_out.set(true);
        }
        ok
    }

    fn refuse(&self, reason: String) -> git2::Error {
        let e = git2::Error::from_str(&reason);
        *self.auth_problem.borrow_mut() = Some(reason);
        e
    }
}

impl Inner {
    fn url(&self) -> String {
        self.redacted.clone()
    }

    fn scrub(&self, text: &str) -> String {
        let mut s = scrub_userinfo(text);
        for secret in &self.secrets {
            s = s.replace(secret.as_str(), "***");
        }
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn other(&self, reason: String) -> GitError {
        GitError::Other {
            url: self.url(),
            reason: self.scrub(&reason),
        }
    }

    fn timeout(&self, reason: &str) -> GitError {
        GitError::Timeout {
            url: self.url(),
            seconds: self.settings.timeout.as_secs_f64(),
            reason: reason.to_owned(),
        }
    }

    fn corrupt(&self, reason: String) -> GitError {
        GitError::CorruptCache {
            url: self.url(),
            path: self.repo_dir.display().to_string(),
            reason: self.scrub(&reason),
        }
    }

    fn ref_not_found(&self, reason: String) -> GitError {
        GitError::RefNotFound {
            url: self.url(),
            reference: self.settings.reference.clone(),
            reason,
        }
    }

    // ---- fetch ------------------------------------------------------------------------------

    fn fetch_until(&self, deadline: Instant) -> Result<String, GitError> {
        let Some(_exclusive) = wait_for(deadline, || self.lock.try_write()) else {
            return Err(self.timeout("an earlier fetch of this repository is still running"));
        };
        let url = self
            .url
            .as_ref()
            .map_err(|e| self.other(format!("invalid URL: {e}")))?;
        set_libgit2_timeouts(self.settings.timeout);
        let (repo, fresh) = self.open_cache(url)?;
        match self.update(&repo, url, deadline) {
            Ok(commit) => Ok(commit),
            Err(Failure::Error(e)) => Err(e),
            Err(Failure::Local(reason)) if !fresh => {
                tracing::warn!(
                    source = %self.url(),
                    cache = %self.repo_dir.display(),
                    reason = %self.scrub(&reason),
                    "git cache is damaged; cloning again"
                );
                drop(repo);
                let repo = self.recreate()?;
                self.update(&repo, url, deadline).map_err(|f| match f {
                    Failure::Error(e) => e,
                    Failure::Local(reason) => self.corrupt(reason),
                })
            }
            Err(Failure::Local(reason)) => Err(self.corrupt(reason)),
        }
    }

    /// The cache's bare clone, or a new one when there is none or it is not ours (not a bare
    /// repository, another URL, unreadable). Returns whether it was created now.
    fn open_cache(&self, url: &RepoUrl) -> Result<(Repository, bool), GitError> {
        if std::fs::symlink_metadata(&self.repo_dir).is_ok() {
            let opened = Repository::open_bare(&self.repo_dir)
                .map_err(|e| e.message().to_owned())
                .and_then(|repo| {
                    if !repo.is_bare() {
                        return Err("not a bare repository".into());
                    }
                    let origin = repo
                        .find_remote("origin")
                        .ok()
                        .and_then(|r| r.url().ok().map(str::to_owned));
                    if origin.as_deref() != Some(url.redacted().as_str()) {
                        return Err(format!(
                            "it is a clone of {} instead",
                            origin
                                .as_deref()
                                .map_or("no known URL".into(), |o| self.scrub(o))
                        ));
                    }
                    Ok(repo)
                });
            match opened {
                Ok(repo) => return Ok((repo, false)),
                Err(reason) => tracing::warn!(
                    source = %self.url(),
                    cache = %self.repo_dir.display(),
                    reason = %self.scrub(&reason),
                    "git cache folder is not a usable clone of this repository; cloning again"
                ),
            }
        }
        self.recreate().map(|repo| (repo, true))
    }

    fn recreate(&self) -> Result<Repository, GitError> {
        let dir = &self.repo_dir;
        if let Ok(meta) = std::fs::symlink_metadata(dir) {
            let removed = if meta.is_dir() {
                std::fs::remove_dir_all(dir)
            } else {
                std::fs::remove_file(dir)
            };
            removed.map_err(|e| self.corrupt(format!("cannot remove it: {e}")))?;
        }
        std::fs::create_dir_all(&self.settings.cache_dir)
            .map_err(|e| self.corrupt(format!("cannot create the cache folder: {e}")))?;
        let repo = Repository::init_bare(dir)
            .map_err(|e| self.corrupt(format!("cannot create a repository: {}", e.message())))?;
        repo.remote("origin", &self.redacted)
            .map_err(|e| self.corrupt(format!("cannot configure the remote: {}", e.message())))?;
        Ok(repo)
    }

    fn update(
        &self,
        repo: &Repository,
        url: &RepoUrl,
        deadline: Instant,
    ) -> Result<String, Failure> {
        if let Some(pin) = self.pin {
            if commit_is_whole(repo, pin) {
                return Ok(pin.to_string());
            }
            self.download(
                repo,
                url,
                &[
                    "+refs/heads/*:refs/remotes/origin/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                deadline,
            )?;
            if commit_is_whole(repo, pin) {
                return Ok(pin.to_string());
            }
            let hint = if self.settings.depth.is_some() {
                " within the fetched depth (unset `depth` to fetch the whole history)"
            } else {
                ""
            };
            return Err(self
                .ref_not_found(format!(
                    "no branch or tag of the remote contains commit {pin}{hint}; check `ref`"
                ))
                .into());
        }

        let heads = self.ls_remote(repo, url, deadline)?;
        let candidates = candidates(self.settings.reference.trim());
        let found = candidates
            .iter()
            .find_map(|c| heads.iter().find(|(name, _)| name == c));
        let Some((remote_ref, remote_oid)) = found else {
            // Do not fall back to what the cache remembers: the caller keeps its last good state.
            for c in &candidates {
                if let Ok(mut stale) = repo.find_reference(&local_ref(c)) {
                    let _ = stale.delete();
                }
            }
            let branches: Vec<&str> = heads
                .iter()
                .filter_map(|(n, _)| n.strip_prefix("refs/heads/"))
                .take(10)
                .collect();
            return Err(self
                .ref_not_found(format!(
                    "the remote has no such branch or tag (branches: {}); check `ref`",
                    if branches.is_empty() {
                        "none".to_owned()
                    } else {
                        branches.join(", ")
                    }
                ))
                .into());
        };
        let local = local_ref(remote_ref);
        let current = repo.refname_to_id(&local).ok();
        if current != Some(*remote_oid) || !commit_is_whole(repo, *remote_oid) {
            let refspec = format!("+{remote_ref}:{local}");
            self.download(repo, url, &[refspec.as_str()], deadline)?;
        }
        let id = repo
            .refname_to_id(&local)
            .and_then(|id| repo.find_object(id, None))
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| Failure::Local(format!("{local}: {}", e.message())))?;
        if !commit_is_whole(repo, id.id()) {
            return Err(Failure::Local(format!("commit {} is incomplete", id.id())));
        }
        Ok(id.id().to_string())
    }

    /// The remote's references (one round trip: the ref advertisement).
    fn ls_remote(
        &self,
        repo: &Repository,
        url: &RepoUrl,
        deadline: Instant,
    ) -> Result<Vec<(String, Oid)>, Failure> {
        let mut remote = repo
            .find_remote("origin")
            .map_err(|e| Failure::Local(e.message().to_owned()))?;
        let state = CallState::new(deadline);
        let connection = remote
            .connect_auth(
                Direction::Fetch,
                Some(self.callbacks(url, &state)),
                Some(proxy()),
            )
            .map_err(|e| self.classify(&e, &state))?;
        let heads = connection
            .list()
            .map_err(|e| self.classify(&e, &state))?
            .iter()
            .map(|h| (h.name().to_owned(), h.oid()))
            .collect();
        Ok(heads)
    }

    fn download(
        &self,
        repo: &Repository,
        url: &RepoUrl,
        refspecs: &[&str],
        deadline: Instant,
    ) -> Result<(), Failure> {
        let mut remote = repo
            .find_remote("origin")
            .map_err(|e| Failure::Local(e.message().to_owned()))?;
        let state = CallState::new(deadline);
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(self.callbacks(url, &state))
            .proxy_options(proxy())
            .prune(FetchPrune::On)
            .download_tags(AutotagOption::None)
            .update_fetchhead(false);
        match self.settings.depth {
            Some(depth) if depth > 0 => {
                options.depth(i32::try_from(depth).unwrap_or(UNSHALLOW - 1));
            }
            _ if repo.is_shallow() => {
                options.depth(UNSHALLOW);
            }
            _ => {}
        }
        remote
            .fetch(
                refspecs,
                Some(&mut options),
                Some("orchestrator-provider fetch"),
            )
            .map_err(|e| self.classify(&e, &state))
    }

    fn callbacks<'a>(&'a self, url: &'a RepoUrl, state: &'a CallState) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, user_from_url, allowed| {
            if allowed == CredentialType::USERNAME {
                // ssh asks for the user first when the URL has none: not an attempt.
                return Cred::username(&self.ssh_user(url, user_from_url));
            }
            let attempts = state.credential_attempts.get() + 1;
            state.credential_attempts.set(attempts);
            if attempts > 1 {
                // libgit2 asks again after a rejection; asking forever would loop.
                return Err(state.refuse(
                    "the server rejected the credentials; check the token (or `username`: GitLab wants `oauth2`) or the ssh key".into(),
                ));
            }
            let auth = &self.settings.auth;
            if allowed.contains(CredentialType::SSH_KEY) {
                let Some(key) = &auth.ssh_key_file else {
                    return Err(state.refuse(
                        "the ssh server wants a key; set `auth.sshKeyFile`".into(),
                    ));
                };
                return Cred::ssh_key(&self.ssh_user(url, user_from_url), None, key, None)
                    .map_err(|e| {
                        state.refuse(format!(
                            "cannot use the ssh key {}: {}",
                            key.display(),
                            e.message()
                        ))
                    });
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                let password = auth.token.as_deref().or(url.password.as_deref());
                let Some(password) = password else {
                    return Err(state.refuse(
                        "the server asks for credentials and none are configured; set a token (`auth.tokenEnv` or `auth.tokenFile`)".into(),
                    ));
                };
                let user = auth
                    .username
                    .as_deref()
                    .or(url.user.as_deref())
                    .unwrap_or("x-access-token");
                return Cred::userpass_plaintext(user, password);
            }
            Err(state.refuse(format!(
                "the server asks for a kind of credentials this source cannot give ({allowed:?})"
            )))
        });
        callbacks.transfer_progress(move |_| state.within_deadline());
        callbacks.sideband_progress(move |_| state.within_deadline());
        callbacks.certificate_check(move |cert, host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // TLS: keep libgit2's own verification against the system's trust store.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let Some(file) = &self.settings.auth.known_hosts_file else {
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let text = std::fs::read_to_string(file).map_err(|e| {
                state.refuse(format!("cannot read the known_hosts file {}: {e}", file.display()))
            })?;
            let Some(key) = hostkey.hostkey() else {
                return Err(state.refuse(format!("{host} did not show its host key")));
            };
            let port = url.ssh_port();
            match KnownHosts::parse(&text).check(host, port, key) {
                Verdict::Trusted => Ok(CertificateCheckStatus::CertificateOk),
                Verdict::Mismatch => Err(state.refuse(format!(
                    "the host key of {host} is not the one in {}: it changed, or something is in the middle; update the file if the change is expected",
                    file.display()
                ))),
                Verdict::Revoked => Err(state.refuse(format!(
                    "the host key of {host} is marked @revoked in {}",
                    file.display()
                ))),
                Verdict::Unknown => Err(state.refuse(format!(
                    "{host} is not in {}; add its key (`ssh-keyscan -p {port} {host}`)",
                    file.display()
                ))),
            }
        });
        callbacks
    }

    fn ssh_user(&self, url: &RepoUrl, from_url: Option<&str>) -> String {
        from_url
            .or(url.user.as_deref())
            .or(self.settings.auth.username.as_deref())
            .unwrap_or("git")
            .to_owned()
    }

    /// Turns a libgit2 error into what the caller can act on.
    fn classify(&self, e: &git2::Error, state: &CallState) -> Failure {
        let message = self.scrub(e.message());
        let url = self.url();
        let lower = message.to_lowercase();
        if state.timed_out.get()
            || e.raw_code() == GIT_TIMEOUT
            || lower.contains("timed out")
            || lower.contains("timeout")
        {
            return Failure::Error(self.timeout(&message));
        }
        if let Some(problem) = state.auth_problem.borrow().clone() {
            return Failure::Error(GitError::Authentication {
                url,
                reason: self.scrub(&problem),
            });
        }
        if e.code() == ErrorCode::Auth
            || lower.contains("status code: 401")
            || lower.contains("status code: 403")
        {
            return Failure::Error(GitError::Authentication {
                url,
                reason: format!("{message}; check the token or the ssh key"),
            });
        }
        if e.code() == ErrorCode::Certificate {
            return Failure::Error(GitError::Authentication {
                url,
                reason: format!("the server's certificate or host key is not trusted: {message}"),
            });
        }
        // libgit2 reports a refused or failed connection as an OS error; a full disk is one too
        // and is no network problem.
        let network_os_error = e.class() == ErrorClass::Os
            && ["connect", "resolve", "socket", "network", "host"]
                .iter()
                .any(|w| lower.contains(w));
        match e.class() {
            ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssl | ErrorClass::Ssh => {
                Failure::Error(GitError::Unreachable {
                    url,
                    reason: message,
                })
            }
            ErrorClass::Os if network_os_error => Failure::Error(GitError::Unreachable {
                url,
                reason: message,
            }),
            ErrorClass::Odb
            | ErrorClass::Object
            | ErrorClass::Zlib
            | ErrorClass::Repository
            | ErrorClass::Reference
            | ErrorClass::Filesystem
            | ErrorClass::Tree
            | ErrorClass::Index
            | ErrorClass::Sha1 => Failure::Local(message),
            _ => Failure::Error(GitError::Other {
                url,
                reason: message,
            }),
        }
    }

    // ---- read -------------------------------------------------------------------------------

    fn read(&self, commit: &str) -> Result<Snapshot, GitError> {
        let tree_error = |reason: String| GitError::Tree {
            url: self.url(),
            commit: commit.to_owned(),
            reason,
        };
        let url = self
            .url
            .as_ref()
            .map_err(|e| self.other(format!("invalid URL: {e}")))?;
        let deadline = Instant::now() + self.settings.timeout;
        let Some(_shared) = wait_for(deadline, || self.lock.try_read()) else {
            return Err(self.timeout("a fetch of this repository is still running"));
        };
        let oid = Oid::from_str(commit)
            .map_err(|_| tree_error("not a commit id (40 hex digits)".into()))?;
        let repo = Repository::open_bare(&self.repo_dir)
            .map_err(|e| tree_error(format!("cannot open the cache: {}", e.message())))?;
        let root = repo
            .find_commit(oid)
            .map_err(|_| tree_error("not in the cache; fetch first".into()))?
            .tree_id();
        let paths = normalised_paths(&self.settings.paths);
        let (index, missing) =
            index_paths(&repo, root, &paths).map_err(|e| tree_error(self.scrub(e.message())))?;
        let include = globs(&self.settings.include).map_err(|e| self.other(e))?;
        let exclude = globs(&self.settings.exclude).map_err(|e| self.other(e))?;
        let mut files: Vec<String> = index
            .keys()
            .filter(|p| include.is_match(p.as_str()) && !exclude.is_match(p.as_str()))
            .cloned()
            .collect();
        files.sort();
        let (shown_ref, editable) = self.shown_reference(&repo, commit);
        let tree = GitTree {
            repo_dir: &self.repo_dir,
            repos: Mutex::new(vec![repo]),
            root,
            index,
            max_file_bytes: self.settings.limits.max_file_bytes,
            files_read: &self.files_read,
        };
        let mut snapshot = read_tree(
            &tree,
            &files,
            &self.settings.limits,
            &self.settings.resource_roots,
            Some(&self.cache),
        );
        for path in missing {
            snapshot.diagnostics.push(Diagnostic::error(
                path,
                None,
                format!(
                    "not in the repository at commit {}; check `paths`",
                    &commit[..commit.len().min(12)]
                ),
            ));
        }
        snapshot.diagnostics.sort();
        let repo = tree
            .repos
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let paths: Vec<&str> = snapshot
            .workflows
            .iter()
            .map(|w| w.origin.path.as_str())
            .collect();
        let changed_at = match repo {
            Some(repo) => {
                let mut memo = self.last_changes.lock().unwrap_or_else(|e| e.into_inner());
                last_changes(&repo, oid, &paths, &mut memo)
                    .map_err(|e| tree_error(self.scrub(e.message())))?
            }
            None => HashMap::new(),
        };
        for workflow in &mut snapshot.workflows {
            let since = changed_at
                .get(&workflow.origin.path)
                .map_or(commit, String::as_str);
            workflow.origin.links =
                Some(url.links(&shown_ref, &workflow.origin.path, since, editable));
        }
        Ok(snapshot)
    }

    /// The reference links use (the branch or tag as configured; the commit for a pin or any
    /// other ref), and whether the file can be edited there (only on a branch).
    fn shown_reference(&self, repo: &Repository, commit: &str) -> (String, bool) {
        let r = self.settings.reference.trim();
        if self.pin.is_some() || r == "HEAD" {
            return (commit.to_owned(), false);
        }
        if let Some(branch) = r.strip_prefix("refs/heads/") {
            return (branch.to_owned(), true);
        }
        if let Some(tag) = r.strip_prefix("refs/tags/") {
            return (tag.to_owned(), false);
        }
        if r.starts_with("refs/") {
            return (commit.to_owned(), false);
        }
        let is_branch = repo
            .find_reference(&format!("refs/remotes/origin/{r}"))
            .is_ok();
        let is_tag = repo.find_reference(&format!("refs/tags/{r}")).is_ok();
        (r.to_owned(), is_branch || !is_tag)
    }
}

/// The remote ref names a configured reference may mean, in the order git resolves them.
fn candidates(reference: &str) -> Vec<String> {
    if reference == "HEAD" || reference.starts_with("refs/") {
        vec![reference.to_owned()]
    } else {
        vec![
            format!("refs/heads/{reference}"),
            format!("refs/tags/{reference}"),
        ]
    }
}

/// Where a remote ref is kept in the cache.
fn local_ref(remote_ref: &str) -> String {
    if let Some(branch) = remote_ref.strip_prefix("refs/heads/") {
        format!("refs/remotes/origin/{branch}")
    } else if remote_ref == "HEAD" {
        "refs/remotes/origin/HEAD".into()
    } else {
        remote_ref.to_owned()
    }
}

/// The commit and its root tree are in the object store (a damaged cache may have lost them).
fn commit_is_whole(repo: &Repository, id: Oid) -> bool {
    repo.find_object(id, None)
        .and_then(|o| o.peel_to_commit())
        .and_then(|c| c.tree())
        .is_ok()
}

fn proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

/// libgit2's connect and socket timeouts are process-wide: each fetch sets its own before it
/// starts. With sources of different timeouts running at once one may get another's; the
/// deadline in the callbacks and the watchdog still bound it.
fn set_libgit2_timeouts(timeout: Duration) {
    let ms = i32::try_from(timeout.as_millis().max(1)).unwrap_or(i32::MAX);
    // SAFETY: both options are plain integers that libgit2 reads when it opens or reads a
    // socket; setting them has no other effect and no memory is shared with a caller.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms);
        let _ = git2::opts::set_server_timeout_in_milliseconds(ms);
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
fn wait_for<G>(
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

/// The password of a URL's userinfo as written (percent-encoded), for scrubbing.
fn raw_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, p)| p.to_owned())
}

/// Credentials out of a URL that may not even parse.
fn redact_text(url: &str, auth: &GitAuth) -> String {
    let mut s = scrub_userinfo(url);
    if let Some(token) = auth.token.as_deref().filter(|t| !t.is_empty()) {
        s = s.replace(token, "***");
    }
    s
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        builder.add(Glob::new(p).map_err(|e| format!("invalid glob {p:?}: {e}"))?);
    }
    builder.build().map_err(|e| e.to_string())
}

/// `paths` as tree paths: no leading or trailing `/`, no `.`; `""` is the whole repository.
fn normalised_paths(paths: &[String]) -> Vec<String> {
    if paths.is_empty() {
        return vec![String::new()];
    }
    let mut out: Vec<String> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every blob (files and symlinks; not submodules) under `paths` at `root`, by path; and the
/// paths that are not in the tree.
type Index = HashMap<String, (Oid, i32)>;

fn index_paths(
    repo: &Repository,
    root: Oid,
    paths: &[String],
) -> Result<(Index, Vec<String>), git2::Error> {
    let tree = repo.find_tree(root)?;
    let mut index = Index::new();
    let mut missing = Vec::new();
    for path in paths {
        if path.is_empty() {
            walk(&tree, "", &mut index)?;
            continue;
        }
        match tree.get_path(Path::new(path)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                walk(&repo.find_tree(entry.id())?, path, &mut index)?;
            }
            Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {
                index.insert(path.clone(), (entry.id(), entry.filemode()));
            }
            _ => missing.push(path.clone()),
        }
    }
    Ok((index, missing))
}

fn walk(tree: &git2::Tree<'_>, prefix: &str, index: &mut Index) -> Result<(), git2::Error> {
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob)
            && let Ok(name) = entry.name()
        {
            let path = match (prefix.is_empty(), dir.is_empty()) {
                (true, _) => format!("{dir}{name}"),
                (false, true) => format!("{prefix}/{name}"),
                (false, false) => format!("{prefix}/{dir}{name}"),
            };
            index.insert(path, (entry.id(), entry.filemode()));
        }
        TreeWalkResult::Ok
    })
}

/// A commit's tree as a [`Tree`]: the files under `paths` are indexed up front (their blob ids
/// are their versions, so the parse cache reuses unchanged files); anything else a schema
/// refers to is looked up in the commit's tree. Blobs are loaded on demand, in parallel, each
/// worker with its own handle on the repository (`git2::Repository` is not `Sync`).
struct GitTree<'a> {
    repo_dir: &'a Path,
    repos: Mutex<Vec<Repository>>,
    root: Oid,
    index: Index,
    max_file_bytes: u64,
    files_read: &'a AtomicU64,
}

impl GitTree<'_> {
    fn with_repo<T>(
        &self,
        path: &str,
        f: impl FnOnce(&Repository) -> Result<T, TreeError>,
    ) -> Result<T, TreeError> {
        let pooled = self.repos.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let repo = match pooled {
            Some(repo) => repo,
            None => Repository::open_bare(self.repo_dir).map_err(|e| TreeError::Io {
                path: path.to_owned(),
                reason: e.message().to_owned(),
            })?,
        };
        let result = f(&repo);
        self.repos
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(repo);
        result
    }

    fn entry(&self, path: &str) -> Result<(Oid, i32), TreeError> {
        if let Some(found) = self.index.get(path) {
            return Ok(*found);
        }
        self.with_repo(path, |repo| {
            let not_found = || TreeError::NotFound {
                path: path.to_owned(),
            };
            let tree = repo.find_tree(self.root).map_err(|_| not_found())?;
            let entry = tree.get_path(Path::new(path)).map_err(|_| not_found())?;
            if entry.kind() != Some(ObjectType::Blob) {
                return Err(not_found());
            }
            Ok((entry.id(), entry.filemode()))
        })
    }
}

impl Tree for GitTree<'_> {
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        let (oid, mode) = self.entry(path)?;
        if mode == MODE_SYMLINK {
            return Err(TreeError::Io {
                path: path.to_owned(),
                reason: "symlink, not followed (a git source reads regular files only)".into(),
            });
        }
        self.with_repo(path, |repo| {
            let io = |e: git2::Error| TreeError::Io {
                path: path.to_owned(),
                reason: e.message().to_owned(),
            };
            let odb = repo.odb().map_err(io)?;
            let (size, _) = odb.read_header(oid).map_err(io)?;
            if size as u64 > self.max_file_bytes {
                return Err(TreeError::TooLarge {
                    path: path.to_owned(),
                    size: size as u64,
                    limit: self.max_file_bytes,
                });
            }
            let object = odb.read(oid).map_err(io)?;
            self.files_read.fetch_add(1, Ordering::Relaxed);
            Ok(object.data().to_vec())
        })
    }

    fn list_dir(&self, folder: &str) -> Vec<String> {
        self.with_repo(folder, |repo| {
            let none = |_| TreeError::NotFound {
                path: folder.to_owned(),
            };
            let root = repo.find_tree(self.root).map_err(none)?;
            let tree = if folder.is_empty() {
                root
            } else {
                let entry = root.get_path(Path::new(folder)).map_err(none)?;
                repo.find_tree(entry.id()).map_err(none)?
            };
            let mut names: Vec<String> = tree
                .iter()
                .filter(|e| e.kind() == Some(ObjectType::Blob) && e.filemode() != MODE_SYMLINK)
                .filter_map(|e| e.name().ok().map(str::to_owned))
                .collect();
            names.sort();
            Ok(names)
        })
        .unwrap_or_default()
    }

    fn version(&self, path: &str) -> Option<u128> {
        let (oid, mode) = self.entry(path).ok()?;
        if mode == MODE_SYMLINK {
            return None;
        }
        let bytes: [u8; 16] = oid.as_bytes()[..16].try_into().ok()?;
        Some(u128::from_be_bytes(bytes))
    }
}

/// The last commit (on the first-parent history of `head`) that changed each file of `paths`:
/// where walking back from `head`, the file's blob first differs from the parent's. A file
/// unchanged since the oldest commit available (the root, or a shallow clone's boundary) gets
/// that commit. Deterministic for a given history, so a restart or an `export` labels the same.
/// `memo` (path -> blob, commit) spares the walk for files whose blob did not change since.
fn last_changes(
    repo: &Repository,
    head: Oid,
    paths: &[&str],
    memo: &mut HashMap<String, (Oid, String)>,
) -> Result<HashMap<String, String>, git2::Error> {
    let head_tree = repo.find_commit(head)?.tree()?;
    let mut found: HashMap<String, String> = HashMap::new();
    let mut blobs: HashMap<String, Oid> = HashMap::new();
    let mut pending: std::collections::HashSet<String> = std::collections::HashSet::new();
    for &path in paths {
        let Ok(entry) = head_tree.get_path(Path::new(path)) else {
            continue;
        };
        blobs.insert(path.to_owned(), entry.id());
        match memo.get(path) {
            Some((blob, commit)) if *blob == entry.id() => {
                found.insert(path.to_owned(), commit.clone());
            }
            _ => {
                pending.insert(path.to_owned());
            }
        }
    }
    if !pending.is_empty() {
        let mut walk = repo.revwalk()?;
        walk.push(head)?;
        walk.simplify_first_parent()?;
        let mut oldest = head;
        for id in walk {
            // A shallow clone's boundary: its parents are not in the repository, and the walk
            // (or reading them) fails there.
            let Ok(id) = id else { break };
            let Ok(tree) = repo.find_commit(id).and_then(|c| c.tree()) else {
                break;
            };
            oldest = id;
            let parent = repo
                .find_commit(id)
                .and_then(|c| c.parent(0))
                .and_then(|p| p.tree());
            let Ok(parent) = parent else { break };
            if parent.id() == tree.id() {
                continue;
            }
            let diff = repo.diff_tree_to_tree(Some(&parent), Some(&tree), None)?;
            for delta in diff.deltas() {
                if let Some(path) = delta.new_file().path().and_then(Path::to_str)
                    && pending.remove(path)
                {
                    found.insert(path.to_owned(), id.to_string());
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        // Unchanged since the oldest commit available (the root, or a shallow boundary).
        for path in pending.drain() {
            found.insert(path, oldest.to_string());
        }
    }
    memo.clear();
    for (path, blob) in blobs {
        if let Some(commit) = found.get(&path) {
            memo.insert(path, (blob, commit.clone()));
        }
    }
    Ok(found)
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

    #[test]
    fn links_name_a_branch_or_tag_and_edit_only_on_a_branch() {
        let cache = tempfile::tempdir().unwrap();
        let source =
            |r: &str| GitSource::new(GitSettings::new("git@github.com:o/r.git", r, cache.path()));
        let repo = Repository::init_bare(cache.path().join("r")).unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let c = repo.commit(None, &sig, &sig, "c", &tree, &[]).unwrap();
        repo.reference("refs/remotes/origin/main", c, true, "")
            .unwrap();
        repo.reference("refs/tags/v1", c, true, "").unwrap();
        let hex = c.to_string();
        let shown = |r: &str| source(r).inner.shown_reference(&repo, &hex);
        assert_eq!(shown("main"), ("main".to_owned(), true));
        assert_eq!(shown("v1"), ("v1".to_owned(), false));
        assert_eq!(shown("refs/heads/main"), ("main".to_owned(), true));
        assert_eq!(shown("refs/tags/v1"), ("v1".to_owned(), false));
        assert_eq!(shown(&hex), (hex.clone(), false));
        assert_eq!(shown("refs/pull/1/head"), (hex.clone(), false));
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalised_paths(&[]), [""]);
        assert_eq!(
            normalised_paths(&["/flows/".into(), "./a/./b".into(), "flows".into()]),
            ["a/b", "flows"]
        );
    }
}
