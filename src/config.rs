//! Configuration: one typed [`Config`], from defaults < a YAML file < environment < flags.
//!
//! Keys are camelCase, as in a Backstage app-config. Environment variables override the file
//! with `ORCHESTRATOR_PROVIDER__<KEY>__<SUBKEY>` (segments in SCREAMING_SNAKE_CASE, list items by
//! index: `ORCHESTRATOR_PROVIDER__SOURCES__0__PATH`); their values are read as YAML, so a list
//! can be given as `[a, b]`. Unknown keys are errors, and every error names the key and where its
//! value came from, so that a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::entity::{MapOptions, OwnerRule};
use crate::source::dir::DEFAULT_INCLUDE;
use crate::workflow::ParseLimits;

/// The prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "ORCHESTRATOR_PROVIDER__";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Where workflows are read from; none means the bundled examples.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub parsing: ParsingConfig,
    #[serde(default)]
    pub templates: TemplatesConfig,
    #[serde(default)]
    pub export: ExportConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub catalog: CatalogConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub events: EventsConfig,
    /// Where the daemon keeps state between runs: without a catalog, what it published (so that
    /// a restart whose sources read empty is held by the delete guard). Relative to the
    /// configuration file's folder when set there.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("./state")
}

/// The daemon's HTTP server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// The base URL under which Backstage reaches this server; default `http://<listen>`.
    pub public_base_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7070".into(),
            public_base_url: None,
        }
    }
}

impl ServerConfig {
    /// `publicBaseUrl` without a trailing slash.
    pub fn base_url(&self) -> String {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

/// The Backstage catalog the daemon keeps in step. Without `baseUrl`, it only serves.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CatalogConfig {
    pub base_url: Option<String>,
    /// Environment variable holding the static token (Backstage `externalAccess`).
    pub token_env: Option<String>,
    /// File holding the token (a mounted secret).
    pub token_file: Option<PathBuf>,
    /// Refresh every managed entity this often (optional).
    pub refresh_interval: Option<Seconds>,
    /// Entity documents are served as this many shards, each a registered location.
    pub shards: usize,
    /// Catalog calls in flight at once.
    pub concurrency: usize,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            token_env: None,
            token_file: None,
            refresh_interval: None,
            shards: 32,
            concurrency: 8,
        }
    }
}

/// The sync loop.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Time between scheduled cycles (a tenth of it is added at random).
    pub interval: Seconds,
    /// A plan deleting more than this fraction of the published templates holds its deletions.
    pub max_delete_fraction: f64,
    /// ...unless it deletes no more than this many.
    pub delete_guard_minimum: usize,
    /// Quiet time after a file change before a cycle starts.
    pub debounce: Seconds,
    /// Environment variable holding the token `POST /sync` requires (optional).
    pub trigger_token_env: Option<String>,
    /// File holding that token.
    pub trigger_token_file: Option<PathBuf>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval: Seconds(60.0),
            max_delete_fraction: 0.5,
            delete_guard_minimum: 3,
            debounce: Seconds(0.2),
            trigger_token_env: None,
            trigger_token_file: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A tracing filter (`info`, `orchestrator_provider=debug`); `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A duration written as `90`, `1.5` (seconds), `500ms`, `30s`, `5m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub f64);

impl Seconds {
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = Value::deserialize(d)?;
        let secs = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        match secs {
            Some(s) if s.is_finite() && s >= 0.0 => Ok(Seconds(s)),
            _ => Err(D::Error::custom(format!(
                "invalid duration {v}: write seconds (`30`) or a number with a unit (`500ms`, `30s`, `5m`, `1h`)"
            ))),
        }
    }
}

fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let (number, factor) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    number.trim().parse::<f64>().ok().map(|n| n * factor)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            parsing: ParsingConfig::default(),
            templates: TemplatesConfig::default(),
            export: ExportConfig::default(),
            server: ServerConfig::default(),
            catalog: CatalogConfig::default(),
            sync: SyncConfig::default(),
            logging: LoggingConfig::default(),
            webhooks: WebhooksConfig::default(),
            events: EventsConfig::default(),
            state_dir: default_state_dir(),
        }
    }
}

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

