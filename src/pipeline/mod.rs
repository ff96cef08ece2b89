//! Read every source, merge, map: what the daemon does each cycle ([`assemble`]) and, a batch
//! at a time, what `export` and `check` do once ([`oneshot`]).
//!
//! Sources are merged by workflow id (see [`merge`]): definitions from folders and git, in
//! configuration order, deployment facts from the Data Index.

pub mod oneshot;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::config::Config;
use crate::diagram;
use crate::entity::{self, Template};
use crate::source::{self, Deferred, DeployRule, Reader, Role, Snapshot, bundled};
use crate::workflow::{Availability, DeploymentInfo, Diagnostic, Severity, Workflow};

/// What one run of the pipeline produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome<T = Template> {
    /// The mapped templates (or what the caller turned each into), sorted by name.
    pub templates: Vec<T>,
    /// Every problem found, errors first, then by file.
    pub diagnostics: Vec<Diagnostic>,
    /// Sources that could not be read at all: what they define is missing from `templates`.
    pub failed_sources: Vec<String>,
    /// What each template's diagram is drawn from, by template name.
    pub diagrams: BTreeMap<String, Arc<diagram::Source>>,
}

impl<T> Outcome<T> {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        count(&self.diagnostics, severity)
    }

    /// `N templates, M errors, K warnings`.
    pub fn summary(&self) -> String {
        summary(self.templates.len(), &self.diagnostics)
    }
}

fn count(diagnostics: &[Diagnostic], severity: Severity) -> usize {
    diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .count()
}

/// `N templates, M errors, K warnings`.
fn summary(templates: usize, diagnostics: &[Diagnostic]) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}, {}",
        plural(templates, "template"),
        plural(count(diagnostics, Severity::Error), "error"),
        plural(count(diagnostics, Severity::Warning), "warning")
    )
}

/// One source's contribution to a merge: its name in diagnostics, its role, and its snapshot
/// (or why it could not be read). Shared: the daemon keeps each source's last good snapshot and
/// maps from it without copying it.
#[derive(Debug, Clone)]
pub struct SourceRead {
    pub name: String,
    pub role: Role,
    pub snapshot: Result<Arc<Snapshot>, String>,
}

/// Reads every configured source once (the bundled examples when none is configured). Blocking:
/// a Data Index is read on the current Tokio runtime when there is one, else on a private one.
pub fn read_sources(config: &Config) -> Vec<SourceRead> {
    read_all(config, false).0
}

/// [`read_sources`]; with `defer`, the folders, commits and bundled examples are read without
/// their input schemas, and each comes with what resolves them later (by read, `None` for a
/// Data Index or a source that could not be read).
fn read_all(config: &Config, defer: bool) -> (Vec<SourceRead>, Vec<Option<Deferred>>) {
    let sources = match source::configured(config) {
        Ok(s) => s,
        Err(e) => {
            let read = SourceRead {
                name: "(configuration)".into(),
                role: Role::Definitions,
                snapshot: Err(e.to_string()),
            };
            return (vec![read], vec![None]);
        }
    };
    let mut reads: Vec<(usize, SourceRead, Option<Deferred>)> = Vec::with_capacity(sources.len());
    // Definitions first: a Data Index is not asked for what they already have.
    for pass in [true, false] {
        for (i, s) in sources.iter().enumerate() {
            if (s.role == Role::Definitions) != pass {
                continue;
            }
            let read = match &s.reader {
                Reader::Dir { dir, .. } if defer => split(dir.read_deferred()),
                Reader::Dir { dir, .. } => (dir.read().map_err(|e| e.to_string()), None),
                Reader::Git(git) if defer => {
                    split(git.fetch().and_then(|commit| git.read_deferred(&commit)))
                }
                Reader::Git(git) => (
                    git.fetch()
                        .and_then(|commit| git.read(&commit))
                        .map_err(|e| e.to_string()),
                    None,
                ),
                Reader::Bundled {
                    limits,
                    resource_roots,
                } if defer => split::<std::convert::Infallible>(Ok(bundled::read_deferred(
                    limits,
                    resource_roots,
                ))),
                Reader::Bundled {
                    limits,
                    resource_roots,
                } => (Ok(bundled::read(limits, resource_roots)), None),
                Reader::DataIndex(di) => {
                    let defined = defined_ids(reads.iter().map(|(_, r, _)| r));
                    let read = block_on(async { di.lock().await.read(&defined).await });
                    (read.map_err(|e| e.to_string()), None)
                }
            };
            let (snapshot, deferred) = read;
            let read = SourceRead {
                name: s.name.clone(),
                role: s.role,
                snapshot: snapshot.map(Arc::new),
            };
            reads.push((i, read, deferred));
        }
    }
    // Back to configuration order, which decides who wins a duplicate id.
    reads.sort_by_key(|(i, _, _)| *i);
    reads.into_iter().map(|(_, r, d)| (r, d)).unzip()
}

