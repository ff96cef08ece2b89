//! Checks a built configuration can be used: globs compile, URLs are http(s), numbers are in
//! range, the namespace is a Backstage name. Each error names the key and its origin.

use super::error::{ConfigError, Origin};
use super::model::Config;
use super::redact::without_userinfo;
use super::sources::SourceConfig;

impl Config {
    /// `origin_of` says where a key's value came from.
    pub(super) fn validate(&self, origin_of: impl Fn(&str) -> Origin) -> Result<(), ConfigError> {
        let err = |key: String, message: String| ConfigError {
            origin: origin_of(&key),
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
                            format!("{:?} is not an http(s) URL", without_userinfo(&d.url)),
                        ));
                    }
                    if has_userinfo(&d.url) {
                        return Err(err(format!("sources[{i}].url"), USERINFO.into()));
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
            (
                "templates.orchestratorUrl",
                &self.templates.orchestrator_url,
            ),
        ] {
            let Some(u) = url else { continue };
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(err(
                    key.into(),
                    format!("`{}` is not an http(s) URL", without_userinfo(u)),
                ));
            }
            if has_userinfo(u) {
                return Err(err(key.into(), USERINFO.into()));
            }
        }
        if let Some(url) = &self.diagrams.base_url {
            let host = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
            if host.is_none_or(|h| h.is_empty() || h.contains('@')) {
                return Err(err(
                    "diagrams.baseUrl".into(),
                    format!(
                        "{:?} is not an absolute http(s) URL without credentials: it is the address a browser opens, e.g. https://backstage.example.com/api/proxy/orchestrator-provider",
                        without_userinfo(url)
                    ),
                ));
            }
        }
        if self.catalog.token_env.is_some() && self.catalog.token_file.is_some() {
            return Err(err(
                "catalog.tokenEnv".into(),
                "set `tokenEnv` or `tokenFile`, not both".into(),
            ));
        }
        for (key, value) in [
            ("events.dedupMaxEvents", self.events.dedup_max_events),
            (
                "events.maxTrackedInstances",
                self.events.max_tracked_instances,
            ),
        ] {
            if value == 0 || value > 10_000_000 {
                return Err(err(
                    key.into(),
                    "must be between 1 and 10000000 (each takes about 60 bytes)".into(),
                ));
            }
        }
        if self.events.dedup_window.0 > 7.0 * 86_400.0 {
            return Err(err(
                "events.dedupWindow".into(),
                "must be at most 7 days (168h)".into(),
            ));
        }
        for (key, value) in [
            (
                "server.headerReadTimeout",
                self.server.header_read_timeout.0,
            ),
            ("server.idleTimeout", self.server.idle_timeout.0),
            ("server.bodyReadTimeout", self.server.body_read_timeout.0),
            ("catalog.cycleTimeout", self.catalog.cycle_timeout.0),
        ] {
            if value < 0.1 {
                return Err(err(key.into(), "must be at least 100ms".into()));
            }
        }
        if self.server.max_connections == 0 {
            return Err(err(
                "server.maxConnections".into(),
                "must be at least 1".into(),
            ));
        }
        if self.parsing.max_file_bytes == 0 {
            return Err(err(
                "parsing.maxFileBytes".into(),
                "must be greater than 0".into(),
            ));
        }
        if self.templates.namespace.is_empty() || !is_valid_namespace(&self.templates.namespace) {
            return Err(err(
                "templates.namespace".into(),
                "must be a valid Backstage namespace (letters, digits, `-`, `_`, `.`)".into(),
            ));
        }
        Ok(())
    }
}

/// Why a URL with `user:password@` is refused: the password would be shown wherever the URL
/// is, and sent beside the token.
const USERINFO: &str = "must not carry credentials (`user:password@`): they would be sent beside the token and shown wherever the URL is; put the token in `tokenEnv` or `tokenFile` and remove them from the URL";

/// Whether an http(s) URL carries `user[:password]@` before its host.
fn has_userinfo(url: &str) -> bool {
    without_userinfo(url) != url
}

/// Whether `s` is a valid Backstage namespace (the rule of every entity name): runs of ASCII
/// letters and digits joined by single `-`, `_` or `.`, 1 to 63 characters. The mapper has the
/// same rule for names (`entity::is_valid_name`); a test there keeps the two equal.
pub fn is_valid_namespace(s: &str) -> bool {
    if s.is_empty() || s.len() > 63 {
        return false;
    }
    let mut after_word = false;
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            after_word = true;
        } else if matches!(b, b'-' | b'_' | b'.') && after_word {
            after_word = false;
        } else {
            return false;
        }
    }
    after_word
}
