//! The `PATH`s of `export` and `check` as folder sources. A folder is read whole. Files (what a
//! `pre-commit` hook passes) are grouped by the repository that holds them and read as a folder
//! at that repository's root that includes exactly those files, so their input schemas and
//! `$ref`s resolve as they do when the whole repository is read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The `sources` a list of command-line paths stands for, in the order they were given (files
/// at the place of the first file of their repository). `cwd` is the working directory:
/// a repository root that is the working directory is named `.`, so diagnostics name files
/// as they were given.
pub fn sources_for_paths(paths: &[PathBuf], cwd: &Path) -> Vec<Value> {
    // Each entry: a folder, or a repository root with the files it includes.
    let mut order: Vec<PathBuf> = Vec::new();
    let mut files: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut folders: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !cwd.join(path).is_file() {
            // A folder, or a path that does not exist: reading it says what is wrong.
            if !order.contains(path) {
                order.push(path.clone());
            }
            folders.push(path.clone());
            continue;
        }
        let absolute = std::path::absolute(cwd.join(path)).unwrap_or_else(|_| cwd.join(path));
        let root = repository_root(&absolute);
        let shown = shown_root(&root, cwd);
        let relative = absolute
            .strip_prefix(&root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        if !order.contains(&shown) {
            order.push(shown.clone());
        }
        let list = files.entry(shown).or_default();
        if !list.contains(&relative) {
            list.push(relative);
        }
    }
    order
        .into_iter()
        .map(|path| match files.get(&path) {
            Some(list) if !folders.contains(&path) => json!({
                "type": "dir",
                "path": path,
                "include": list.iter().map(|f| globset::escape(f)).collect::<Vec<_>>(),
                "watch": false,
            }),
            _ => json!({"type": "dir", "path": path}),
        })
        .collect()
}

/// The nearest folder above `file` that holds `.git` (a folder, or a file in a worktree); the
/// file's own folder when it is in no repository.
fn repository_root(file: &Path) -> PathBuf {
    let folder = file.parent().unwrap_or(Path::new("/"));
    folder
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(folder)
        .to_owned()
}

/// `root` as diagnostics show it: `.` for the working directory, relative below it.
fn shown_root(root: &Path, cwd: &Path) -> PathBuf {
    let cwd = std::path::absolute(cwd).unwrap_or_else(|_| cwd.to_owned());
    match root.strip_prefix(&cwd) {
        Ok(rest) if rest.as_os_str().is_empty() => PathBuf::from("."),
        Ok(rest) => rest.to_owned(),
        Err(_) => root.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_at_their_repository_root_and_folders_whole() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".git")).unwrap();
        std::fs::create_dir_all(repo.path().join("flows/[a]")).unwrap();
        std::fs::write(repo.path().join("flows/x.sw.yaml"), "id: x").unwrap();
        std::fs::write(repo.path().join("flows/[a]/y.sw.yaml"), "id: y").unwrap();
        let sources = sources_for_paths(
            &[
                "flows/x.sw.yaml".into(),
                "other".into(),
                "flows/[a]/y.sw.yaml".into(),
                "flows/x.sw.yaml".into(),
                "other".into(),
            ],
            repo.path(),
        );
        assert_eq!(
            sources,
            vec![
                json!({"type": "dir", "path": ".", "include": ["flows/x.sw.yaml", "flows/[[]a[]]/y.sw.yaml"], "watch": false}),
                json!({"type": "dir", "path": "other"}),
            ]
        );
    }

    #[test]
    fn a_folder_given_beside_files_of_its_repository_is_read_once_whole() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".git")).unwrap();
        std::fs::write(repo.path().join("x.sw.yaml"), "id: x").unwrap();
        let sources = sources_for_paths(&["x.sw.yaml".into(), ".".into()], repo.path());
        assert_eq!(sources, vec![json!({"type": "dir", "path": "."})]);
    }

    #[test]
    fn a_file_outside_any_repository_is_read_in_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.sw.json");
        std::fs::write(&file, "{}").unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let sources = sources_for_paths(std::slice::from_ref(&file), elsewhere.path());
        assert_eq!(
            sources,
            vec![
                json!({"type": "dir", "path": dir.path(), "include": ["a.sw.json"], "watch": false})
            ]
        );
    }
}
