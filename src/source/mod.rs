//! Sources: where workflow definitions come from. Each source reads everything it has and
//! returns a [`Snapshot`]: the workflows it could use and a diagnostic for everything it could
//! not. A source that cannot be read at all returns a [`SourceError`] instead, never a silently
//! empty snapshot, so that callers can keep the last good state.

pub mod bundled;
pub mod data_index;
pub mod deployments;
pub mod dir;
pub mod git;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError, Publish, SourceConfig};
use crate::workflow::{DeploymentInfo, Diagnostic, ParseLimits, Workflow};
use deployments::{DataIndexSettings, DataIndexSource};
use dir::DirSource;
use git::{GitAuth, GitSettings, GitSource};

/// Everything one read of a source produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Usable workflows, one per id, sorted by id.
    pub workflows: Vec<Workflow>,
    /// Per-file and per-workflow problems, sorted by file.
    pub diagnostics: Vec<Diagnostic>,
    /// From a Data Index: every deployed workflow id and its deployment, whether or not its
    /// content is among `workflows` (content from git or a folder is not fetched again).
    pub deployments: BTreeMap<String, DeploymentInfo>,
}

impl Snapshot {
    /// How many workflows the snapshot knows of (defined or deployed).
    pub fn len(&self) -> usize {
        self.workflows.len().max(self.deployments.len())
    }

    pub fn is_empty(&self) -> bool {
        self.workflows.is_empty() && self.deployments.is_empty()
    }
}

/// A source that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source folder {path}: {reason}")]
    Folder { path: String, reason: String },
}

/// What a source contributes when sources are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Workflow definitions (folders, git, the bundled examples): the first source in
    /// configuration order that defines an id wins.
    Definitions,
    /// Deployment facts, and definitions for what no definitions source has (a Data Index).
    Deployments(DeployRule),
}

/// Which workflows a Data Index lets through (`publish`, `includeUnavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeployRule {
    /// Also publish workflows that no Data Index deploys.
    pub publish_all: bool,
    /// Publish workflows the operator reports unavailable.
    pub include_unavailable: bool,
}

/// How a configured source is read.
pub enum Reader {
    Dir {
        dir: DirSource,
        watch: bool,
    },
    Git(GitSource),
    DataIndex(Arc<tokio::sync::Mutex<DataIndexSource>>),
    Bundled {
        limits: ParseLimits,
        resource_roots: Vec<String>,
    },
}

/// A source as the configuration describes it, ready to read.
pub struct Configured {
    /// The name in logs, `/status` and diagnostics (a folder path, a URL without credentials).
    pub name: String,
    pub role: Role,
    /// Time between reads; `None` for folders (cheap to check on every cycle).
    pub interval: Option<Duration>,
    pub reader: Reader,
}

/// Every configured source (the bundled examples when none is), with its secrets read.
pub fn configured(config: &Config) -> Result<Vec<Configured>, ConfigError> {
    let limits = config.parse_limits();
    let mut out = Vec::new();
    for (i, source) in config.sources.iter().enumerate() {
        out.push(match source {
            SourceConfig::Dir(d) => Configured {
                name: d.path.display().to_string(),
                role: Role::Definitions,
                interval: None,
                reader: Reader::Dir {
                    dir: DirSource {
                        root: d.path.clone(),
                        include: d.include.clone(),
                        exclude: d.exclude.clone(),
                        limits,
                        resource_roots: config.parsing.resource_roots.clone(),
                        cache: Default::default(),
                    },
                    watch: d.watch,
                },
            },
            SourceConfig::Git(g) => {
                let key = |k: &str| format!("sources[{i}].auth.{k}");
                let token = crate::config::secret(
                    &key("token"),
                    g.auth.token_env.as_deref(),
                    g.auth.token_file.as_deref(),
                )?;
                let mut settings =
                    GitSettings::new(&g.url, &g.reference, config.state_dir.join("git"));
                settings.paths = g.paths.clone();
                settings.depth = g.depth;
                settings.auth = GitAuth {
                    username: g.auth.username.clone(),
                    token,
                    ssh_key_file: g.auth.ssh_key_file.clone(),
                    known_hosts_file: g.auth.known_hosts_file.clone(),
                };
                settings.timeout = g.timeout.duration();
                settings.include = g.include.clone();
                settings.exclude = g.exclude.clone();
                settings.limits = limits;
                settings.resource_roots = config.parsing.resource_roots.clone();
                let source = GitSource::new(settings);
                Configured {
                    name: source.name(),
                    role: Role::Definitions,
                    interval: Some(g.interval.unwrap_or(config.sync.interval).duration()),
                    reader: Reader::Git(source),
                }
            }
            SourceConfig::DataIndex(d) => {
                let token = crate::config::secret(
                    &format!("sources[{i}].auth.token"),
                    d.auth.token_env.as_deref(),
                    d.auth.token_file.as_deref(),
                )?;
                let source = DataIndexSource::new(DataIndexSettings {
                    url: d.url.clone(),
                    token,
                    page_size: d.page_size,
                    fetch_input_schema: d.fetch_input_schema,
                    timeout: d.timeout.duration(),
                    limits,
                });
                Configured {
                    name: source.name(),
                    role: Role::Deployments(DeployRule {
                        publish_all: d.publish == Publish::All,
                        include_unavailable: d.include_unavailable,
                    }),
                    interval: Some(d.interval.unwrap_or(config.sync.interval).duration()),
                    reader: Reader::DataIndex(Arc::new(tokio::sync::Mutex::new(source))),
                }
            }
        });
    }
    if out.is_empty() {
        out.push(Configured {
            name: bundled::NAME.to_owned(),
            role: Role::Definitions,
            interval: None,
            reader: Reader::Bundled {
                limits,
                resource_roots: config.parsing.resource_roots.clone(),
            },
        });
    }
    Ok(out)
}