/// Push webhooks from git forges (served on the daemon's server).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// `POST /webhooks/github`, verified with `X-Hub-Signature-256`.
    pub github: Option<SecretConfig>,
    /// `POST /webhooks/gitlab`, verified with `X-Gitlab-Token`.
    pub gitlab: Option<SecretConfig>,
    /// Larger bodies are refused with 413.
    pub max_body_bytes: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            github: None,
            gitlab: None,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// `POST /events` (CloudEvents).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventsConfig {
    /// Environment variable holding a token `POST /events` then requires
    /// (`Authorization: Bearer <token>`); unset: open, as Knative brokers post without one.
    pub token_env: Option<String>,
    /// File holding that token.
    pub token_file: Option<PathBuf>,
}

/// A shared secret from an environment variable or a file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretConfig {
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
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

fn yes() -> bool {
    true
}

fn default_include() -> Vec<String> {
    DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ParsingConfig {
    /// Files over this size are refused (one error each) instead of parsed.
    pub max_file_bytes: u64,
    /// Folder suffixes that are classpath roots for `classpath:` schema references.
    pub resource_roots: Vec<String>,
}

impl Default for ParsingConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: ParseLimits::default().max_file_bytes,
            resource_roots: vec!["src/main/resources".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TemplatesConfig {
    pub namespace: String,
    /// `spec.type` of every template.
    #[serde(rename = "type")]
    pub spec_type: String,
    /// `spec.owner` when no rule matches.
    pub owner: String,
    pub owner_rules: Vec<OwnerRuleConfig>,
    pub system: Option<String>,
    pub lifecycle: Option<String>,
    /// The scaffolder action of the step that runs the workflow.
    pub action: String,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        let m = MapOptions::default();
        Self {
            namespace: m.namespace,
            spec_type: m.spec_type,
            owner: m.owner,
            owner_rules: Vec::new(),
            system: m.system,
            lifecycle: m.lifecycle,
            action: m.action,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnerRuleConfig {
    /// Glob over the workflow file's path relative to its source.
    pub path: Option<String>,
    /// Glob over the workflow id.
    pub id: Option<String>,
    pub owner: String,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Yaml,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ExportConfig {
    pub format: Format,
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A configuration error: which key, where its value came from, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key `{key}` (from {origin}): {message}")]
pub struct ConfigError {
    pub key: String,
    pub origin: Origin,
    pub message: String,
}

/// Collects layers of configuration values and remembers where each key came from.
#[derive(Debug, Default)]
pub struct Layers {
    root: Map<String, Value>,
    origins: BTreeMap<String, Origin>,
    base_dir: Option<PathBuf>,
}

impl Layers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a YAML file. Relative source paths in it are taken relative to its folder.
    pub fn file(&mut self, path: &Path) -> Result<&mut Self, ConfigError> {
        let origin = Origin::File(path.to_owned());
        let error = |message: String| ConfigError {
            key: "(file)".into(),
            origin: origin.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let mut opts = serde_saphyr::Options::default();
        opts.strict_booleans = true;
        opts.with_snippet = false;
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            serde_saphyr::from_str_with_options(&text, opts).map_err(|e| {
                error(format!(
                    "invalid YAML: {}",
                    e.to_string().lines().next().unwrap_or("")
                ))
            })?
        };
        let Value::Object(map) = value else {
            return Err(error("the file must be a mapping of keys".into()));
        };
        self.base_dir = path.parent().map(Path::to_owned);
        for (key, value) in map {
            self.merge(vec![Segment::Key(key)], value, &origin);
        }
        Ok(self)
    }

    /// Adds every `ORCHESTRATOR_PROVIDER__*` variable of `vars`.
    pub fn env<I: IntoIterator<Item = (String, String)>>(
        &mut self,
        vars: I,
    ) -> Result<&mut Self, ConfigError> {
        let mut vars: Vec<_> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        for (name, raw) in vars {
            let origin = Origin::Env(name.clone());
            let path: Vec<Segment> = name[ENV_PREFIX.len()..]
                .split("__")
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => Segment::Index(i),
                    Err(_) => Segment::Key(camel_case(s)),
                })
                .collect();
            let value = parse_scalar(&raw).map_err(|message| ConfigError {
                key: dotted(&path),
                origin: origin.clone(),
                message,
            })?;
            self.merge(path, value, &origin);
        }
        Ok(self)
    }

    /// Adds one value given on the command line.
    pub fn flag(&mut self, key: &str, flag: &str, value: Value) -> &mut Self {
        let path = key.split('.').map(|s| Segment::Key(s.to_owned())).collect();
        self.merge(path, value, &Origin::Flag(flag.to_owned()));
        self
    }

    fn merge(&mut self, path: Vec<Segment>, value: Value, origin: &Origin) {
        // Record the origin of every leaf, so an error deep inside a value is attributed.
        record_origins(&dotted(&path), &value, origin, &mut self.origins);
        let mut root = Value::Object(std::mem::take(&mut self.root));
        set(&mut root, &path, value);
        if let Value::Object(map) = root {
            self.root = map;
        }
    }

    /// Builds the typed configuration.
    pub fn build(&self) -> Result<Config, ConfigError> {
        let value = Value::Object(self.root.clone());
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            let message = e.inner().to_string();
            ConfigError {
                origin: self.origin_of(&key),
                key,
                message,
            }
        })?;
        if let Some(base) = &self.base_dir
            && config.state_dir.is_relative()
            && self.origin_of("stateDir").is_file()
        {
            config.state_dir = base.join(&config.state_dir);
        }
        if let Some(base) = &self.base_dir {
            for (i, source) in config.sources.iter_mut().enumerate() {
                if let SourceConfig::Dir(dir) = source
                    && dir.path.is_relative()
                    && self.origin_of(&format!("sources[{i}].path")).is_file()
                {
                    dir.path = base.join(&dir.path);
                }
            }
        }
        config.validate(self)?;
        Ok(config)
    }

    /// The origin of `key`, or of the nearest enclosing key that has one.
    pub fn origin_of(&self, key: &str) -> Origin {
        let mut k = key.to_owned();
        loop {
            if let Some(o) = self.origins.get(&k) {
                return o.clone();
            }
            // Children recorded under this key (the error names a parent of what was set).
            if let Some((_, o)) = self
                .origins
                .range(k.clone()..)
                .next()
                .filter(|(c, _)| c.starts_with(&k) && !k.is_empty())
            {
                return o.clone();
            }
            match k.rfind(['.', '[']) {
                Some(i) => k.truncate(i),
                None => return Origin::Default,
            }
        }
    }
}

impl Origin {
    fn is_file(&self) -> bool {
        matches!(self, Origin::File(_))
    }
}

impl Config {
    fn validate(&self, layers: &Layers) -> Result<(), ConfigError> {
        let err = |key: String, message: String| ConfigError {
            origin: layers.origin_of(&key),
            key,
            message,
        };
        for (i, source) in self.sources.iter().enumerate() {
            let (include, exclude) = match source {
                SourceConfig::Dir(d) => (&d.include, &d.exclude),
                SourceConfig::Git(g) => {
                    if g.url.trim().is_empty() {
                        return Err(err(format!("sources[{i}].url"), "must not be empty".into()));
                    }
                    if g.auth.ssh_key_file.is_some() != g.auth.known_hosts_file.is_some() {
                        return Err(err(
                            format!("sources[{i}].auth"),
                            "`sshKeyFile` and `knownHostsFile` go together: the server's key must be checked".into(),
                        ));
                    }
                    (&g.include, &g.exclude)
                }
                SourceConfig::DataIndex(d) => {
                    if !(d.url.starts_with("http://") || d.url.starts_with("https://")) {
                        return Err(err(
                            format!("sources[{i}].url"),
                            format!(
                                "{:?} is not an http(s) URL",
                                crate::source::deployments::without_userinfo(&d.url)
                            ),
                        ));
                    }
                    if d.page_size == 0 {
                        return Err(err(
                            format!("sources[{i}].pageSize"),
                            "must be at least 1".into(),
                        ));
                    }
                    continue;
                }
            };
            for (field, patterns) in [("include", include), ("exclude", exclude)] {
                for (j, p) in patterns.iter().enumerate() {
                    globset::Glob::new(p).map_err(|e| {
                        err(
                            format!("sources[{i}].{field}[{j}]"),
                            format!("invalid glob: {e}"),
                        )
                    })?;
                }
            }
        }
        for (i, rule) in self.templates.owner_rules.iter().enumerate() {
            if rule.path.is_none() && rule.id.is_none() {
                return Err(err(
                    format!("templates.ownerRules[{i}]"),
                    "a rule needs `path` or `id` (a glob) to match workflows".into(),
                ));
            }
            for (field, glob) in [("path", &rule.path), ("id", &rule.id)] {
                if let Some(g) = glob {
                    globset::Glob::new(g).map_err(|e| {
                        err(
                            format!("templates.ownerRules[{i}].{field}"),
                            format!("invalid glob: {e}"),
                        )
                    })?;
                }
            }
        }
        if !(0.0..=1.0).contains(&self.sync.max_delete_fraction) {
            return Err(err(
                "sync.maxDeleteFraction".into(),
                "must be between 0 and 1".into(),
            ));
        }
        if self.sync.interval.0 < 0.1 {
            return Err(err("sync.interval".into(), "must be at least 100ms".into()));
        }
        if self.catalog.shards == 0 || self.catalog.shards > 1000 {
            return Err(err(
                "catalog.shards".into(),
                "must be between 1 and 1000".into(),
            ));
        }
        if self.catalog.concurrency == 0 {
            return Err(err(
                "catalog.concurrency".into(),
                "must be at least 1".into(),
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                "server.listen".into(),
                format!(
                    "`{}` is not an address like 127.0.0.1:7070",
                    self.server.listen
                ),
            ));
        }
        for (key, url) in [
            ("server.publicBaseUrl", &self.server.public_base_url),
            ("catalog.baseUrl", &self.catalog.base_url),
        ] {
            if let Some(u) = url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                return Err(err(key.into(), format!("`{u}` is not an http(s) URL")));
            }
        }
        if self.catalog.token_env.is_some() && self.catalog.token_file.is_some() {
            return Err(err(
                "catalog.tokenEnv".into(),
                "set `tokenEnv` or `tokenFile`, not both".into(),
            ));
        }
        if self.parsing.max_file_bytes == 0 {
            return Err(err(
                "parsing.maxFileBytes".into(),
                "must be greater than 0".into(),
            ));
        }
        if self.templates.namespace.is_empty()
            || !crate::entity::is_valid_name(&self.templates.namespace)
        {
            return Err(err(
                "templates.namespace".into(),
                "must be a valid Backstage namespace (letters, digits, `-`, `_`, `.`)".into(),
            ));
        }
        Ok(())
    }

    /// The mapper's options (globs were validated when the config was built).
    pub fn map_options(&self) -> MapOptions {
        let t = &self.templates;
        let matcher = |g: &Option<String>| {
            g.as_ref()
                .map(|g| globset::Glob::new(g).expect("validated").compile_matcher())
        };
        MapOptions {
            namespace: t.namespace.clone(),
            spec_type: t.spec_type.clone(),
            owner: t.owner.clone(),
            owner_rules: t
                .owner_rules
                .iter()
                .map(|r| OwnerRule {
                    path: matcher(&r.path),
                    id: matcher(&r.id),
                    owner: r.owner.clone(),
                })
                .collect(),
            system: t.system.clone(),
            lifecycle: t.lifecycle.clone(),
            action: t.action.clone(),
        }
    }

    /// The catalog token, from `catalog.tokenEnv` or `catalog.tokenFile`.
    pub fn catalog_token(&self) -> Result<Option<String>, ConfigError> {
        secret(
            "catalog.token",
            self.catalog.token_env.as_deref(),
            self.catalog.token_file.as_deref(),
        )
    }

    /// The token `POST /sync` requires, from `sync.triggerTokenEnv` or `sync.triggerTokenFile`.
    pub fn trigger_token(&self) -> Result<Option<String>, ConfigError> {
        secret(
            "sync.triggerToken",
            self.sync.trigger_token_env.as_deref(),
            self.sync.trigger_token_file.as_deref(),
        )
    }

    /// The token `POST /events` requires, from `events.tokenEnv` or `events.tokenFile`.
    pub fn events_token(&self) -> Result<Option<String>, ConfigError> {
        secret(
            "events.token",
            self.events.token_env.as_deref(),
            self.events.token_file.as_deref(),
        )
    }

    /// The webhook secrets; a forge configured without one is an error.
    pub fn webhook_secrets(&self) -> Result<crate::sink::serve::WebhookSecrets, ConfigError> {
        let load = |forge: &str, c: &Option<SecretConfig>| -> Result<Option<String>, ConfigError> {
            let Some(c) = c else { return Ok(None) };
            let key = format!("webhooks.{forge}.secret");
            match secret(&key, c.secret_env.as_deref(), c.secret_file.as_deref())? {
                Some(s) => Ok(Some(s)),
                None => Err(ConfigError {
                    key: format!("webhooks.{forge}"),
                    origin: Origin::Default,
                    message: "set `secretEnv` or `secretFile`: deliveries are verified with it"
                        .into(),
                }),
            }
        };
        Ok(crate::sink::serve::WebhookSecrets {
            github: load("github", &self.webhooks.github)?,
            gitlab: load("gitlab", &self.webhooks.gitlab)?,
            max_body_bytes: self.webhooks.max_body_bytes,
        })
    }

    /// The parser's limits.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            max_file_bytes: self.parsing.max_file_bytes,
            ..ParseLimits::default()
        }
    }
}

