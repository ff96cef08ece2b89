//! Configuration loading: a YAML file (the input before the first `0xFF`) and environment
//! variables (one `NAME=value` per line after it, `ORCHESTRATOR_PROVIDER__` prepended), built
//! into a typed configuration or an error naming the key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use orchestrator_provider::config::Layers;
use orchestrator_provider_fuzz::split;

fn file() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("config.yaml")
    })
}

fuzz_target!(|data: &[u8]| {
    let (yaml, env) = split(data);
    std::fs::write(file(), yaml).unwrap();
    let vars: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("ORCHESTRATOR_PROVIDER__{k}"), v.to_owned()))
        .collect();
    let mut layers = Layers::new();
    if layers.file(file()).is_err() {
        return;
    }
    if layers.env(vars).is_err() {
        return;
    }
    if let Ok(config) = layers.build() {
        let _ = orchestrator_provider::entity::MapOptions::from_config(&config.templates);
        let _ = orchestrator_provider::source::parse_limits(&config);
    }
});
