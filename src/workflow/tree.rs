//! A read-only tree of files addressed by `/`-separated paths relative to a source root.
//!
//! Workflows and the schemas they reference are read only through a [`Tree`], so that one rule
//! holds for every source: nothing outside the root is ever read (not through `..`, not through
//! a symlink), and no file over the size limit is loaded. A folder on disk is a [`DirTree`];
//! tests, ConfigMap overlays and (later) git commits are [`MemoryTree`]s or their own impls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a file could not be read from a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("{path}: no such file")]
    NotFound { path: String },
    #[error("{reference}: points outside the source root; only files inside it are read")]
    OutsideRoot { reference: String },
    #[error(
        "{path}: {size} bytes is over the {limit}-byte limit (raise `maxFileBytes` if it is legitimate)"
    )]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}: cannot read: {reason}")]
    Io { path: String, reason: String },
}

/// Files addressed by normalised relative paths (`a/b.json`, no `.`/`..`, no leading `/`).
pub trait Tree: Sync {
    /// Reads a whole file. Implementations enforce the size limit and the root confinement.
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError>;

    /// Reads a file that the source's own listing found. A listing that never follows symlinked
    /// folders guarantees the path is inside the root, so a tree may skip the checks it needs
    /// for arbitrary references; a symlinked file still gets them.
    fn read_listed(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        self.read(path)
    }

    /// The names of the files directly in `folder` (not subfolders), sorted.
    fn list_dir(&self, folder: &str) -> Vec<String>;

    /// A cheap identity of a file's current content (size, modification time, inode on disk; a
    /// blob id in git), so that a reader can reuse what it parsed before. `None`: unknown.
    fn version(&self, _path: &str) -> Option<u128> {
        None
    }

    /// The absolute location of the root on the local disk, if it has one (for `file://` refs).
    fn local_root(&self) -> Option<&Path> {
        None
    }
}

/// Joins `reference` (relative, may contain `.` and `..`) onto the folder `base` and normalises
/// the result; a path that climbs above the root is refused.
pub fn join(base: &str, reference: &str) -> Result<String, TreeError> {
    let mut parts: Vec<&str> = if reference.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in reference.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(TreeError::OutsideRoot {
                        reference: reference.to_owned(),
                    });
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The folder part of a relative path (`a/b/c.json` -> `a/b`, `c.json` -> ``).
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// A folder on the local disk.
#[derive(Debug, Clone)]
pub struct DirTree {
    root: PathBuf,
    max_file_bytes: u64,
}

impl DirTree {
    /// `root` is canonicalised once, so that symlinks are judged against the real folder.
    pub fn new(root: &Path, max_file_bytes: u64) -> Result<Self, TreeError> {
        let root = root.canonicalize().map_err(|e| TreeError::Io {
            path: root.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            root,
            max_file_bytes,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Tree for DirTree {
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        let joined = self.root.join(path);
        let real = joined.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TreeError::NotFound {
                path: path.to_owned(),
            },
            _ => TreeError::Io {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        })?;
        // A symlink inside the root may point anywhere: judge the resolved path.
        if !real.starts_with(&self.root) {
            return Err(TreeError::OutsideRoot {
                reference: path.to_owned(),
            });
        }
        let io = |e: std::io::Error| TreeError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(&real).map_err(io)?;
        if !meta.is_file() {
            return Err(TreeError::NotFound {
                path: path.to_owned(),
            });
        }
        if meta.len() > self.max_file_bytes {
            return Err(TreeError::TooLarge {
                path: path.to_owned(),
                size: meta.len(),
                limit: self.max_file_bytes,
            });
        }
        std::fs::read(&real).map_err(io)
    }

    fn read_listed(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        use std::io::Read;
        let joined = self.root.join(path);
        let io = |e: std::io::Error| TreeError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let meta = std::fs::symlink_metadata(&joined).map_err(io)?;
        if !meta.file_type().is_file() {
            // A symlink (or something stranger): judge where it really points.
            return self.read(path);
        }
        if meta.len() > self.max_file_bytes {
            return Err(TreeError::TooLarge {
                path: path.to_owned(),
                size: meta.len(),
                limit: self.max_file_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(&joined)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io)?;
        Ok(bytes)
    }

    fn list_dir(&self, folder: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root.join(folder)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                e.file_type().ok()?.is_file().then_some(())?;
                e.file_name().into_string().ok()
            })
            .collect();
        names.sort();
        names
    }

    fn version(&self, path: &str) -> Option<u128> {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        // Follows a symlinked file, so that a change of its target is a new version.
        let meta = std::fs::metadata(self.root.join(path)).ok()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino(),
            meta.ctime_nsec(),
        )
            .hash(&mut h);
        Some(u128::from(h.finish()))
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }
}

/// Files held in memory: ConfigMap contents mounted over a folder, test trees, git blobs.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, path: impl Into<String>, content: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), content.into());
    }
}

