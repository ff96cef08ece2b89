//! The Kubernetes manifests under `deploy/` as `kubectl kustomize` renders them, for the tests
//! that check them (`tests/deploy_*.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The kustomizations a cluster applies: the base, each overlay, the monitoring objects.
pub const KUSTOMIZATIONS: &[&str] = &[
    "base",
    "overlays/backstage",
    "overlays/rhdh-sonataflow",
    "monitoring",
];

/// The kustomizations that run the daemon.
pub const DEPLOYMENTS: &[&str] = &["base", "overlays/backstage", "overlays/rhdh-sonataflow"];

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// `kubectl kustomize deploy/<dir>`, every object as JSON.
pub fn render(dir: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(deploy_dir().join(dir))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kubectl (it renders deploy/{dir}; install kubectl): {e}")
        });
    assert!(
        out.status.success(),
        "kubectl kustomize deploy/{dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 YAML");
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("deploy/{dir} rendered invalid YAML: {e}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// The one object of `kind` (panics unless exactly one).
pub fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = all(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// Every object of `kind`.
pub fn all<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// A string field, or a panic naming it.
pub fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}
