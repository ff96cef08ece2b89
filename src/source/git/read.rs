//! Reading a commit: the workflows under `paths` at one commit, through the same
//! [`scan`](crate::source::scan) a folder uses, each with links to its file at the branch or
//! tag and the commit that last changed it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use git2::{Oid, Repository};
use globset::{Glob, GlobSet, GlobSetBuilder};

use super::error::GitError;
use super::history::last_changes;
use super::source::{Inner, wait_for};
use super::tree::{GitTree, index_paths};
use crate::source::scan::{Deferred, scan};
use crate::source::snapshot::Snapshot;
use crate::workflow::Diagnostic;

impl Inner {
    /// Reads the commit; every input schema resolved, or (`defer`) the tree and what resolves
    /// them later.
    pub(super) fn read(
        &self,
        commit: &str,
        defer: bool,
    ) -> Result<(Snapshot, Option<Deferred>), GitError> {
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
            repo_dir: self.repo_dir.clone(),
            repos: Mutex::new(vec![repo]),
            root,
            index,
            max_file_bytes: self.settings.limits.max_file_bytes,
            files_read: self.files_read.clone(),
        };
        let (mut snapshot, schemas) = scan(
            &tree,
            &files,
            &self.settings.limits,
            &self.settings.resource_roots,
            Some(&self.cache),
        );
        if !defer {
            schemas.resolve_into(&tree, &mut snapshot);
        }
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
        let repo = tree.repos.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let paths: Vec<&str> = snapshot
            .workflows
            .iter()
            .map(|w| w.origin.path.as_str())
            .collect();
        let changed_at = match repo {
            Some(repo) => {
                let mut memo = self.last_changes.lock().unwrap_or_else(|e| e.into_inner());
                let changes = last_changes(&repo, oid, &paths, &mut memo)
                    .map_err(|e| tree_error(self.scrub(e.message())))?;
                tree.repos
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(repo);
                changes
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
        let deferred = defer.then(|| Deferred::new(tree, schemas));
        Ok((snapshot, deferred))
    }

    /// The reference links use (the branch or tag as configured; the commit for a pin or any
    /// other ref), and whether the file can be edited there (only on a branch).
    pub(super) fn shown_reference(&self, repo: &Repository, commit: &str) -> (String, bool) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::git::{GitSettings, GitSource};

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