impl Tree for MemoryTree {
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| TreeError::NotFound {
                path: path.to_owned(),
            })
    }

    fn list_dir(&self, folder: &str) -> Vec<String> {
        let prefix = if folder.is_empty() {
            String::new()
        } else {
            format!("{folder}/")
        };
        // BTreeMap order: already sorted.
        self.files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_owned)
            .collect()
    }
}

/// A tree with some files laid over another (a SonataFlow CR's ConfigMaps over its folder).
pub struct Overlay<'a> {
    pub upper: &'a MemoryTree,
    pub lower: &'a dyn Tree,
}

impl Tree for Overlay<'_> {
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        match self.upper.read(path) {
            Err(TreeError::NotFound { .. }) => self.lower.read(path),
            found => found,
        }
    }

    fn list_dir(&self, folder: &str) -> Vec<String> {
        let mut names = self.lower.list_dir(folder);
        names.extend(self.upper.list_dir(folder));
        names.sort();
        names.dedup();
        names
    }

    fn local_root(&self) -> Option<&Path> {
        self.lower.local_root()
    }
}

/// Percent-encodes everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`): one URL
/// path segment (a workflow id in a URL).
pub(crate) fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (URL paths and userinfo, JSON pointers in `$ref`s); anything else,
/// a malformed escape included, stays as written.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises_and_refuses_to_climb_out() {
        assert_eq!(join("a/b", "c.json").unwrap(), "a/b/c.json");
        assert_eq!(join("a/b", "../c.json").unwrap(), "a/c.json");
        assert_eq!(join("a/b", "./x/../y.json").unwrap(), "a/b/y.json");
        assert_eq!(join("a/b", "/top.json").unwrap(), "top.json");
        assert!(matches!(
            join("a", "../../etc/passwd"),
            Err(TreeError::OutsideRoot { .. })
        ));
    }

    #[test]
    fn dir_tree_refuses_symlinks_out_of_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.json"), "{}").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.json"),
            root.path().join("s.json"),
        )
        .unwrap();
        std::fs::write(root.path().join("ok.json"), "{}").unwrap();
        let tree = DirTree::new(root.path(), 1024).unwrap();
        assert_eq!(tree.read("ok.json").unwrap(), b"{}");
        assert!(matches!(
            tree.read("s.json"),
            Err(TreeError::OutsideRoot { .. })
        ));
    }

    #[test]
    fn list_dir_gives_the_files_of_one_folder_in_every_tree() {
        let mut mem = MemoryTree::new();
        for p in ["a/x.yaml", "a/b/y.yaml", "a/c.json", "z.yaml"] {
            mem.insert(p, "");
        }
        assert_eq!(mem.list_dir("a"), ["c.json", "x.yaml"]);
        assert_eq!(mem.list_dir(""), ["z.yaml"]);
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/b")).unwrap();
        std::fs::write(root.path().join("a/x.yaml"), "").unwrap();
        std::fs::write(root.path().join("a/b/y.yaml"), "").unwrap();
        let tree = DirTree::new(root.path(), 1024).unwrap();
        assert_eq!(tree.list_dir("a"), ["x.yaml"]);
    }

    #[test]
    fn dir_tree_enforces_the_size_limit() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("big.json"), vec![b' '; 2048]).unwrap();
        let tree = DirTree::new(root.path(), 1024).unwrap();
        assert!(matches!(
            tree.read("big.json"),
            Err(TreeError::TooLarge { size: 2048, .. })
        ));
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes_and_never_splits_a_character() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        // An escape cut by a multi-byte character (a byte-slicing decoder would panic here).
        assert_eq!(percent_decode("%aé"), "%aé");
    }
}
