//! The workflow monitoring under `deploy/`: the Grafana dashboard
//! (`deploy/monitoring/grafana-dashboard.json`), the alert group `orchestrator-provider-workflows`
//! (`deploy/monitoring/prometheus-rules.yaml`) and the Knative Triggers that bring SonataFlow's
//! instance events to the daemon (`deploy/overlays/rhdh-sonataflow/triggers-instance-events.yaml`).
//!
//! Every metric a dashboard query or an alert names must be one a fresh daemon exports (the real
//! binary, before any event); every query must be valid PromQL and the alert must fire exactly
//! when it should, both checked by `promtool` (Debian's `prometheus` package; `.ci/run` installs
//! it).

#[path = "support/metrics.rs"]
mod metrics_text;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use orchestrator_provider::instances::{event_type, is_instance_event};
use serde_json::{Value, json};

const GROUP: &str = "orchestrator-provider-workflows";
const ALERT: &str = "OrchestratorWorkflowFailureRatioHigh";

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn dashboard() -> Value {
    let path = deploy("monitoring/grafana-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `PrometheusRule` (its YAML as JSON).
fn prometheus_rule() -> Value {
    let path = deploy("monitoring/prometheus-rules.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn workflow_group() -> Value {
    let rule = prometheus_rule();
    let groups = rule["spec"]["groups"].as_array().expect("spec.groups");
    groups
        .iter()
        .find(|g| g["name"] == GROUP)
        .unwrap_or_else(|| panic!("no group {GROUP} in prometheus-rules.yaml"))
        .clone()
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// Every PromQL expression of the dashboard: each target's `expr` and the variables' queries
/// (`label_values(metric, label)` names a metric too).
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr.to_owned()));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if variable["type"] == "query" {
            let query = variable["query"]["query"].as_str().expect("query.query");
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .and_then(|q| q.rsplit_once(','))
                .map(|(metric, _label)| metric.trim())
                .expect("a label_values(metric, label) query");
            out.push((format!("variable {}", variable["name"]), inner.to_owned()));
        }
    }
    out
}

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers,
/// ranges and grouping lists that are neither a function, an aggregation nor a keyword.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_until = |i: &mut usize, close: char| {
        while *i < chars.len() && chars[*i] != close {
            if chars[*i] == '"' {
                *i += 1;
                while *i < chars.len() && chars[*i] != '"' {
                    *i += if chars[*i] == '\\' { 2 } else { 1 };
                }
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' => skip_until(&mut i, '}'),
            '[' => skip_until(&mut i, ']'),
            '0'..='9' | '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let rest: String = chars[next..].iter().take(8).collect();
                // An aggregation opens its argument, or its grouping (`sum by (x) (...)`).
                let opens = chars.get(next) == Some(&'(')
                    || ["by ", "by(", "without ", "without("]
                        .iter()
                        .any(|g| rest.starts_with(g));
                match word.as_str() {
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right" => {
                        if opens {
                            i = next + 1;
                            skip_until(&mut i, ')');
                        }
                    }
                    "and" | "or" | "unless" | "offset" | "bool" | "inf" | "nan" => {}
                    _ if opens => {} // a function or an aggregation
                    _ => {
                        names.insert(word);
                    }
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn the_promql_reader_finds_metrics_and_only_metrics() {
    let names = promql_metric_names(
        r#"histogram_quantile(0.95, sum by (le, workflow) (rate(a_bucket{workflow=~"x|y", b!="}"}[$__rate_interval]))) / on (workflow) group_left b_total offset 5m > bool 1e3 and c"#,
    );
    assert_eq!(
        names,
        ["a_bucket", "b_total", "c"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}

/// Runs promtool; panics with how to get it when it is not installed.
fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool is needed: `apt-get install prometheus` (Debian), as .ci/run does");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_use_is_exported_by_a_fresh_daemon() {
    let exported = metrics_text::fresh_daemon_metric_names().await;
    let mut queries = dashboard_queries(&dashboard());
    for rule in workflow_group()["rules"].as_array().unwrap() {
        queries.push((
            rule["alert"].as_str().unwrap().to_owned(),
            rule["expr"].as_str().unwrap().to_owned(),
        ));
    }
    assert!(queries.len() > 20, "{} queries", queries.len());
    for (what, expr) in &queries {
        let names = promql_metric_names(expr);
        assert!(!names.is_empty(), "{what}: no metric in {expr}");
        for name in names {
            assert!(
                exported.contains(&name),
                "{what}: `{name}` is not exported by a fresh daemon (it exports {exported:?})"
            );
        }
    }
    // The instance series carry the label the dashboard and the alert select and group by.
    let text = metrics_text::fresh_daemon_metrics().await;
    for workflow in ["onboarding", "other"] {
        assert!(
            text.contains(&format!(
                "orchestrator_provider_workflow_instances_failed_total{{workflow=\"{workflow}\"}} 0"
            )),
            "{workflow}"
        );
    }
}

/// Grafana's variables replaced by what they expand to, every query is checked by promtool as a
/// recording rule.
#[test]
fn every_dashboard_query_is_valid_promql() {
    let queries = dashboard_queries(&dashboard());
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$__range", "6h")
                .replace("$workflow", ".*");
            assert!(!expr.contains('$'), "an unknown variable in {expr}");
            json!({"record": format!("dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yaml");
    std::fs::write(
        &file,
        serde_saphyr::to_string(&json!({"groups": [{"name": "dashboard", "rules": rules}]}))
            .unwrap(),
    )
    .unwrap();
    let out = promtool(&["check", "rules", "dashboard-queries.yaml"], dir.path());
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{out}"
    );
}

#[test]
fn the_dashboard_puts_every_panel_on_the_prometheus_variable_without_overlaps() {
    let d = dashboard();
    assert_eq!(d["uid"], "orchestrator-provider-workflows");
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36);
    let variables: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "workflow"]);
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let titles: Vec<&str> = panels(&d)
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "{title}: id used twice"
        );
        let g = &panel["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps another panel");
            }
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"], datasource, "{title}");
        assert!(
            !panel["description"].as_str().unwrap_or("").is_empty(),
            "{title}: no description"
        );
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"], datasource, "{title}");
        }
    }
    // What the issue asks to see.
    for wanted in [
        "Instances started",
        "Instances completed",
        "Instances failed and aborted",
        "Active instances",
        "Instance duration",
        "Since the last sync",
        "Since the last catalog success",
        "Sync duration",
    ] {
        assert!(titles.contains(&wanted), "no panel {wanted:?}");
    }
}