/// A deferred read as a snapshot (or why there is none) and what resolves its schemas.
fn split<E: std::fmt::Display>(
    read: Result<(Snapshot, Deferred), E>,
) -> (Result<Snapshot, String>, Option<Deferred>) {
    match read {
        Ok((snapshot, deferred)) => (Ok(snapshot), Some(deferred)),
        Err(e) => (Err(e.to_string()), None),
    }
}

/// The ids the definitions sources among `reads` define.
pub fn defined_ids<'a>(reads: impl IntoIterator<Item = &'a SourceRead>) -> BTreeSet<String> {
    reads
        .into_iter()
        .filter(|r| r.role == Role::Definitions)
        .filter_map(|r| r.snapshot.as_ref().ok())
        .flat_map(|s| s.workflows.iter().map(|w| w.id.clone()))
        .collect()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime")
            .block_on(future),
    }
}

/// One workflow a merge keeps: where it was read and what the merge gives it.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The read (an index into the reads merged) and the workflow's index in its snapshot.
    pub read: usize,
    pub index: usize,
    /// Where it was read, as diagnostics name it (under its source).
    pub place: String,
    /// The deployment the merge gives it, when that is not the one it has.
    pub deployment: Option<DeploymentInfo>,
}

/// What [`merge`] gives.
#[derive(Debug, Default)]
pub struct Merge {
    /// The workflows to map, by id.
    pub workflows: Vec<Merged>,
    /// Every source's diagnostics (under its source) and the duplicate ids; not sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// Sources that could not be read at all.
    pub failed_sources: Vec<String>,
}

impl Merged {
    /// The workflow as its source read it (without the merge's deployment).
    pub fn read<'r>(&self, reads: &'r [SourceRead]) -> &'r Workflow {
        let snapshot = reads[self.read]
            .snapshot
            .as_ref()
            .expect("merged from a read");
        &snapshot.workflows[self.index]
    }

    /// The workflow with what the merge gives it: borrowed when that changes nothing.
    pub fn workflow<'r>(&self, reads: &'r [SourceRead]) -> Cow<'r, Workflow> {
        let wf = self.read(reads);
        match &self.deployment {
            None => Cow::Borrowed(wf),
            Some(deployment) => {
                let mut wf = wf.clone();
                wf.deployment = Some(deployment.clone());
                Cow::Owned(wf)
            }
        }
    }
}

/// Merges snapshots by workflow id:
///
/// 1. definitions sources in configuration order: the first that defines an id wins, a later
///    definition is a duplicate (an error naming both places);
/// 2. a Data Index's own definitions (parsed from its `source`) only for ids no definitions
///    source has;
/// 3. when a Data Index is configured, every workflow gets its deployment (from the first Data
///    Index that deploys it, else `not-deployed`), and is published when that Data Index's
///    rule lets it through: available ones always, unavailable ones with `includeUnavailable`,
///    not-deployed ones when some Data Index says `publish: all`. A Data Index that has not been
///    read yet deploys nothing yet.
pub fn merge(reads: &[SourceRead]) -> Merge {
    let mut diagnostics = Vec::new();
    let mut failed_sources = Vec::new();
    // id -> (place, read, index)
    let mut by_id: BTreeMap<&str, (String, usize, usize)> = BTreeMap::new();
    for (r, read) in reads.iter().enumerate() {
        let snapshot = match &read.snapshot {
            Ok(s) => s,
            Err(reason) => {
                diagnostics.push(Diagnostic::error(&read.name, None, reason));
                failed_sources.push(read.name.clone());
                continue;
            }
        };
        diagnostics.extend(snapshot.diagnostics.iter().map(|d| Diagnostic {
            file: qualify(&read.name, &d.file),
            ..d.clone()
        }));
        if read.role != Role::Definitions {
            continue;
        }
        for (i, wf) in snapshot.workflows.iter().enumerate() {
            let place = qualify(&read.name, &wf.origin.path);
            if let Some((winner, _, _)) = by_id.get(wf.id.as_str()) {
                diagnostics.push(Diagnostic::error(
                    &place,
                    Some(&wf.id),
                    format!(
                        "duplicate workflow id: also defined in {winner}, which is used (the first source in configuration order wins); give one of them another id"
                    ),
                ));
                continue;
            }
            by_id.insert(&wf.id, (place, r, i));
        }
    }
    let deployers: Vec<(DeployRule, Option<&Snapshot>)> = reads
        .iter()
        .filter_map(|r| match r.role {
            Role::Deployments(rule) => Some((rule, r.snapshot.as_deref().ok())),
            Role::Definitions => None,
        })
        .collect();
    for (r, read) in reads.iter().enumerate() {
        let (Role::Deployments(_), Ok(snapshot)) = (read.role, &read.snapshot) else {
            continue;
        };
        for (i, wf) in snapshot.workflows.iter().enumerate() {
            by_id
                .entry(&wf.id)
                .or_insert_with(|| (wf.origin.path.clone(), r, i));
        }
    }
    let merged = by_id.into_values().map(|(place, read, index)| Merged {
        read,
        index,
        place,
        deployment: None,
    });
    let workflows = if deployers.is_empty() {
        merged.collect()
    } else {
        let publish_all = deployers.iter().any(|(rule, _)| rule.publish_all);
        merged
            .filter_map(|mut m| {
                let wf = m.read(reads);
                let found = deployers.iter().find_map(|(rule, snapshot)| {
                    snapshot
                        .and_then(|s| s.deployments.get(&wf.id))
                        .map(|d| (rule, d))
                });
                let (publish, deployment) = match found {
                    Some((rule, d)) => (
                        match d.availability {
                            Availability::Available => true,
                            Availability::Unavailable => rule.include_unavailable,
                            Availability::NotDeployed => publish_all,
                        },
                        d.clone(),
                    ),
                    None => (publish_all, DeploymentInfo::default()),
                };
                if !publish {
                    return None;
                }
                if wf.deployment.as_ref() != Some(&deployment) {
                    m.deployment = Some(deployment);
                }
                Some(m)
            })
            .collect()
    };
    Merge {
        workflows,
        diagnostics,
        failed_sources,
    }
}

