//! History for `orchestrator.io/source-commit`: the last commit that changed each workflow file.

use std::collections::HashMap;
use std::path::Path;

use git2::{Oid, Repository};

/// The last commit (on the first-parent history of `head`) that changed each file of `paths`:
/// where walking back from `head`, the file's blob first differs from the parent's. A file
/// unchanged since the oldest commit available (the root, or a shallow clone's boundary) gets
/// that commit. Deterministic for a given history, so a restart or an `export` labels the same.
/// `memo` (path -> blob, commit) spares the walk for files whose blob did not change since.
pub(super) fn last_changes(
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
