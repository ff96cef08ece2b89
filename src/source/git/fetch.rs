//! Fetching: the one reference followed, downloaded only when it moved, into a bare clone that
//! is cloned again when it is damaged or not ours; libgit2's errors turned into [`GitError`]s.

use std::time::{Duration, Instant};

use git2::{
    AutotagOption, Direction, ErrorClass, ErrorCode, FetchOptions, FetchPrune, Oid, ProxyOptions,
    Repository,
};

use super::callbacks::CallState;
use super::error::GitError;
use super::remote_url::RepoUrl;
use super::source::{Inner, wait_for};

/// libgit2's `GIT_TIMEOUT`: a socket read or connect took longer than the server timeout.
const GIT_TIMEOUT: i32 = -37;

/// libgit2's `GIT_FETCH_DEPTH_UNSHALLOW`: fetch the whole history of a shallow clone.
const UNSHALLOW: i32 = i32::MAX;

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

impl Inner {
    pub(super) fn fetch_until(&self, deadline: Instant) -> Result<String, GitError> {
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