/// Reads a secret named by an environment variable or a file; never logs its value. `key` is
/// the configuration key of the pair without its `Env`/`File` suffix (`catalog.token`).
pub fn secret(
    key: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, ConfigError> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            _ => Err(ConfigError {
                key: format!("{key}Env"),
                origin: Origin::Env(var.to_owned()),
                message: format!("environment variable {var} is not set or empty"),
            }),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_owned())),
            Ok(_) => Err(ConfigError {
                key: format!("{key}File"),
                origin: Origin::File(path.to_owned()),
                message: "the file is empty".into(),
            }),
            Err(e) => Err(ConfigError {
                key: format!("{key}File"),
                origin: Origin::File(path.to_owned()),
                message: format!("cannot read the file: {e}"),
            }),
        };
    }
    Ok(None)
}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

fn dotted(path: &[Segment]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn set(target: &mut Value, path: &[Segment], value: Value) {
    match path.split_first() {
        None => *target = value,
        Some((seg, rest)) => set(child(target, seg), rest, value),
    }
}

fn child<'v>(v: &'v mut Value, seg: &Segment) -> &'v mut Value {
    match seg {
        Segment::Key(k) => {
            if !v.is_object() {
                *v = Value::Object(Map::new());
            }
            v.as_object_mut()
                .expect("object")
                .entry(k.clone())
                .or_insert_with(|| Value::Object(Map::new()))
        }
        Segment::Index(i) => {
            if !v.is_array() {
                *v = Value::Array(Vec::new());
            }
            let a = v.as_array_mut().expect("array");
            while a.len() <= *i {
                a.push(Value::Object(Map::new()));
            }
            &mut a[*i]
        }
    }
}

