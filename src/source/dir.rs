//! A folder on disk as a workflow source.
//!
//! Walks the folder for files matching the include globs (and none of the exclude globs), parses
//! them in parallel, picks one winner per workflow id, then resolves each winner's input schema
//! (see [`scan`](super::scan)). A SonataFlow CR's ConfigMaps are looked up in its own file
//! first, then in the YAML files of its folder, and mounted over that folder the way the
//! operator mounts them.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;

pub use super::scan::ParseCache;
use super::scan::{Deferred, scan};
use super::snapshot::{Snapshot, SourceError};
use crate::config::DEFAULT_INCLUDE;
use crate::workflow::{DirTree, ParseLimits, Tree};

/// How to read a folder.
#[derive(Debug, Clone)]
pub struct DirSource {
    pub root: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub limits: ParseLimits,
    pub resource_roots: Vec<String>,
    /// Files parsed by earlier reads (shared by clones), so a re-read parses only what changed.
    pub cache: ParseCache,
}

impl DirSource {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            include: DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect(),
            exclude: Vec::new(),
            limits: ParseLimits::default(),
            resource_roots: vec!["src/main/resources".into()],
            cache: ParseCache::default(),
        }
    }

    /// The files this source reads, relative to its root, sorted.
    pub fn list(&self) -> Result<(DirTree, Vec<String>), SourceError> {
        let folder_error = |reason: String| SourceError::Folder {
            path: self.root.display().to_string(),
            reason,
        };
        let include = globs(&self.include).map_err(folder_error)?;
        let exclude = globs(&self.exclude).map_err(folder_error)?;
        let tree = DirTree::new(&self.root, self.limits.max_file_bytes)
            .map_err(|e| folder_error(e.to_string()))?;
        let files = list_files(tree.root(), &include, &exclude).map_err(folder_error)?;
        Ok((tree, files))
    }

    /// A fingerprint of every file under the root (path, size, modification time), included or
    /// not, since a schema change matters as much as a workflow change. Equal fingerprints mean
    /// a read would give the same snapshot; it costs a walk, no reads.
    pub fn fingerprint(&self) -> Result<u64, SourceError> {
        use std::hash::{Hash, Hasher};
        let root = self.root.canonicalize().map_err(|e| SourceError::Folder {
            path: self.root.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut entries: Vec<(String, u64, u128)> = walkdir::WalkDir::new(&root)
            .follow_links(false)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                let mtime = meta
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_nanos();
                Some((e.path().to_string_lossy().into_owned(), meta.len(), mtime))
            })
            .collect();
        entries.sort();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        entries.hash(&mut hasher);
        Ok(hasher.finish())
    }

    /// Reads the whole folder. Only a missing or unreadable root is an error; anything wrong with
    /// a file is a diagnostic in the snapshot.
    pub fn read(&self) -> Result<Snapshot, SourceError> {
        let (tree, files) = self.list()?;
        Ok(read_tree(
            &tree,
            &files,
            &self.limits,
            &self.resource_roots,
            Some(&self.cache),
        ))
    }

    /// [`DirSource::read`] for a one-shot run: the workflows without their input schemas, and
    /// what resolves them later from this folder (see [`Deferred`]). Nothing is cached.
    pub fn read_deferred(&self) -> Result<(Snapshot, Deferred), SourceError> {
        let (tree, files) = self.list()?;
        let (snapshot, schemas) = scan(&tree, &files, &self.limits, &self.resource_roots, None);
        Ok((snapshot, Deferred::new(tree, schemas)))
    }
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| format!("invalid glob {p:?}: {e}"))?;
        builder.add(glob);
    }
    builder.build().map_err(|e| e.to_string())
}

/// Relative `/`-separated paths of the matching files, sorted. Symlinked folders are not
/// followed (no loops, no escapes); symlinked files are listed and judged by the tree on read.
/// Folders are walked in parallel: on a large tree the walk is mostly system calls.
fn list_files(root: &Path, include: &GlobSet, exclude: &GlobSet) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| e.to_string())?;
    let mut top_files = Vec::new();
    let mut top_dirs = Vec::new();
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            if name != ".git" {
                top_dirs.push(entry.path());
            }
        } else {
            top_files.push(name);
        }
    }
    let nested: Vec<Vec<String>> = top_dirs.par_iter().map(|dir| walk(root, dir)).collect();
    let mut files: Vec<String> = top_files
        .into_iter()
        .chain(nested.into_iter().flatten())
        .filter(|rel| include.is_match(rel) && !exclude.is_match(rel))
        .collect();
    files.sort();
    Ok(files)
}

/// Every file under `dir` (an unreadable subfolder is skipped, as git-sync does).
fn walk(root: &Path, dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut it = walkdir::WalkDir::new(dir).follow_links(false).into_iter();
    while let Some(entry) = it.next() {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_dir() {
            if entry.file_name() == ".git" {
                it.skip_current_dir();
            }
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(root) {
            files.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    files
}

/// Reads the listed files of a tree into a snapshot, every input schema resolved. Shared by
/// every source that has a tree.
pub fn read_tree(
    tree: &dyn Tree,
    files: &[String],
    limits: &ParseLimits,
    resource_roots: &[String],
    cache: Option<&ParseCache>,
) -> Snapshot {
    let (mut snapshot, schemas) = scan(tree, files, limits, resource_roots, cache);
    schemas.resolve_into(tree, &mut snapshot);
    snapshot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::MemoryTree;

    #[test]
    fn a_custom_resource_finds_its_config_map_in_a_sibling_file_of_any_tree() {
        // An in-memory tree (the bundled examples, a git commit) has no folder on disk: the
        // ConfigMap in the sibling file must be found through the tree.
        let mut tree = MemoryTree::new();
        tree.insert(
            "flows/greet.sw.yaml",
            "kind: SonataFlow\nmetadata: {name: greet}\nspec:\n  resources:\n    configMaps:\n      - configMap: {name: greet-schemas}\n        workflowPath: schemas\n  flow:\n    dataInputSchema: schemas/in.json\n    states: [{name: s}]\n",
        );
        tree.insert(
            "flows/01-configmap.yaml",
            "kind: ConfigMap\nmetadata: {name: greet-schemas}\ndata:\n  in.json: '{\"type\": \"object\", \"properties\": {\"who\": {\"type\": \"string\"}}}'\n",
        );
        let snapshot = read_tree(
            &tree,
            &["flows/greet.sw.yaml".to_owned()],
            &ParseLimits::default(),
            &[],
            None,
        );
        assert_eq!(snapshot.diagnostics, []);
        let schema = snapshot.workflows[0]
            .input_schema
            .as_ref()
            .expect("a schema");
        assert_eq!(schema["properties"]["who"]["type"], "string");
    }
}