/// Merges snapshots by workflow id (see [`merge`]) and maps the result.
pub fn assemble(config: &Config, reads: &[SourceRead]) -> Outcome {
    assemble_into(config, reads, |t, _| t)
}

/// [`assemble`], each template handed to `into` with its diagram's source as soon as it is
/// mapped (see [`entity::map_all_into`]).
pub fn assemble_into<T: Send>(
    config: &Config,
    reads: &[SourceRead],
    into: impl Fn(Template, Option<Arc<diagram::Source>>) -> T + Sync,
) -> Outcome<T> {
    let mut merge = merge(reads);
    let mut diagnostics = std::mem::take(&mut merge.diagnostics);
    let workflows: Vec<Cow<'_, Workflow>> =
        merge.workflows.iter().map(|m| m.workflow(reads)).collect();
    let places = places(&merge.workflows, &workflows);
    let (mapped, mapping) = entity::map_all_into(
        &workflows,
        &entity::MapOptions::from_config(&config.templates).with_diagrams(&config.diagrams),
        |workflow, template| {
            let diagram = diagram_source(workflow, &template);
            let name = template.metadata.name.clone();
            (into(template, Some(diagram.clone())), (name, diagram))
        },
    );
    diagnostics.extend(mapping.into_iter().map(|d| placed(d, &places)));
    let mut diagrams = BTreeMap::new();
    let templates = mapped
        .into_iter()
        .map(|(t, (name, diagram))| {
            diagrams.insert(name, diagram);
            t
        })
        .collect();
    diagnostics.sort();
    Outcome {
        templates,
        diagnostics,
        failed_sources: merge.failed_sources,
        diagrams,
    }
}

/// Where each of the merged workflows (`workflows`, in the same order) was read, by id, for the
/// mapping's diagnostics.
fn places<'a, W: std::borrow::Borrow<Workflow>>(
    merged: &'a [Merged],
    workflows: &'a [W],
) -> BTreeMap<&'a str, &'a str> {
    merged
        .iter()
        .zip(workflows)
        .map(|(m, wf)| (wf.borrow().id.as_str(), m.place.as_str()))
        .collect()
}

/// A mapping diagnostic under the place its workflow was read (the mapper knows only the
/// workflow's own path).
fn placed(d: Diagnostic, places: &BTreeMap<&str, &str>) -> Diagnostic {
    let place = d
        .workflow_id
        .as_deref()
        .and_then(|id| places.get(id))
        .map(|p| (*p).to_owned());
    Diagnostic {
        file: place.unwrap_or(d.file),
        ..d
    }
}

/// A template's diagram source: its workflow's graph under its title.
fn diagram_source(workflow: &Workflow, template: &Template) -> Arc<diagram::Source> {
    Arc::new(diagram::Source {
        graph: workflow.graph.clone(),
        title: template.metadata.title.clone(),
        workflow_id: workflow.id.clone(),
    })
}

/// Reads and maps everything the configuration names.
pub fn run(config: &Config) -> Outcome {
    assemble(config, &read_sources(config))
}

/// A file path as the user can find it: under its source folder.
fn qualify(source: &str, file: &str) -> String {
    if file.is_empty() {
        source.to_owned()
    } else if source == "." {
        // Files given on the command line at the root of the working directory's repository.
        file.to_owned()
    } else if source == bundled::NAME {
        format!("fixtures/workflows/{file}")
    } else {
        format!("{}/{file}", source.trim_end_matches('/'))
    }
}
