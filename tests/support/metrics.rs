//! Reading the daemon's `/metrics` (the Prometheus text format) in tests, and the metric names
//! a fresh daemon exports: every metric name `deploy/` uses (dashboard, alert rules) must be
//! one of them.
//!
//! ```ignore
//! #[path = "support/metrics.rs"]
//! mod metrics_text;
//! let samples = metrics_text::parse(&text);               // `name{a="1",b="2"}` -> value
//! let value = metrics_text::value(&samples, "x_total", &[("workflow", "onboarding")]);
//! let names = metrics_text::fresh_daemon_metric_names().await; // runs the real binary once
//! ```
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One sample per series: the series written as `name{label="value",...}` with its labels
/// sorted, and its value.
pub fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("a sample value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, labels_of(rest.trim_end_matches('}'))),
            None => (series, Vec::new()),
        };
        samples.insert(key(name, &labels), value);
    }
    samples
}

/// `name{a="1",b="2"}` with the labels sorted: how [`parse`] keys a series.
pub fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<(&str, &str)> = labels.to_vec();
    labels.sort();
    if labels.is_empty() {
        return name.to_owned();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn labels_of(text: &str) -> Vec<(&str, &str)> {
    // Label values here hold no quotes or commas (workflow ids, outcomes, reasons).
    text.split("\",")
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("label=value");
            (k, v.trim_matches('"'))
        })
        .collect()
}

/// The value of one series, 0 when it is not exported.
pub fn value(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples.get(&key(name, labels)).copied().unwrap_or(0.0)
}

/// The metric names in an exposition: each series' name, histograms also under their base name.
pub fn names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for series in parse(text).keys() {
        let name = series.split('{').next().unwrap().to_owned();
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                names.insert(base.to_owned());
            }
        }
        names.insert(name);
    }
    names
}

/// `/metrics` of a fresh daemon: the real binary, serving the bundled example workflows from a
/// folder (no catalog), read once its first snapshot is published, then stopped.
pub async fn fresh_daemon_metrics() -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let flows = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: dir\n    path: {flows:?}\n    watch: false\nserver:\n  listen: 127.0.0.1:{port}\nstateDir: {state:?}\n",
            flows = flows.display().to_string(),
            state = dir.path().join("state").display().to_string(),
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let text = loop {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            let metrics = http.get(format!("{base}/metrics")).send().await;
            break metrics
                .expect("GET /metrics")
                .text()
                .await
                .expect("a text body");
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the daemon was not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    text
}

/// The metric names a fresh daemon exports.
pub async fn fresh_daemon_metric_names() -> BTreeSet<String> {
    names(&fresh_daemon_metrics().await)
}