fn record_origins(key: &str, value: &Value, origin: &Origin, out: &mut BTreeMap<String, Origin>) {
    out.insert(key.to_owned(), origin.clone());
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                record_origins(&format!("{key}.{k}"), v, origin, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                record_origins(&format!("{key}[{i}]"), v, origin, out);
            }
        }
        _ => {}
    }
}

/// `OWNER_RULES` -> `ownerRules`, `PUBLIC_BASE_URL` -> `publicBaseUrl`.
fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for (i, word) in segment.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(c) = chars.next() {
                out.push(c.to_ascii_uppercase());
                out.extend(chars);
            }
        }
    }
    out
}

fn parse_scalar(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::String(raw.to_owned()));
    }
    let mut opts = serde_saphyr::Options::default();
    opts.strict_booleans = true;
    opts.leading_zero_numbers_as_strings = true;
    opts.with_snippet = false;
    serde_saphyr::from_str_with_options::<Value>(raw, opts)
        .map(|v| {
            if v.is_null() {
                Value::String(raw.to_owned())
            } else {
                v
            }
        })
        .map_err(|e| {
            format!(
                "not a valid YAML value: {}",
                e.to_string().lines().next().unwrap_or("")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let (_d, path) = file("templates:\n  owner: group:default/file\n  namespace: fromfile\n");
        let mut layers = Layers::new();
        layers.file(&path).unwrap();
        layers
            .env([
                (
                    "ORCHESTRATOR_PROVIDER__TEMPLATES__OWNER".to_owned(),
                    "group:default/env".to_owned(),
                ),
                (
                    "ORCHESTRATOR_PROVIDER__PARSING__MAX_FILE_BYTES".to_owned(),
                    "2048".to_owned(),
                ),
                ("OTHER".to_owned(), "ignored".to_owned()),
            ])
            .unwrap();
        layers.flag("export.format", "--format", json!("json"));
        let c = layers.build().unwrap();
        assert_eq!(c.templates.owner, "group:default/env");
        assert_eq!(c.templates.namespace, "fromfile");
        assert_eq!(c.parsing.max_file_bytes, 2048);
        assert_eq!(c.export.format, Format::Json);
    }

    #[test]
    fn unknown_keys_are_errors_naming_key_and_file() {
        let (_d, path) = file("templates:\n  ownr: me\n");
        let err = Layers::new().file(&path).unwrap().build().unwrap_err();
        assert_eq!(err.key, "templates.ownr");
        assert_eq!(err.origin, Origin::File(path.clone()));
        assert!(err.to_string().contains("unknown field `ownr`"), "{err}");
    }

    #[test]
    fn a_bad_env_value_names_the_variable() {
        let err = Layers::new()
            .env([(
                "ORCHESTRATOR_PROVIDER__PARSING__MAX_FILE_BYTES".to_owned(),
                "lots".to_owned(),
            )])
            .unwrap()
            .build()
            .unwrap_err();
        assert_eq!(err.key, "parsing.maxFileBytes");
        assert_eq!(
            err.origin,
            Origin::Env("ORCHESTRATOR_PROVIDER__PARSING__MAX_FILE_BYTES".into())
        );
    }

    #[test]
    fn env_can_set_list_items_by_index() {
        let c = Layers::new()
            .env([
                (
                    "ORCHESTRATOR_PROVIDER__SOURCES__0__TYPE".to_owned(),
                    "dir".to_owned(),
                ),
                (
                    "ORCHESTRATOR_PROVIDER__SOURCES__0__PATH".to_owned(),
                    "/srv/flows".to_owned(),
                ),
            ])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            c.sources,
            [SourceConfig::Dir(DirSourceConfig {
                path: "/srv/flows".into(),
                include: default_include(),
                exclude: vec![],
                watch: true,
            })]
        );
    }

    #[test]
    fn relative_source_paths_are_relative_to_the_config_file() {
        let (d, path) = file("sources:\n  - type: dir\n    path: flows\n");
        let c = Layers::new().file(&path).unwrap().build().unwrap();
        let SourceConfig::Dir(dir) = &c.sources[0] else {
            panic!("a dir source")
        };
        assert_eq!(dir.path, d.path().join("flows"));
    }

    #[test]
    fn data_index_and_git_sources_read_with_defaults() {
        let (_d, path) = file(
            "sources:\n  - type: dataIndex\n    url: http://di:8080\n  - type: git\n    url: https://github.com/o/r\n    ref: v1\n",
        );
        let c = Layers::new().file(&path).unwrap().build().unwrap();
        let SourceConfig::DataIndex(di) = &c.sources[0] else {
            panic!("a dataIndex source")
        };
        assert_eq!(di.page_size, 1000);
        assert_eq!(di.publish, Publish::Deployed);
        assert!(!di.include_unavailable && di.fetch_input_schema);
        let SourceConfig::Git(git) = &c.sources[1] else {
            panic!("a git source")
        };
        assert_eq!(git.reference, "v1");
        let (_d, path) = file("sources:\n  - type: dataIndex\n    url: di:8080\n");
        let e = Layers::new().file(&path).unwrap().build().unwrap_err();
        assert_eq!(e.key, "sources[0].url");
        let (_d, path) =
            file("sources:\n  - type: dataIndex\n    url: http://x\n    publish: some\n");
        let e = Layers::new().file(&path).unwrap().build().unwrap_err();
        assert!(e.key.starts_with("sources[0]"), "{e}");
    }

    #[test]
    fn invalid_globs_and_rules_are_reported_by_key() {
        let (_d, path) = file("templates:\n  ownerRules:\n    - owner: x\n");
        let err = Layers::new().file(&path).unwrap().build().unwrap_err();
        assert_eq!(err.key, "templates.ownerRules[0]");
        let (_d, path) = file("sources:\n  - type: dir\n    path: .\n    include: ['a[']\n");
        let err = Layers::new().file(&path).unwrap().build().unwrap_err();
        assert_eq!(err.key, "sources[0].include[0]");
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.yaml");
        Layers::new().file(&path).unwrap().build().unwrap();
    }
}
