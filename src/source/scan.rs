//! Reading the listed files of a tree in two steps: [`scan`] parses them (on every core,
//! reusing a [`ParseCache`]) and picks one winner per workflow id; [`Schemas`] then resolves
//! each winner's input schema.
//!
//! The daemon resolves every schema as it reads (a source's last good snapshot must stay
//! self-contained: a folder that breaks later must not break re-mapping what was read). A
//! one-shot run (`export`, `check`) instead keeps the tree and resolves a batch of schemas at a
//! time while it maps ([`Deferred`]): resolved schemas are JSON trees several times the size of
//! their text, and holding all of them at once is what made an export of 10 000 large forms
//! take gigabytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::snapshot::Snapshot;
use crate::workflow::{
    ConfigMap, Diagnostic, InputSchemaRef, MemoryTree, Origin, Overlay, ParseLimits, ParsedFile,
    ParsedWorkflow, SchemaResolver, Tree, Workflow, join, parent, parse_file,
};

/// Parsed files by path and content version. Shared between clones of a source.
#[derive(Debug, Clone, Default)]
pub struct ParseCache(Arc<Mutex<CachedFiles>>);

/// path -> (content version, what parsing it gave).
type CachedFiles = HashMap<String, (u128, Arc<FileResult>)>;

/// One parsed file, ready for the sequential part of a read.
#[derive(Debug)]
pub struct FileResult {
    path: String,
    sha256: String,
    /// What parsing gave, or why it failed and the line it failed at.
    outcome: Result<ParsedFile, (String, Option<u64>)>,
}

/// What resolving the input schemas of a scan's workflows needs: for each workflow (in the
/// order of the snapshot's `workflows`) its parsed file, and the files holding ConfigMaps by
/// folder (a SonataFlow CR mounts them over its folder).
#[derive(Debug)]
pub struct Schemas {
    /// (file, index of the workflow among the file's workflows).
    winners: Vec<(Arc<FileResult>, usize)>,
    config_maps: HashMap<String, Vec<Arc<FileResult>>>,
    limits: ParseLimits,
    resource_roots: Vec<String>,
}

/// Parses the listed files of a tree and picks one workflow per id (the first in path and
/// document order). The snapshot's workflows have no input schema yet: [`Schemas`] resolves
/// them. Its diagnostics are every file's problems and the duplicate ids, sorted.
pub fn scan(
    tree: &dyn Tree,
    files: &[String],
    limits: &ParseLimits,
    resource_roots: &[String],
    cache: Option<&ParseCache>,
) -> (Snapshot, Schemas) {
    let parsed = parse_all(tree, files, limits, cache);
    let mut diagnostics = Vec::new();
    // Workflows by id; the first in (path, document) order wins, which does not depend on the
    // order a file system lists files in.
    let mut winners: BTreeMap<&str, (&Arc<FileResult>, usize)> = BTreeMap::new();
    let mut config_maps: HashMap<String, Vec<Arc<FileResult>>> = HashMap::new();
    for file in &parsed {
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
        if !content.config_maps.is_empty() {
            config_maps
                .entry(parent(&file.path).to_owned())
                .or_default()
                .push(file.clone());
        }
        for (i, wf) in content.workflows.iter().enumerate() {
            match winners.get(wf.id.as_str()) {
                Some((winner, _)) => diagnostics.push(Diagnostic::error(
                    &file.path,
                    Some(&wf.id),
                    format!(
                        "duplicate workflow id: also defined in {}, which is used (the first file in path order wins); give one of them another id",
                        winner.path
                    ),
                )),
                None => {
                    winners.insert(&wf.id, (file, i));
                }
            }
        }
    }
    let winners: Vec<(Arc<FileResult>, usize)> = winners
        .into_values()
        .map(|(file, i)| (file.clone(), i))
        .collect();
    let workflows = winners
        .iter()
        .map(|(file, i)| workflow(file, &parsed_workflows(file)[*i]))
        .collect();
    diagnostics.sort();
    let snapshot = Snapshot {
        workflows,
        diagnostics,
        deployments: Default::default(),
    };
    let schemas = Schemas {
        winners,
        config_maps,
        limits: *limits,
        resource_roots: resource_roots.to_vec(),
    };
    (snapshot, schemas)
}

fn parsed_workflows(file: &FileResult) -> &[ParsedWorkflow] {
    file.outcome.as_ref().map_or(&[], |c| &c.workflows)
}

/// A parsed workflow as the model has it, without its input schema.
fn workflow(file: &FileResult, wf: &ParsedWorkflow) -> Workflow {
    Workflow {
        id: wf.id.clone(),
        name: wf.name.clone(),
        description: wf.description.clone(),
        version: wf.version.clone(),
        annotations: wf.annotations.clone(),
        metadata: wf.metadata.clone(),
        input_schema: None,
        origin: Origin {
            path: file.path.clone(),
            sha256: file.sha256.clone(),
            custom_resource: wf.custom_resource,
            links: None,
        },
        deployment: None,
        graph: wf.graph.clone(),
    }
}

