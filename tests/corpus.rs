//! The mapper over ~650 real workflow files (`../shared/corpus/workflows`), when that folder
//! exists; the test prints that it skipped otherwise.
//!
//! The counts asserted here were checked by hand against the corpus's own `INDEX.tsv`: with the
//! default globs, 439 `*.sw.*` files hold 437 workflow documents (436 plain, 1 SonataFlow CR) of
//! 244 distinct ids; 2 files are invalid YAML, 1 document has no id, 1 (`invalid`) has no
//! states, and 192 documents repeat an id defined in an earlier file.

#[path = "support/shared.rs"]
mod shared;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use orchestrator_provider::config::{Config, DirSourceConfig, SourceConfig};
use orchestrator_provider::entity::is_valid_name;
use orchestrator_provider::pipeline;
use orchestrator_provider::workflow::Severity;

fn corpus() -> Option<PathBuf> {
    let path = shared::dir().join("corpus/workflows");
    if path.is_dir() {
        Some(path)
    } else {
        println!(
            "skipped: {} does not exist (set {} to the shared folder)",
            path.display(),
            shared::SHARED_ENV
        );
        None
    }
}

fn config(root: &Path, include: &[&str]) -> Config {
    Config {
        sources: vec![SourceConfig::Dir(DirSourceConfig {
            path: root.to_owned(),
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: Vec::new(),
            watch: false,
        })],
        ..Config::default()
    }
}

fn check_entities(outcome: &pipeline::Outcome) {
    let mut names = HashSet::new();
    for t in &outcome.templates {
        let v = serde_json::to_value(t).unwrap();
        let name = v["metadata"]["name"].as_str().unwrap();
        assert!(is_valid_name(name), "invalid name {name:?}");
        assert!(
            names.insert(name.to_ascii_lowercase()),
            "duplicate name {name:?}"
        );
        assert_eq!(v["apiVersion"], "scaffolder.backstage.io/v1beta3");
        assert_eq!(v["kind"], "Template");
        let annotations = &v["metadata"]["annotations"];
        let id = annotations["orchestrator.io/workflow-id"].as_str().unwrap();
        assert_eq!(
            annotations["orchestrator.io/workflows"],
            serde_json::to_string(&[id]).unwrap()
        );
        for key in [
            "orchestrator.io/workflow-version",
            "orchestrator.io/source-sha256",
        ] {
            assert!(annotations[key].is_string(), "{name}: no {key}");
        }
        assert!(v["metadata"]["title"].is_string());
        assert!(
            v["metadata"]["tags"]
                .as_array()
                .unwrap()
                .contains(&"orchestrator".into())
        );
        assert!(v["spec"]["parameters"].is_array());
        assert_eq!(v["spec"]["steps"][0]["action"], "orchestrator:workflow:run");
        assert_eq!(
            v["spec"]["steps"][0]["input"]["parameters"],
            "${{ parameters }}"
        );
        assert_eq!(v["spec"]["type"], "workflow");
    }
}

#[test]
fn corpus_with_default_globs_gives_the_counts_checked_by_hand() {
    let Some(root) = corpus() else { return };
    let outcome = pipeline::run(&config(
        &root,
        &["**/*.sw.json", "**/*.sw.yaml", "**/*.sw.yml"],
    ));
    check_entities(&outcome);
    let errors = |needle: &str| {
        outcome
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error && d.message.contains(needle))
            .count()
    };
    assert_eq!(outcome.templates.len(), 243, "{}", outcome.summary());
    assert_eq!(errors("duplicate workflow id"), 192);
    assert_eq!(errors("invalid YAML"), 2);
    assert_eq!(errors("has no `id`"), 1);
    assert_eq!(errors("has no `states`"), 1);
    assert_eq!(outcome.errors(), 196);
    // One warning per form field fitted to the stock Create page, in the 4 workflows that use
    // widgets it lacks: largeschema 26 and its `ui:order`, dynamic-course-select 11,
    // dynamic_schema 4, extendable-workflow 2.
    let mut form: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &outcome.diagnostics {
        if d.severity == Severity::Warning && d.message.starts_with("form field `") {
            *form.entry(d.workflow_id.as_deref().unwrap()).or_default() += 1;
        }
    }
    assert_eq!(
        form,
        BTreeMap::from([
            ("dynamic-course-select", 11),
            ("dynamic_schema", 4),
            ("extendable-workflow", 2),
            ("largeschema", 27)
        ])
    );
    assert_eq!(outcome.warnings(), 2 + 44);
    // Each duplicate names the file that won.
    assert!(
        outcome
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("duplicate"))
            .all(|d| d.message.contains("also defined in ") && d.workflow_id.is_some())
    );
}

#[test]
fn every_yaml_and_json_file_of_the_corpus_yields_entities_or_per_file_errors() {
    let Some(root) = corpus() else { return };
    let outcome = pipeline::run(&config(&root, &["**/*.json", "**/*.yaml", "**/*.yml"]));
    check_entities(&outcome);
    // 4 unparseable files (INDEX.tsv: kind = unparseable), 30 documents without an id.
    let count = |needle: &str| {
        outcome
            .diagnostics
            .iter()
            .filter(|d| d.message.contains(needle))
            .count()
    };
    assert_eq!(count("invalid YAML"), 4);
    assert_eq!(count("has no `id`"), 30);
    assert!(outcome.templates.len() > 250, "{}", outcome.summary());
    for d in &outcome.diagnostics {
        assert!(!d.file.is_empty() && !d.message.is_empty());
    }
}

#[test]
fn corpus_export_is_deterministic() {
    let Some(root) = corpus() else { return };
    let config = config(&root, &["**/*.sw.json", "**/*.sw.yaml", "**/*.sw.yml"]);
    let a = orchestrator_provider::entity::to_yaml(&pipeline::run(&config).templates);
    let b = orchestrator_provider::entity::to_yaml(&pipeline::run(&config).templates);
    assert_eq!(a, b);
}

#[test]
fn corpus_export_a_batch_at_a_time_is_the_export_of_everything_at_once() {
    let Some(root) = corpus() else { return };
    // The corpus twice: every id of the second source is a duplicate, read but not mapped.
    let mut config = config(&root, &["**/*.json", "**/*.yaml", "**/*.yml"]);
    config.sources.extend(config.sources.clone());
    let all = pipeline::run(&config);
    let mut templates = Vec::new();
    let report = pipeline::oneshot::OneShot::read(&config)
        .run(|batch| {
            templates.extend(batch.templates);
            Ok::<_, ()>(())
        })
        .unwrap();
    assert!(templates.len() > pipeline::oneshot::BATCH);
    assert_eq!(
        orchestrator_provider::entity::to_yaml(&templates),
        orchestrator_provider::entity::to_yaml(&all.templates)
    );
    assert_eq!(report.diagnostics, all.diagnostics);
}
