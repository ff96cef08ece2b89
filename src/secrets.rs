//! Secrets: read at start from where the configuration says (an environment variable or a
//! file), held in values whose `Debug` never shows them. Nothing here logs a secret, and an
//! error names the configuration key and the variable or file, never the value. Every secret
//! read is registered with [`crate::redact`], which keeps it out of upstream text.

use std::path::Path;

use crate::config::{Config, ConfigError, Origin, SecretConfig};

/// Webhook secrets, from `webhooks.github` and `webhooks.gitlab`.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    pub github: Option<String>,
    pub gitlab: Option<String>,
    /// Larger bodies are refused with 413.
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("github", &self.github.as_ref().map(|_| "***"))
            .field("gitlab", &self.gitlab.as_ref().map(|_| "***"))
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// The catalog token, from `catalog.tokenEnv` or `catalog.tokenFile`.
pub fn catalog_token(config: &Config) -> Result<Option<String>, ConfigError> {
    read(
        "catalog.token",
        config.catalog.token_env.as_deref(),
        config.catalog.token_file.as_deref(),
    )
}

/// The token `POST /sync` requires, from `sync.triggerTokenEnv` or `sync.triggerTokenFile`.
pub fn trigger_token(config: &Config) -> Result<Option<String>, ConfigError> {
    read(
        "sync.triggerToken",
        config.sync.trigger_token_env.as_deref(),
        config.sync.trigger_token_file.as_deref(),
    )
}

/// The token `POST /events` requires, from `events.tokenEnv` or `events.tokenFile`.
pub fn events_token(config: &Config) -> Result<Option<String>, ConfigError> {
    read(
        "events.token",
        config.events.token_env.as_deref(),
        config.events.token_file.as_deref(),
    )
}

/// The webhook secrets; a forge configured without one is an error.
pub fn webhook_secrets(config: &Config) -> Result<WebhookSecrets, ConfigError> {
    let load = |forge: &str, c: &Option<SecretConfig>| -> Result<Option<String>, ConfigError> {
        let Some(c) = c else { return Ok(None) };
        let key = format!("webhooks.{forge}.secret");
        match read(&key, c.secret_env.as_deref(), c.secret_file.as_deref())? {
            Some(s) => Ok(Some(s)),
            None => Err(ConfigError {
                key: format!("webhooks.{forge}"),
                origin: Origin::Default,
                message: "set `secretEnv` or `secretFile`: deliveries are verified with it".into(),
            }),
        }
    };
    Ok(WebhookSecrets {
        github: load("github", &config.webhooks.github)?,
        gitlab: load("gitlab", &config.webhooks.gitlab)?,
        max_body_bytes: config.webhooks.max_body_bytes,
    })
}

/// Reads a secret named by an environment variable or a file; never logs its value. `key` is
/// the configuration key of the pair without its `Env`/`File` suffix (`catalog.token`).
pub fn read(
    key: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, ConfigError> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(registered(v.trim()))),
            _ => Err(ConfigError {
                key: format!("{key}Env"),
                origin: Origin::Env(var.to_owned()),
                message: format!("environment variable {var} is not set or empty"),
            }),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(registered(v.trim()))),
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

/// A secret just read, registered so that no upstream text can carry it into an error.
fn registered(secret: &str) -> String {
    crate::redact::register(secret);
    secret.to_owned()
}