impl Schemas {
    /// How many workflows there are to resolve (as many as the scan's snapshot has).
    pub fn len(&self) -> usize {
        self.winners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.winners.is_empty()
    }

    /// A resolver over `tree` as these workflows need it. One per thread: it caches the schema
    /// files that `$ref`s share.
    pub fn resolver<'t>(&self, tree: &'t dyn Tree) -> SchemaResolver<'t> {
        SchemaResolver::new(tree, &self.resource_roots)
    }

    /// The input schema of the snapshot's `index`-th workflow (`None` when it declares none or
    /// it cannot be resolved), and a warning saying why not.
    pub fn resolve(
        &self,
        resolver: &mut SchemaResolver<'_>,
        tree: &dyn Tree,
        index: usize,
    ) -> (Option<Value>, Vec<Diagnostic>) {
        let (file, i) = &self.winners[index];
        let wf = &parsed_workflows(file)[*i];
        let mut diagnostics = Vec::new();
        let schema = wf.data_input_schema.as_ref().and_then(|reference| {
            let resolved = if wf.mounts.is_empty() {
                resolver.resolve(&file.path, reference)
            } else {
                let overlay = self.mount_config_maps(tree, file, wf, &mut diagnostics);
                let tree = Overlay {
                    upper: &overlay,
                    lower: tree,
                };
                SchemaResolver::new(&tree, &self.resource_roots).resolve(&file.path, reference)
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
        (schema, diagnostics)
    }

    /// Resolves every workflow's schema into `snapshot` (the one [`scan`] returned with these
    /// schemas), on every core, each worker with its own cache of schema files; adds the
    /// warnings and sorts the diagnostics again.
    pub fn resolve_into(&self, tree: &dyn Tree, snapshot: &mut Snapshot) {
        let resolved: Vec<(Option<Value>, Vec<Diagnostic>)> = (0..self.len())
            .into_par_iter()
            .map_init(
                || self.resolver(tree),
                |resolver, i| self.resolve(resolver, tree, i),
            )
            .collect();
        for (workflow, (schema, problems)) in snapshot.workflows.iter_mut().zip(resolved) {
            workflow.input_schema = schema;
            snapshot.diagnostics.extend(problems);
        }
        snapshot.diagnostics.sort();
    }

    /// The files a CR's ConfigMaps put beside it: `<folder>/<workflowPath>/<key>`. A ConfigMap
    /// is looked for in the CR's own file, then in the other YAML files of its folder.
    fn mount_config_maps(
        &self,
        tree: &dyn Tree,
        file: &FileResult,
        wf: &ParsedWorkflow,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> MemoryTree {
        let folder = parent(&file.path);
        let mut overlay = MemoryTree::new();
        let mut siblings: Option<Vec<ConfigMap>> = None;
        for mount in &wf.mounts {
            let found = self
                .config_maps
                .get(folder)
                .and_then(|files| {
                    files
                        .iter()
                        .filter_map(|f| f.outcome.as_ref().ok())
                        .flat_map(|c| &c.config_maps)
                        .find(|m| m.name == mount.config_map)
                        .cloned()
                })
                .or_else(|| {
                    siblings
                        .get_or_insert_with(|| sibling_config_maps(tree, folder, &self.limits))
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
}

/// A scan's schemas with the tree they are read from, for a one-shot run: resolved when the
/// workflows are mapped, a batch at a time, instead of all at once when the source is read.
/// The tree must not change while the run lasts (a folder or a commit read by `export` or
/// `check`); the daemon never defers.
pub struct Deferred {
    tree: Box<dyn Tree + Send>,
    schemas: Schemas,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("workflows", &self.schemas.len())
            .finish_non_exhaustive()
    }
}

impl Deferred {
    pub fn new(tree: impl Tree + Send + 'static, schemas: Schemas) -> Self {
        Self {
            tree: Box::new(tree),
            schemas,
        }
    }

    /// How many workflows there are to resolve (as many as the snapshot read with them has).
    pub fn len(&self) -> usize {
        self.schemas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }

    /// A resolver over the tree; one per thread (see [`Schemas::resolver`]).
    pub fn resolver(&self) -> SchemaResolver<'_> {
        self.schemas.resolver(&*self.tree)
    }

    /// [`Schemas::resolve`] over the tree.
    pub fn resolve(
        &self,
        resolver: &mut SchemaResolver<'_>,
        index: usize,
    ) -> (Option<Value>, Vec<Diagnostic>) {
        self.schemas.resolve(resolver, &*self.tree, index)
    }
}

fn describe(reference: &InputSchemaRef) -> String {
    match reference {
        InputSchemaRef::Path(p) => format!("`{p}`"),
        InputSchemaRef::Inline(_) => "(inline)".into(),
    }
}

fn document_message(content: &ParsedFile, document: usize, message: &str) -> String {
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
fn compact(mut file: ParsedFile) -> ParsedFile {
    file.workflows.shrink_to_fit();
    file.config_maps.shrink_to_fit();
    file.problems.shrink_to_fit();
    for w in &mut file.workflows {
        w.annotations.shrink_to_fit();
        w.mounts.shrink_to_fit();
    }
    file
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
