//! The configuration's shape: [`Config`] and its sections, with their defaults. Plain data:
//! nothing here reads a file, an environment variable or a secret.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Deserialize;

use super::duration::Seconds;
use super::sources::SourceConfig;

/// `parsing.maxFileBytes` when not set: 1 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;

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
    #[serde(default)]
    pub diagrams: DiagramsConfig,
    /// Where the daemon keeps state between runs: git clones; without a catalog, what it
    /// published (so that a restart whose sources read empty is held by the delete guard).
    /// Relative to the configuration file's folder when set there. Default: the platform's state
    /// folder ([`state_dir_for`]).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

fn default_state_dir() -> PathBuf {
    state_dir_for(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// `stateDir` when it is not set, given `$XDG_STATE_HOME` and `$HOME`:
/// `$XDG_STATE_HOME/orchestrator-provider`, else `$HOME/.local/state/orchestrator-provider` (the
/// XDG base directories' default), else `./state`. A relative value is ignored, as the XDG
/// specification says.
pub fn state_dir_for(xdg_state_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(state) = absolute(xdg_state_home) {
        state.join("orchestrator-provider")
    } else if let Some(home) = absolute(home) {
        home.join(".local/state/orchestrator-provider")
    } else {
        PathBuf::from("./state")
    }
}

/// The daemon's HTTP server.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// The base URL under which Backstage reaches this server; default `http://<listen>`.
    pub public_base_url: Option<String>,
    /// Connections served at once; more wait for a free one, except the probes (`/healthz`,
    /// `/readyz`, `/metrics`), which have reserved connections of their own. Lowered to what
    /// the process's open-file limit allows.
    pub max_connections: usize,
    /// A request's head (request line and headers) must arrive within this time from the
    /// moment the server waits for it, or the connection is closed (slowloris); this is also
    /// how long a kept-alive connection may sit idle between requests.
    pub header_read_timeout: Seconds,
    /// A connection on which nothing moves (no byte read or written) for this long is closed
    /// (a request body or a response read that stalls).
    pub idle_timeout: Seconds,
    /// A request's body must have arrived whole within this time from the end of its head, or
    /// the request is answered 408 and its connection closed (a body trickled a byte at a
    /// time). Responses are not bounded by it.
    pub body_read_timeout: Seconds,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7070".into(),
            public_base_url: None,
            max_connections: 256,
            header_read_timeout: Seconds(10.0),
            idle_timeout: Seconds(60.0),
            body_read_timeout: Seconds(30.0),
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
    /// Bound on one cycle's catalog work (adoption, validation, the calls that apply a plan).
    /// What was not done by then is reported and done by the next cycle.
    pub cycle_timeout: Seconds,
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
            cycle_timeout: Seconds(60.0),
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
    /// Without a trigger token, `POST /sync` forces at most one full re-read per this interval;
    /// requests beyond it get 429 with `Retry-After`.
    pub trigger_min_interval: Seconds,
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
            trigger_min_interval: Seconds(30.0),
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
            diagrams: DiagramsConfig::default(),
            state_dir: default_state_dir(),
        }
    }
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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Environment variable holding a token `POST /events` then requires
    /// (`Authorization: Bearer <token>`); unset: open, as Knative brokers post without one.
    pub token_env: Option<String>,
    /// File holding that token.
    pub token_file: Option<PathBuf>,
    /// How long an instance event's (`id`, `source`) is remembered, so that a redelivery is not
    /// counted twice.
    pub dedup_window: Seconds,
    /// At most this many events are remembered for that (the oldest are forgotten first).
    pub dedup_max_events: usize,
    /// Instances whose start was seen and whose end was not, tracked for the active gauge and
    /// the durations; past this many, the oldest start is forgotten.
    pub max_tracked_instances: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            token_env: None,
            token_file: None,
            dedup_window: Seconds(600.0),
            dedup_max_events: 100_000,
            max_tracked_instances: 100_000,
        }
    }
}

/// Workflow diagrams: `GET /diagrams/<name>.svg` on the daemon, `<name>.svg` in `export --out`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DiagramsConfig {
    /// The URL under which a *browser* reaches the daemon's `/diagrams/` paths (a Backstage
    /// proxy route, an Ingress); templates link to their diagram only when it is set.
    pub base_url: Option<String>,
    /// Rendered diagrams the daemon keeps, in bytes of SVG at most.
    pub cache_bytes: usize,
}

impl Default for DiagramsConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            cache_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A shared secret from an environment variable or a file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretConfig {
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
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
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
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
    /// Form widgets the stock scaffolder does not have.
    pub widgets: WidgetsConfig,
    /// The Backstage app's base URL: each template links to its workflow's Orchestrator page.
    pub orchestrator_url: Option<String>,
}

/// `templates.widgets`: what happens to form widgets the stock scaffolder does not register.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WidgetsConfig {
    pub policy: WidgetPolicyName,
    /// Widget names kept as they are whatever the policy (registered in your scaffolder).
    pub allow: Vec<String>,
}

/// `templates.widgets.policy`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum WidgetPolicyName {
    /// Replace each by the closest plain rendering the stock Create page has.
    #[default]
    Portable,
    /// Copy them as they are.
    Keep,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            namespace: "default".into(),
            spec_type: "workflow".into(),
            owner: "unknown".into(),
            owner_rules: Vec::new(),
            system: None,
            lifecycle: None,
            action: "orchestrator:workflow:run".into(),
            widgets: WidgetsConfig::default(),
            orchestrator_url: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_state_dir_is_the_xdg_state_home_else_home_local_state() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            state_dir_for(os("/x/state"), os("/home/me")),
            PathBuf::from("/x/state/orchestrator-provider")
        );
        assert_eq!(
            state_dir_for(None, os("/home/me")),
            PathBuf::from("/home/me/.local/state/orchestrator-provider")
        );
        // Relative values are not the platform's: ignored.
        assert_eq!(
            state_dir_for(os("rel"), os("/home/me")),
            PathBuf::from("/home/me/.local/state/orchestrator-provider")
        );
        assert_eq!(state_dir_for(os(""), None), PathBuf::from("./state"));
    }
}