/// The alert with promtool's own evaluator, on series with the label values a fresh daemon has:
/// a workflow failing 3 instances in 10 fires after 10 minutes; a healthy one, one with too few
/// starts and `other` do not.
#[test]
fn the_failure_ratio_alert_fires_for_a_failing_workflow_only() {
    let group = workflow_group();
    let rule = group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == ALERT)
        .unwrap_or_else(|| panic!("no alert {ALERT}"))
        .clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_saphyr::to_string(&json!({"groups": [group]})).unwrap(),
    )
    .unwrap();
    promtool(&["check", "rules", "rules.yaml"], dir.path());

    let series = |name: &str, workflow: &str, values: &str| {
        json!({
            "series": format!("orchestrator_provider_workflow_instances_{name}_total{{namespace=\"orchestrator-provider\",workflow=\"{workflow}\"}}"),
            "values": values,
        })
    };
    let annotations = |workflow: &str, percent: &str| -> Value {
        let render = |text: &str| {
            text.replace("{{ $labels.workflow }}", workflow)
                .replace("{{ $value | humanizePercentage }}", percent)
        };
        json!({
            "summary": render(rule["annotations"]["summary"].as_str().unwrap()),
            "description": render(rule["annotations"]["description"].as_str().unwrap()),
        })
    };
    let tests = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                // 10 starts a minute, 3 of them fail.
                series("started", "onboarding", "0+10x60"),
                series("failed", "onboarding", "0+3x60"),
                // Healthy.
                series("started", "provision-database", "0+10x60"),
                series("failed", "provision-database", "0+0x60"),
                // Every instance fails, but 3 starts in 30 minutes are too few to say.
                series("started", "hello-world", "0+0.1x60"),
                series("failed", "hello-world", "0+0.1x60"),
                // Not one workflow.
                series("started", "other", "0+10x60"),
                series("failed", "other", "0+10x60"),
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": ALERT, "exp_alerts": []},
                {"eval_time": "45m", "alertname": ALERT, "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "namespace": "orchestrator-provider", "workflow": "onboarding"},
                    "exp_annotations": annotations("onboarding", "30%"),
                }]},
            ],
        }],
    });
    std::fs::write(
        dir.path().join("tests.yaml"),
        serde_saphyr::to_string(&tests).unwrap(),
    )
    .unwrap();
    let out = promtool(&["test", "rules", "tests.yaml"], dir.path());
    assert!(out.contains("SUCCESS"), "{out}");
}

/// One Trigger per instance event type the daemon counts, each filtering on that exact type and
/// delivering to the daemon's `POST /events`, from one broker.
#[test]
fn one_trigger_per_counted_instance_event_type_delivers_to_events() {
    let path = deploy("overlays/rhdh-sonataflow/triggers-instance-events.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let triggers: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut types = BTreeSet::new();
    let mut brokers = BTreeSet::new();
    let mut names = BTreeSet::new();
    for t in &triggers {
        assert_eq!(t["apiVersion"], "eventing.knative.dev/v1");
        assert_eq!(t["kind"], "Trigger");
        assert!(names.insert(t["metadata"]["name"].as_str().unwrap().to_owned()));
        let attributes = t["spec"]["filter"]["attributes"].as_object().unwrap();
        assert_eq!(attributes.len(), 1, "filter on the type alone: {t}");
        let ty = attributes["type"].as_str().unwrap();
        assert!(is_instance_event(ty), "{ty} is not an instance event type");
        assert!(types.insert(ty.to_owned()), "{ty} twice");
        brokers.insert((
            t["metadata"]["namespace"].as_str().unwrap().to_owned(),
            t["spec"]["broker"].as_str().unwrap().to_owned(),
        ));
        let uri = t["spec"]["subscriber"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("http://") && uri.ends_with("/events"),
            "{uri}"
        );
    }
    assert_eq!(
        types,
        [event_type::MULTIPLE, event_type::STATE, event_type::ERROR]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert_eq!(brokers.len(), 1, "{brokers:?}");
}
