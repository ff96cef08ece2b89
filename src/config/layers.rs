//! Layering: defaults < a YAML file < environment < flags, remembering where each key came
//! from so that every error can name it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{ConfigError, Origin};
use super::model::Config;
use super::redact::scrub_userinfo;
use super::sources::SourceConfig;

/// The prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "ORCHESTRATOR_PROVIDER__";

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
                // The parser may quote a value: a URL in it loses its credentials.
                error(scrub_userinfo(&format!(
                    "invalid YAML: {}",
                    e.to_string().lines().next().unwrap_or("")
                )))
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
                message: scrub_userinfo(&message),
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
            // serde quotes a mistyped value in full (`invalid type: string "http://u:pw@h"`):
            // a URL in it loses its credentials.
            let message = scrub_userinfo(&e.inner().to_string());
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
        config.validate(|key| self.origin_of(key))?;
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
    use crate::config::model::Format;
    use crate::config::sources::{DirSourceConfig, Publish};
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
    fn credentials_in_the_urls_the_daemon_calls_are_refused_without_showing_them() {
        for (text, key) in [
            (
                "catalog:\n  baseUrl: http://admin:pw-1234@backstage:7007\n",
                "catalog.baseUrl",
            ),
            (
                "server:\n  publicBaseUrl: http://u:pw-1234@me:7070\n",
                "server.publicBaseUrl",
            ),
            (
                "sources:\n  - type: dataIndex\n    url: https://u:pw-1234@di\n",
                "sources[0].url",
            ),
        ] {
            let (_d, path) = file(text);
            let err = Layers::new().file(&path).unwrap().build().unwrap_err();
            assert_eq!(err.key, key);
            let message = err.to_string();
            assert!(message.contains("must not carry credentials"), "{message}");
            assert!(!message.contains("pw-1234"), "{message}");
        }
        let (_d, path) = file("catalog:\n  baseUrl: ftp://admin:pw-1234@backstage\n");
        let message = Layers::new()
            .file(&path)
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(!message.contains("pw-1234"), "{message}");
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
            [SourceConfig::Dir(DirSourceConfig::new("/srv/flows"))]
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
    fn widget_policy_and_orchestrator_url_are_read_from_file_and_env() {
        use crate::config::model::WidgetPolicyName;
        let (_d, path) = file(
            "templates:\n  widgets:\n    policy: keep\n    allow: [CountryWidget]\n  orchestratorUrl: https://rhdh.example.com/\n",
        );
        let c = Layers::new().file(&path).unwrap().build().unwrap();
        assert_eq!(c.templates.widgets.policy, WidgetPolicyName::Keep);
        assert_eq!(c.templates.widgets.allow, ["CountryWidget"]);
        assert_eq!(
            c.templates.orchestrator_url.as_deref(),
            Some("https://rhdh.example.com/")
        );
        let c = Layers::new().build().unwrap();
        assert_eq!(c.templates.widgets.policy, WidgetPolicyName::Portable);
        assert!(c.templates.widgets.allow.is_empty() && c.templates.orchestrator_url.is_none());
        let c = Layers::new()
            .env([(
                "ORCHESTRATOR_PROVIDER__TEMPLATES__WIDGETS__POLICY".to_owned(),
                "keep".to_owned(),
            )])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.templates.widgets.policy, WidgetPolicyName::Keep);
    }

    #[test]
    fn a_bad_widget_policy_or_orchestrator_url_names_the_key() {
        let (_d, path) = file("templates:\n  widgets:\n    policy: strict\n");
        let err = Layers::new().file(&path).unwrap().build().unwrap_err();
        assert_eq!(err.key, "templates.widgets.policy");
        assert!(err.to_string().contains("portable"), "{err}");
        let (_d, path) = file("templates:\n  orchestratorUrl: rhdh.example.com\n");
        let err = Layers::new().file(&path).unwrap().build().unwrap_err();
        assert_eq!(err.key, "templates.orchestratorUrl");
    }

    #[test]
    fn the_diagram_base_url_must_be_an_absolute_url_without_credentials() {
        for bad in [
            "/api/proxy/x",
            "ftp://h/x",
            "https://",
            "https://user:pw@h/x",
        ] {
            let (_d, path) = file(&format!("diagrams:\n  baseUrl: '{bad}'\n"));
            let err = Layers::new().file(&path).unwrap().build().unwrap_err();
            assert_eq!(err.key, "diagrams.baseUrl", "{bad}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
        let (_d, path) = file(
            "diagrams:\n  baseUrl: https://backstage.example.com/api/proxy/op\n  cacheBytes: 1000\n",
        );
        let c = Layers::new().file(&path).unwrap().build().unwrap();
        assert_eq!(
            c.diagrams.base_url.as_deref(),
            Some("https://backstage.example.com/api/proxy/op")
        );
        assert_eq!(c.diagrams.cache_bytes, 1000);
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.yaml");
        let config = Layers::new().file(&path).unwrap().build().unwrap();
        assert_eq!(config.events, super::super::model::EventsConfig::default());
    }

    #[test]
    fn instance_event_bounds_are_checked_and_named() {
        let (_d, path) = file("events:\n  dedupWindow: 1h\n  maxTrackedInstances: 5\n");
        let config = Layers::new().file(&path).unwrap().build().unwrap();
        assert_eq!(config.events.dedup_window.0, 3600.0);
        assert_eq!(config.events.max_tracked_instances, 5);
        assert_eq!(config.events.dedup_max_events, 100_000);
        for (text, key) in [
            (
                "events:\n  maxTrackedInstances: 0\n",
                "events.maxTrackedInstances",
            ),
            ("events:\n  dedupMaxEvents: 0\n", "events.dedupMaxEvents"),
            ("events:\n  dedupWindow: 200h\n", "events.dedupWindow"),
        ] {
            let (_d, path) = file(text);
            let err = Layers::new().file(&path).unwrap().build().unwrap_err();
            assert_eq!(err.key, key, "{err}");
        }
    }
}
