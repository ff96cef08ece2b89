//! The monitoring under `deploy/monitoring`: every metric its alert rules name is one a freshly
//! started daemon exports (before anything failed, so every alert has its series from the
//! start), and each alert fires when it should and not before, run by Prometheus' own
//! `promtool test rules` on series with the label values a fresh daemon really has.
//!
//! Needs `kubectl` and `promtool` (Debian's `prometheus` package; `.ci/run` installs it).

#[path = "support/fresh_daemon.rs"]
mod fresh_daemon;
#[path = "support/manifests.rs"]
mod manifests;
#[path = "support/metrics.rs"]
mod metrics_text;

use std::collections::BTreeSet;
use std::process::Command;

use fresh_daemon::Fresh;
use manifests::{one, render, text};
use serde_json::{Value, json};

const PREFIX: &str = "orchestrator_provider_";

/// The daemon of the base deployment (a git source, a catalog), started fresh with dummy
/// secrets: its first `/metrics`.
fn fresh_metrics() -> String {
    let objects = render("base");
    let config_map = one(&objects, "ConfigMap");
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), text(config_map, "/data/config.yaml")).unwrap();
    let env: Vec<(String, String)> =
        one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (text(e, "/name").to_owned(), "test-value".to_owned()))
            .collect();
    let daemon = Fresh::start(config.path(), &env);
    daemon.metrics()
}

fn rules() -> Value {
    one(&render("monitoring"), "PrometheusRule")["spec"].clone()
}

/// Every `orchestrator_provider_*` name in a text.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The fresh daemon's samples of `name`, as promtool series selectors with their values.
fn samples<'a>(metrics: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series, value.parse().ok()?))
        })
        .collect()
}

#[test]
fn every_metric_the_rules_name_is_exported_by_a_fresh_daemon() {
    let exported = metrics_text::names(&fresh_metrics());
    let rules = rules();
    let named = names_in(&rules.to_string());
    assert!(named.len() >= 4, "the rules name {named:?}");
    let missing: Vec<&String> = named.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "deploy/monitoring names metrics a fresh daemon does not export: {missing:?}"
    );
}

#[test]
fn each_alert_fires_when_it_should_and_a_fresh_daemon_fires_none() {
    let metrics = fresh_metrics();
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("rules.json");
    std::fs::write(&rules_file, rules().to_string()).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules_file)
        .output()
        .expect("promtool (Debian package prometheus) is needed");
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The alerts' timing and labels are tested below; their annotations (templates checked by
    // `check rules` above) would only repeat the rules' text.
    let mut bare = rules();
    for group in bare["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            rule.as_object_mut().unwrap().remove("annotations");
        }
    }
    let bare_file = dir.path().join("rules-without-annotations.json");
    std::fs::write(&bare_file, bare.to_string()).unwrap();

    // The series a fresh daemon has, with its label values.
    let failing = "orchestrator_provider_failing_since_timestamp_seconds";
    let fresh_failing = samples(&metrics, failing);
    let source = fresh_failing
        .iter()
        .find(|(s, _)| s.contains("what=\"source:"))
        .expect("a fresh daemon has a failing-since series per source")
        .0;
    let catalog = fresh_failing
        .iter()
        .find(|(s, _)| s.contains("what=\"catalog\""))
        .expect("a fresh daemon has a failing-since series of the catalog")
        .0;
    let labels_of = |series: &str| -> Value {
        let inner = &series[series.find('{').unwrap() + 1..series.len() - 1];
        let mut map = serde_json::Map::new();
        for pair in inner.split("\",") {
            let (k, v) = pair.split_once("=\"").unwrap();
            map.insert(k.to_owned(), json!(v.trim_end_matches('"')));
        }
        map.insert("severity".into(), json!("warning"));
        Value::Object(map)
    };
    let warning = json!({"severity": "warning"});
    let at = |minutes: u32, alert: &str, fired: Option<&Value>| {
        json!({
            "eval_time": format!("{minutes}m"),
            "alertname": alert,
            "exp_alerts": fired.map_or(json!([]), |labels| json!([{"exp_labels": labels}])),
        })
    };
    // Every series the rules use, as a fresh daemon has it, for an hour: nothing fires.
    let mut quiet = Vec::new();
    for name in names_in(&rules().to_string()) {
        for (series, value) in samples(&metrics, &name) {
            quiet.push(json!({"series": series, "values": format!("{value}x60")}));
        }
    }
    assert!(quiet.len() >= 4, "{quiet:?}");
    let alerts = [
        "OrchestratorProviderSourceFailing",
        "OrchestratorProviderCatalogFailing",
        "OrchestratorProviderDeletionsHeld",
        "OrchestratorProviderCycleStuck",
    ];
    let tests = json!({
        "rule_files": [bare_file],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": quiet,
                "alert_rule_test": alerts.iter().map(|a| at(60, a, None)).collect::<Vec<_>>(),
            },
            // A source fails from minute 5 on (failing since t = 300 s): 15 minutes later, not
            // before.
            {
                "interval": "1m",
                "input_series": [{"series": source, "values": "0x4 300x30"}],
                "alert_rule_test": [
                    at(20, alerts[0], None),
                    at(21, alerts[0], Some(&labels_of(source))),
                ],
            },
            // The catalog fails from minute 5 on: 10 minutes later.
            {
                "interval": "1m",
                "input_series": [{"series": catalog, "values": "0x4 300x30"}],
                "alert_rule_test": [
                    at(15, alerts[1], None),
                    at(16, alerts[1], Some(&labels_of(catalog))),
                ],
            },
            // Three removals held from minute 5 on: after 15 minutes of it.
            {
                "interval": "1m",
                "input_series": [{"series": "orchestrator_provider_deletions_held", "values": "0x4 3x30"}],
                "alert_rule_test": [at(19, alerts[2], None), at(20, alerts[2], Some(&warning))],
            },
            // A cycle starts at minute 0 and never ends: over 10 minutes at minute 11, held 5.
            {
                "interval": "1m",
                "input_series": [{"series": "orchestrator_provider_cycle_in_flight_seconds", "values": "0+60x30"}],
                "alert_rule_test": [at(15, alerts[3], None), at(16, alerts[3], Some(&warning))],
            },
        ],
    });
    let tests_file = dir.path().join("tests.json");
    std::fs::write(&tests_file, serde_json::to_string_pretty(&tests).unwrap()).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&tests_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules ({}):\n{}{}",
        tests_file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
