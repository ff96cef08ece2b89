//! A commit's tree as a [`Tree`](crate::workflow::Tree): the files under `paths` indexed up
//! front, blobs loaded on demand and in parallel, symlinks never followed, the size limit
//! checked before a blob is loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::workflow::{Tree, TreeError};

const MODE_SYMLINK: i32 = 0o120000;

/// Every blob (files and symlinks; not submodules) under `paths` at `root`, by path; and the
/// paths that are not in the tree.
pub(super) type Index = HashMap<String, (Oid, i32)>;

pub(super) fn index_paths(
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
pub(super) struct GitTree {
    pub(super) repo_dir: PathBuf,
    pub(super) repos: Mutex<Vec<Repository>>,
    pub(super) root: Oid,
    pub(super) index: Index,
    pub(super) max_file_bytes: u64,
    pub(super) files_read: Arc<AtomicU64>,
}

impl GitTree {
    fn with_repo<T>(
        &self,
        path: &str,
        f: impl FnOnce(&Repository) -> Result<T, TreeError>,
    ) -> Result<T, TreeError> {
        let pooled = self.repos.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let repo = match pooled {
            Some(repo) => repo,
            None => Repository::open_bare(&self.repo_dir).map_err(|e| TreeError::Io {
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

impl Tree for GitTree {
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
