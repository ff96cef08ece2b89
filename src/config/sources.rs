//! The `sources` section: folders, git repositories and Data Indexes, as configured.

use std::path::PathBuf;

use serde::Deserialize;

use super::duration::Seconds;

/// The files a folder or repository source reads when `include` is not set.
pub const DEFAULT_INCLUDE: [&str; 3] = ["**/*.sw.json", "**/*.sw.yaml", "**/*.sw.yml"];

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A folder on this machine.
    Dir(DirSourceConfig),
    /// A git repository.
    Git(GitSourceConfig),
    /// A SonataFlow Data Index: which workflows are deployed, where, and whether available.
    DataIndex(DataIndexSourceConfig),
}

/// A git repository, followed at a branch, tag or commit.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitSourceConfig {
    /// `https://`, `ssh://`, `git@host:path`, `git://`, `http://` or `file://`.
    pub url: String,
    /// A branch, a tag, or a full commit id.
    #[serde(rename = "ref", default = "default_git_ref")]
    pub reference: String,
    /// Subfolders to read; none means the whole repository.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Time between fetches; default `sync.interval`.
    #[serde(default)]
    pub interval: Option<Seconds>,
    /// Fetch only this many commits (a shallow clone).
    #[serde(default)]
    pub depth: Option<u32>,
    #[serde(default)]
    pub auth: GitAuthConfig,
    /// A fetch that takes longer fails (and keeps the last good state).
    #[serde(default = "default_git_timeout")]
    pub timeout: Seconds,
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn default_git_ref() -> String {
    "main".into()
}

fn default_git_timeout() -> Seconds {
    Seconds(120.0)
}

/// Credentials for a git repository: a token (https) or a key (ssh).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitAuthConfig {
    /// Environment variable holding a token (GitHub, GitLab, Bitbucket access tokens).
    pub token_env: Option<String>,
    /// File holding a token.
    pub token_file: Option<PathBuf>,
    /// The user name sent with the token: `x-access-token` (GitHub, the default), `oauth2`
    /// (GitLab), or the account name; the ssh user for ssh URLs without one (default `git`).
    pub username: Option<String>,
    /// Private key for ssh URLs.
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts the server's key is checked against (required with `sshKeyFile`).
    pub known_hosts_file: Option<PathBuf>,
}

/// A SonataFlow Data Index (GraphQL), release 1.44 or later.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataIndexSourceConfig {
    /// The Data Index base URL (`/graphql` is appended).
    pub url: String,
    #[serde(default)]
    pub auth: TokenAuthConfig,
    /// Time between reads; default `sync.interval`.
    #[serde(default)]
    pub interval: Option<Seconds>,
    /// Rows per GraphQL request.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// `deployed`: publish only workflows this Data Index deploys. `all`: also workflows that
    /// git or a folder has but no Data Index deploys (`orchestrator.io/availability: not-deployed`).
    #[serde(default)]
    pub publish: Publish,
    /// Publish workflows the operator reports unavailable (annotated `unavailable`).
    #[serde(default)]
    pub include_unavailable: bool,
    /// Ask a deployed workflow's service for its input schema when no git or folder source has
    /// the workflow (`GET <serviceUrl>/management/processes/<id>`).
    #[serde(default = "yes")]
    pub fetch_input_schema: bool,
    /// Bound on each Data Index and workflow-service request.
    #[serde(default = "default_data_index_timeout")]
    pub timeout: Seconds,
}

fn default_page_size() -> usize {
    1000
}

fn default_data_index_timeout() -> Seconds {
    Seconds(30.0)
}

/// Which workflows a Data Index source lets through.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Publish {
    /// Only deployed ones.
    #[default]
    Deployed,
    /// Deployed ones and those only git or a folder has.
    All,
}

/// A bearer token from an environment variable or a file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenAuthConfig {
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirSourceConfig {
    /// The folder; relative paths are relative to the configuration file's folder.
    pub path: PathBuf,
    /// Watch the folder and sync on change (the daemon only).
    #[serde(default = "yes")]
    pub watch: bool,
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl DirSourceConfig {
    /// The folder `path` as a configuration file's `{type: dir, path}` gives it: watched, the
    /// default `include`, nothing excluded.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            watch: yes(),
            include: default_include(),
            exclude: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

pub(super) fn default_include() -> Vec<String> {
    DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect()
}
