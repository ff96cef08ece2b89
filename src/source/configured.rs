//! The sources the configuration describes, each ready to read: its name, its role when
//! sources are merged, how often it is read, and its reader (with its secrets read).

use std::sync::Arc;
use std::time::Duration;

use super::bundled;
use super::deployments::{DataIndexSettings, DataIndexSource};
use super::dir::DirSource;
use super::git::{GitAuth, GitSettings, GitSource};
use crate::config::{Config, ConfigError, Publish, SourceConfig};
use crate::secrets;
use crate::workflow::ParseLimits;

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
    let limits = parse_limits(config);
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
                let token = secrets::read(
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
                let token = secrets::read(
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

/// The parser's limits the configuration sets (`parsing.maxFileBytes`).
pub fn parse_limits(config: &Config) -> ParseLimits {
    ParseLimits {
        max_file_bytes: config.parsing.max_file_bytes,
        ..ParseLimits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_default_file_size_limit_is_the_parsers() {
        assert_eq!(
            parse_limits(&Config::default()).max_file_bytes,
            ParseLimits::default().max_file_bytes
        );
    }
}
