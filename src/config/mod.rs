//! Configuration: one typed [`Config`], from defaults < a YAML file < environment < flags.
//!
//! Keys are camelCase, as in a Backstage app-config. Environment variables override the file
//! with `ORCHESTRATOR_PROVIDER__<KEY>__<SUBKEY>` (segments in SCREAMING_SNAKE_CASE, list items by
//! index: `ORCHESTRATOR_PROVIDER__SOURCES__0__PATH`); their values are read as YAML, so a list
//! can be given as `[a, b]`. Unknown keys are errors, and every error names the key and where its
//! value came from, so that a typo never silently falls back to a default.
//!
//! The bottom layer of the crate: it imports no other module of it (a test keeps it so). It
//! holds plain values and checks them; what they become (the mapper's options, parse limits,
//! secrets read from where the configuration says) is decided by the modules that use them.
//!
//! - `model`: [`Config`] and its sections, with their defaults.
//! - `sources`: the `sources` section.
//! - `duration`: [`Seconds`], durations as written (`500ms`, `5m`).
//! - `layers`: [`Layers`], merging file, environment and flags and remembering origins.
//! - `validate`: the checks [`Layers::build`] runs.
//! - `error`: [`ConfigError`] and [`Origin`].
//! - `redact`: [`without_userinfo`] and [`scrub_userinfo`], URLs without their credentials.

mod duration;
mod error;
mod layers;
mod model;
mod redact;
mod sources;
mod validate;

pub use duration::Seconds;
pub use error::{ConfigError, Origin};
pub use layers::{ENV_PREFIX, Layers};
pub use model::{
    CatalogConfig, Config, DEFAULT_MAX_FILE_BYTES, DiagramsConfig, EventsConfig, ExportConfig,
    Format, LogFormat, LoggingConfig, OwnerRuleConfig, ParsingConfig, SecretConfig, ServerConfig,
    SyncConfig, TemplatesConfig, WebhooksConfig, WidgetPolicyName, WidgetsConfig, state_dir_for,
};
pub use redact::{scrub_userinfo, without_userinfo};
pub use sources::{
    DEFAULT_INCLUDE, DataIndexSourceConfig, DirSourceConfig, GitAuthConfig, GitSourceConfig,
    Publish, SourceConfig, TokenAuthConfig,
};
pub use validate::is_valid_namespace;
