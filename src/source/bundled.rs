//! The example workflows compiled into the binary (`fixtures/workflows/`), used when no source
//! is configured so that the first command a user runs shows the product working.

use super::dir::read_tree;
use super::scan::{Deferred, scan};
use super::snapshot::Snapshot;
use crate::config::DEFAULT_INCLUDE;
use crate::workflow::{MemoryTree, ParseLimits};

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The name under which diagnostics and logs refer to the bundled examples.
pub const NAME: &str = "(bundled examples)";

/// Reads the bundled examples like a folder with the default include globs.
pub fn read(limits: &ParseLimits, resource_roots: &[String]) -> Snapshot {
    let (tree, files) = tree();
    read_tree(&tree, &files, limits, resource_roots, None)
}

/// [`read`] for a one-shot run: the input schemas are resolved later (see [`Deferred`]).
pub fn read_deferred(limits: &ParseLimits, resource_roots: &[String]) -> (Snapshot, Deferred) {
    let (tree, files) = tree();
    let (snapshot, schemas) = scan(&tree, &files, limits, resource_roots, None);
    (snapshot, Deferred::new(tree, schemas))
}

/// The bundled files as a tree, and those of them the default include globs list.
fn tree() -> (MemoryTree, Vec<String>) {
    let mut tree = MemoryTree::new();
    let include = globset::GlobSet::builder()
        .add(globset::Glob::new(DEFAULT_INCLUDE[0]).expect("valid"))
        .add(globset::Glob::new(DEFAULT_INCLUDE[1]).expect("valid"))
        .add(globset::Glob::new(DEFAULT_INCLUDE[2]).expect("valid"))
        .build()
        .expect("valid");
    let mut files = Vec::new();
    for (path, content) in BUNDLED {
        tree.insert(*path, content.to_vec());
        if include.is_match(path) {
            files.push(path.to_string());
        }
    }
    (tree, files)
}
