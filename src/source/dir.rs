//! A folder on disk as a workflow source.
//!
//! Walks the folder for files matching the include globs (and none of the exclude globs), parses
//! them in parallel, picks one winner per workflow id, then resolves each winner's input schema.
//! A SonataFlow CR's ConfigMaps are looked up in its own file first, then in the YAML files of
//! its folder, and mounted over that folder the way the operator mounts them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::snapshot::{Snapshot, SourceError};
use crate::config::DEFAULT_INCLUDE;
use crate::workflow::{
    ConfigMap, Diagnostic, DirTree, InputSchemaRef, MemoryTree, Origin, Overlay, ParseLimits,
    ParsedWorkflow, SchemaResolver, Tree, Workflow, join, parent, parse_file,
};

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

/// Parsed files by path and content version. Shared between clones of a source.
#[derive(Debug, Clone, Default)]
pub struct ParseCache(Arc<Mutex<CachedFiles>>);

/// path -> (content version, what parsing it gave).
type CachedFiles = HashMap<String, (u128, Arc<FileResult>)>;

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

/// One parsed file, ready for the sequential part of a read.
#[derive(Debug)]
pub struct FileResult {
    path: String,
    sha256: String,
    /// What parsing gave, or why it failed and the line it failed at.
    outcome: Result<crate::workflow::ParsedFile, (String, Option<u64>)>,
}

/// Reads the listed files of a tree into a snapshot. Shared by every source that has a tree.
pub fn read_tree(
    tree: &dyn Tree,
    files: &[String],
    limits: &ParseLimits,
    resource_roots: &[String],
    cache: Option<&ParseCache>,
) -> Snapshot {
    let parsed = parse_all(tree, files, limits, cache);
    let mut diagnostics = Vec::new();
    // Workflows by id; the first in (path, document) order wins, which does not depend on the
    // order a file system lists files in.
    let mut winners: BTreeMap<String, (&FileResult, &ParsedWorkflow)> = BTreeMap::new();
    let mut config_maps: HashMap<&str, Vec<&ConfigMap>> = HashMap::new();
    for file in parsed.iter().map(Arc::as_ref) {
        let content = match &file.outcome {
            Ok(content) => content,
            Err((reason, line)) => {
                diagnostics.push(Diagnostic::error(&file.path, None, reason).at_line(*line));
                continue;
            }
        };
        for problem in &content.problems {
            diagnostics.push(Diagnostic::error(
                &file.path,
                problem.workflow_id.as_deref(),
                document_message(content, problem.document, &problem.message),
            ));
        }
        config_maps
            .entry(parent(&file.path))
            .or_default()
            .extend(content.config_maps.iter());
        for wf in &content.workflows {
            match winners.get(&wf.id) {
                Some((winner, _)) => diagnostics.push(Diagnostic::error(
                    &file.path,
                    Some(&wf.id),
                    format!(
                        "duplicate workflow id: also defined in {}, which is used (the first file in path order wins); give one of them another id",
                        winner.path
                    ),
                )),
                None => {
                    winners.insert(wf.id.clone(), (file, wf));
                }
            }
        }
    }

    // Schemas resolve on every core; each worker keeps its own cache of parsed schema files.
    let winners: Vec<(&FileResult, &ParsedWorkflow)> = winners.into_values().collect();
    let resolved: Vec<(Workflow, Vec<Diagnostic>)> = winners
        .par_iter()
        .map_init(
            || SchemaResolver::new(tree, resource_roots),
            |resolver, (file, wf)| {
                resolve_one(
                    resolver,
                    tree,
                    file,
                    wf,
                    &config_maps,
                    limits,
                    resource_roots,
                )
            },
        )
        .collect();
    let mut workflows = Vec::with_capacity(resolved.len());
    for (workflow, problems) in resolved {
        workflows.push(workflow);
        diagnostics.extend(problems);
    }
    diagnostics.sort();
    Snapshot {
        workflows,
        diagnostics,
        deployments: Default::default(),
    }
}

/// One winning workflow with its input schema resolved (or a warning saying why not).
fn resolve_one(
    resolver: &mut SchemaResolver,
    tree: &dyn Tree,
    file: &FileResult,
    wf: &ParsedWorkflow,
    config_maps: &HashMap<&str, Vec<&ConfigMap>>,
    limits: &ParseLimits,
    resource_roots: &[String],
) -> (Workflow, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let input_schema = wf.data_input_schema.as_ref().and_then(|reference| {
        let resolved = if wf.mounts.is_empty() {
            resolver.resolve(&file.path, reference)
        } else {
            let overlay = mount_config_maps(tree, file, wf, config_maps, limits, &mut diagnostics);
            let tree = Overlay {
                upper: &overlay,
                lower: tree,
            };
            SchemaResolver::new(&tree, resource_roots).resolve(&file.path, reference)
        };
        resolved
            .map_err(|e| {
                diagnostics.push(Diagnostic::warning(
                    &file.path,
                    Some(&wf.id),
                    format!(
                        "input schema {}: {e}; the template is published without a form",
                        describe(reference)
                    ),
                ))
            })
            .ok()
    });
    let workflow = Workflow {
        id: wf.id.clone(),
        name: wf.name.clone(),
        description: wf.description.clone(),
        version: wf.version.clone(),
        annotations: wf.annotations.clone(),
        metadata: wf.metadata.clone(),
        input_schema,
        origin: Origin {
            path: file.path.clone(),
            sha256: file.sha256.clone(),
            custom_resource: wf.custom_resource,
            links: None,
        },
        deployment: None,
        graph: wf.graph.clone(),
    };
    (workflow, diagnostics)
}

