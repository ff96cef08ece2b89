//! The one-shot pipeline behind `export` and `check`: read every source, merge, map.
//!
//! Sources are merged by workflow id (see [`assemble`]): definitions from folders and git, in
//! configuration order, deployment facts from the Data Index.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::config::Config;
use crate::diagram;
use crate::entity::{self, Template};
use crate::source::{self, DeployRule, Reader, Role, Snapshot, bundled};
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
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// `N templates, M errors, K warnings`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}, {}",
            plural(self.templates.len(), "template"),
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning")
        )
    }
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
    let sources = match source::configured(config) {
        Ok(s) => s,
        Err(e) => {
            return vec![SourceRead {
                name: "(configuration)".into(),
                role: Role::Definitions,
                snapshot: Err(e.to_string()),
            }];
        }
    };
    let mut reads: Vec<(usize, SourceRead)> = Vec::with_capacity(sources.len());
    // Definitions first: a Data Index is not asked for what they already have.
    for pass in [true, false] {
        for (i, s) in sources.iter().enumerate() {
            if (s.role == Role::Definitions) != pass {
                continue;
            }
            let snapshot = match &s.reader {
                Reader::Dir { dir, .. } => dir.read().map_err(|e| e.to_string()),
                Reader::Git(git) => git
                    .fetch()
                    .and_then(|commit| git.read(&commit))
                    .map_err(|e| e.to_string()),
                Reader::Bundled {
                    limits,
                    resource_roots,
                } => Ok(bundled::read(limits, resource_roots)),
                Reader::DataIndex(di) => {
                    let defined = defined_ids(reads.iter().map(|(_, r)| r));
                    block_on(async { di.lock().await.read(&defined).await })
                        .map_err(|e| e.to_string())
                }
            };
            let read = SourceRead {
                name: s.name.clone(),
                role: s.role,
                snapshot: snapshot.map(Arc::new),
            };
            reads.push((i, read));
        }
    }
    // Back to configuration order, which decides who wins a duplicate id.
    reads.sort_by_key(|(i, _)| *i);
    reads.into_iter().map(|(_, r)| r).collect()
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

/// Merges snapshots by workflow id and maps the result:
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
    let mut diagnostics = Vec::new();
    let mut failed_sources = Vec::new();
    let mut by_id: BTreeMap<&str, (String, &Workflow)> = BTreeMap::new();
    for read in reads {
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
        for wf in &snapshot.workflows {
            let place = qualify(&read.name, &wf.origin.path);
            if let Some((winner, _)) = by_id.get(wf.id.as_str()) {
                diagnostics.push(Diagnostic::error(
                    &place,
                    Some(&wf.id),
                    format!(
                        "duplicate workflow id: also defined in {winner}, which is used (the first source in configuration order wins); give one of them another id"
                    ),
                ));
                continue;
            }
            by_id.insert(&wf.id, (place, wf));
        }
    }
    let deployers: Vec<(DeployRule, Option<&Snapshot>)> = reads
        .iter()
        .filter_map(|r| match r.role {
            Role::Deployments(rule) => Some((rule, r.snapshot.as_deref().ok())),
            Role::Definitions => None,
        })
        .collect();
    for (_, snapshot) in &deployers {
        for wf in snapshot.iter().flat_map(|s| &s.workflows) {
            by_id
                .entry(&wf.id)
                .or_insert_with(|| (wf.origin.path.clone(), wf));
        }
    }
    // Where each workflow was read, for the mapping's diagnostics.
    let places: BTreeMap<String, String> = by_id
        .iter()
        .map(|(id, (place, _))| ((*id).to_owned(), place.clone()))
        .collect();
    let workflows: Vec<Cow<'_, Workflow>> = if deployers.is_empty() {
        by_id
            .into_values()
            .map(|(_, wf)| Cow::Borrowed(wf))
            .collect()
    } else {
        let publish_all = deployers.iter().any(|(rule, _)| rule.publish_all);
        by_id
            .into_values()
            .filter_map(|(_, wf)| {
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
                if wf.deployment.as_ref() == Some(&deployment) {
                    return Some(Cow::Borrowed(wf));
                }
                let mut wf = wf.clone();
                wf.deployment = Some(deployment);
                Some(Cow::Owned(wf))
            })
            .collect()
    };
    let (mapped, mapping) = entity::map_all_into(
        &workflows,
        &entity::MapOptions::from_config(&config.templates).with_diagrams(&config.diagrams),
        |workflow, template| {
            let diagram = diagram_source(workflow, &template);
            let name = template.metadata.name.clone();
            (into(template, Some(diagram.clone())), (name, diagram))
        },
    );
    diagnostics.extend(mapping.into_iter().map(|d| {
        Diagnostic {
            file: d
                .workflow_id
                .as_ref()
                .and_then(|id| places.get(id))
                .cloned()
                .unwrap_or(d.file),
            ..d
        }
    }));
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
        failed_sources,
        diagrams,
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