fn describe(reference: &InputSchemaRef) -> String {
    match reference {
        InputSchemaRef::Path(p) => format!("`{p}`"),
        InputSchemaRef::Inline(_) => "(inline)".into(),
    }
}

fn document_message(
    content: &crate::workflow::ParsedFile,
    document: usize,
    message: &str,
) -> String {
    let many = content.problems.len() + content.workflows.len() > 1 || document > 0;
    if many {
        format!("document {}: {message}", document + 1)
    } else {
        message.to_owned()
    }
}

/// Parses every file, on all cores: reading and parsing dominate a cold read. With a cache,
/// a file whose version is unchanged is not read again.
fn parse_all(
    tree: &dyn Tree,
    files: &[String],
    limits: &ParseLimits,
    cache: Option<&ParseCache>,
) -> Vec<Arc<FileResult>> {
    let Some(cache) = cache else {
        return files
            .par_iter()
            .map(|p| Arc::new(parse_one(tree, p, limits)))
            .collect();
    };
    let known = std::mem::take(&mut *cache.0.lock().expect("parse cache poisoned"));
    let parsed: Vec<(String, Option<u128>, Arc<FileResult>)> = files
        .par_iter()
        .map(|p| {
            let version = tree.version(p);
            let hit = version.and_then(|v| {
                known
                    .get(p)
                    .filter(|(kv, _)| *kv == v)
                    .map(|(_, r)| r.clone())
            });
            let result = hit.unwrap_or_else(|| Arc::new(parse_one(tree, p, limits)));
            (p.clone(), version, result)
        })
        .collect();
    // Only files still listed stay cached.
    let mut next = HashMap::with_capacity(parsed.len());
    let results = parsed
        .into_iter()
        .map(|(path, version, result)| {
            if let Some(v) = version {
                next.insert(path, (v, result.clone()));
            }
            result
        })
        .collect();
    *cache.0.lock().expect("parse cache poisoned") = next;
    results
}

fn parse_one(tree: &dyn Tree, path: &str, limits: &ParseLimits) -> FileResult {
    match tree.read_listed(path) {
        Ok(bytes) => FileResult {
            path: path.to_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            outcome: parse_file(path, &bytes, limits)
                .map(compact)
                .map_err(|e| (e.to_string(), e.line())),
        },
        Err(e) => FileResult {
            path: path.to_owned(),
            sha256: String::new(),
            outcome: Err((e.to_string(), None)),
        },
    }
}

/// A parsed file as the cache keeps it (for as long as the file is unchanged): its lists without
/// the spare capacity they grew with (a one-workflow file would otherwise hold room for four).
fn compact(mut file: crate::workflow::ParsedFile) -> crate::workflow::ParsedFile {
    file.workflows.shrink_to_fit();
    file.config_maps.shrink_to_fit();
    file.problems.shrink_to_fit();
    for w in &mut file.workflows {
        w.annotations.shrink_to_fit();
        w.mounts.shrink_to_fit();
    }
    file
}

/// The files a CR's ConfigMaps put beside it: `<folder>/<workflowPath>/<key>`. A ConfigMap is
/// looked for in the CR's own file, then in the other YAML files of its folder.
fn mount_config_maps(
    tree: &dyn Tree,
    file: &FileResult,
    wf: &ParsedWorkflow,
    known: &HashMap<&str, Vec<&ConfigMap>>,
    limits: &ParseLimits,
    diagnostics: &mut Vec<Diagnostic>,
) -> MemoryTree {
    let folder = parent(&file.path);
    let mut overlay = MemoryTree::new();
    let mut siblings: Option<Vec<ConfigMap>> = None;
    for mount in &wf.mounts {
        let found = known
            .get(folder)
            .and_then(|maps| {
                maps.iter()
                    .find(|m| m.name == mount.config_map)
                    .map(|m| (*m).clone())
            })
            .or_else(|| {
                siblings
                    .get_or_insert_with(|| sibling_config_maps(tree, folder, limits))
                    .iter()
                    .find(|m| m.name == mount.config_map)
                    .cloned()
            });
        let Some(config_map) = found else {
            diagnostics.push(Diagnostic::warning(
                &file.path,
                Some(&wf.id),
                format!(
                    "ConfigMap `{}` is not in this file or folder; files it would mount are missing",
                    mount.config_map
                ),
            ));
            continue;
        };
        let Ok(dir) = join(folder, &mount.workflow_path) else {
            continue;
        };
        for (key, content) in &config_map.data {
            if let Ok(path) = join(&dir, key) {
                overlay.insert(path, content.as_bytes().to_vec());
            }
        }
    }
    overlay
}

fn sibling_config_maps(tree: &dyn Tree, folder: &str, limits: &ParseLimits) -> Vec<ConfigMap> {
    tree.list_dir(folder)
        .iter()
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .filter_map(|name| {
            let path = join(folder, name).ok()?;
            let bytes = tree.read(&path).ok()?;
            parse_file(&path, &bytes, limits).ok()
        })
        .flat_map(|parsed| parsed.config_maps)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
