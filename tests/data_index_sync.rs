//! The Data Index as a daemon source, cycle by cycle: the daemon runs in this process (without a
//! catalog; what it serves is read from its shard documents) against the per-release Data Index
//! fixture and a workflow-service stand-in. Every test prints `skipped: ...` and passes when
//! `../shared/corpus/data-index` is absent (the fixture needs the real SDLs).

#[path = "support/data_index_fixture.rs"]
mod data_index_fixture;
#[path = "support/shared.rs"]
mod shared;
#[path = "support/workflow_service.rs"]
mod workflow_service;

use std::collections::BTreeMap;
use std::sync::Arc;

use data_index_fixture::{Fault, Fixture, Release};
use orchestrator_provider::config::Layers;
use orchestrator_provider::sink::serve::Shared;
use orchestrator_provider::sync::Daemon;
use serde_json::{Value, json};
use workflow_service::WorkflowService;

const GREETING_YAML: &str = "id: greeting\nversion: '1.0'\nspecVersion: '0.8'\nname: Greeting workflow\ndescription: YAML based greeting workflow\nannotations:\n  - workflow-type/infrastructure\ndataInputSchema: schemas/greeting.sw.input-schema.json\nstart: Greet\nstates:\n  - name: Greet\n    type: inject\n    data: {greeting: Hello}\n    end: true\n";

fn greeting_schema() -> Value {
    json!({"type": "object", "properties": {"language": {"type": "string", "enum": ["English", "Spanish"]}}})
}

fn inline_flow(id: &str, title: &str) -> String {
    json!({
        "id": id, "version": "1.0", "specVersion": "0.8", "name": title,
        "dataInputSchema": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "start": "S", "states": [{"name": "S", "type": "inject", "data": {}, "end": true}]
    })
    .to_string()
}

fn row(
    id: &str,
    version: &str,
    source: Option<&str>,
    status: Option<&str>,
    service: &str,
) -> Value {
    let mut metadata = json!({"Variable": "workflowdata"});
    if let Some(status) = status {
        metadata["status"] = json!(status);
    }
    json!({
        "id": id, "name": id, "version": version, "type": "SW",
        "endpoint": format!("{service}/{id}"), "serviceUrl": service,
        "description": format!("{id} deployed"), "annotations": [],
        "metadata": metadata, "source": source, "addons": ["source-files"]
    })
}

/// The daemon, its shared state and its temporary folder.
struct Harness {
    daemon: Daemon,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A daemon whose configuration is `sources` (YAML list items) plus a state folder.
    fn new(sources: &str, files: &[(&str, &str)]) -> Harness {
        Harness::in_dir(tempfile::tempdir().unwrap(), sources, files)
    }

    /// The same in a given folder (a restart keeps its state folder).
    fn in_dir(dir: tempfile::TempDir, sources: &str, files: &[(&str, &str)]) -> Harness {
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let file = dir.path().join("config.yaml");
        std::fs::write(
            &file,
            format!("stateDir: state\nsources:\n{sources}\nsync:\n  interval: 1h\n"),
        )
        .unwrap();
        let config = Layers::new().file(&file).unwrap().build().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let shared = Arc::new(Shared::new("http://127.0.0.1:1".into(), 4, tx, None, None));
        let daemon = Daemon::new(config, shared.clone(), None).unwrap();
        Harness {
            daemon,
            shared,
            _dir: dir,
        }
    }

    async fn cycle(&mut self) {
        self.daemon.cycle("schedule", false).await;
    }

    /// What is served, by workflow id.
    async fn served(&self) -> BTreeMap<String, Value> {
        let shards = self.shared.shards.read().await.clone();
        let mut out = BTreeMap::new();
        for shard in shards.iter().filter(|s| !s.is_empty()) {
            for t in serde_saphyr::from_multiple::<Value>(&shard.text()).unwrap() {
                let id = t["metadata"]["annotations"]["orchestrator.io/workflow-id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                out.insert(id, t);
            }
        }
        out
    }

    async fn source_error(&self) -> Option<String> {
        let status = self.shared.status.read().await.clone();
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["type"] == "dataIndex")
            .and_then(|s| s["lastError"].as_str().map(str::to_owned))
    }

    /// As `POST /events` would: a `ProcessDefinitionEvent` naming `id`.
    fn event(&self, id: &str) {
        let mut pending = self.shared.pending.lock().unwrap();
        pending.event_ids.insert(id.to_owned());
    }
}

fn annotation<'a>(t: &'a Value, key: &str) -> Option<&'a str> {
    t["metadata"]["annotations"][key].as_str()
}

fn di_source(fixture: &Fixture, extra: &str) -> String {
    format!(
        "  - type: dataIndex\n    url: {}\n    timeout: 2s\n    interval: 1ms\n{extra}",
        fixture.url
    )
}

/// Per release: the query sent and the templates produced from Data Index content alone.
async fn per_release(release: Release) {
    let service =
        WorkflowService::start(BTreeMap::from([("greeting".to_owned(), greeting_schema())])).await;
    let rows = vec![
        row(
            "greeting",
            "1.0",
            Some(GREETING_YAML),
            Some("available"),
            &service.url,
        ),
        row(
            "jsongreet",
            "1.0",
            Some(&inline_flow("jsongreet", "JSON greeting")),
            None,
            &service.url,
        ),
        row(
            "removed",
            "1.0",
            Some(&inline_flow("removed", "Removed")),
            Some("unavailable"),
            &service.url,
        ),
    ];
    let Some(fixture) = Fixture::start(release, rows).await else {
        return;
    };
    let mut h = Harness::new(&di_source(&fixture, ""), &[]);
    h.cycle().await;
    for r in fixture.received() {
        println!(
            "--- {} query sent:\n{}\nvariables: {}",
            release.name(),
            r.query,
            r.variables
        );
    }
    assert_eq!(
        fixture.validation_errors(),
        0,
        "every query is valid for {}",
        release.name()
    );
    let served = h.served().await;
    println!(
        "{} templates: {:?}",
        release.name(),
        served.keys().collect::<Vec<_>>()
    );
    let greeting = &served["greeting"];
    assert_eq!(
        annotation(greeting, "orchestrator.io/availability"),
        Some("available")
    );
    assert_eq!(
        annotation(greeting, "orchestrator.io/service-url"),
        Some(service.url.as_str())
    );
    assert_eq!(
        annotation(greeting, "orchestrator.io/deployed-version"),
        Some("1.0")
    );
    // A workflow only the Data Index has gets its diagram from the Data Index's `source`.
    let diagram = h.shared.diagrams.read().await["greeting"].render();
    assert!(
        diagram.text.contains("<title>Greet</title>"),
        "{}",
        diagram.text
    );
    // The file-based schema came from the workflow service: the form has its field.
    let form = serde_json::to_string(&greeting["spec"]["parameters"]).unwrap();
    assert!(form.contains("language"), "{form}");
    assert_eq!(service.calls(), 1);
    // An inline schema needs no call.
    assert!(
        serde_json::to_string(&served["jsongreet"]["spec"]["parameters"])
            .unwrap()
            .contains("name")
    );
    if release == Release::V1_44 {
        // 1.44 has no metadata: the operator's status cannot be seen, everything is available.
        assert_eq!(
            annotation(&served["removed"], "orchestrator.io/availability"),
            Some("available")
        );
    } else {
        assert!(
            !served.contains_key("removed"),
            "unavailable is hidden by default"
        );
    }
}

#[tokio::test]
async fn release_1_44_daemon() {
    per_release(Release::V1_44).await;
}

#[tokio::test]
async fn release_10_0_daemon() {
    per_release(Release::V10_0).await;
}

#[tokio::test]
async fn release_10_1_daemon() {
    per_release(Release::V10_1).await;
}

#[tokio::test]
async fn release_10_2_daemon() {
    per_release(Release::V10_2).await;
}

#[tokio::test]
async fn content_from_the_folder_facts_from_the_data_index() {
    let service = WorkflowService::start(BTreeMap::new()).await;
    let rows = vec![row(
        "greeting",
        "1.0",
        Some(GREETING_YAML),
        None,
        &service.url,
    )];
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let files = [
        (
            "flows/greeting.sw.yaml",
            GREETING_YAML.replace("Greeting workflow", "Greeting from git"),
        ),
        (
            "flows/schemas/greeting.sw.input-schema.json",
            greeting_schema().to_string(),
        ),
        (
            "flows/local.sw.json",
            inline_flow("local-only", "Only here"),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    for (publish, expect_local) in [("deployed", false), ("all", true)] {
        let sources = format!(
            "  - type: dir\n    path: flows\n    watch: false\n{}",
            di_source(&fixture, &format!("    publish: {publish}\n"))
        );
        fixture.reset_counts();
        let mut h = Harness::new(&sources, &files);
        h.cycle().await;
        let served = h.served().await;
        let greeting = &served["greeting"];
        assert_eq!(
            greeting["metadata"]["title"], "Greeting from git",
            "content from the folder"
        );
        assert_eq!(
            annotation(greeting, "orchestrator.io/availability"),
            Some("available")
        );
        assert_eq!(
            annotation(greeting, "orchestrator.io/service-url"),
            Some(service.url.as_str())
        );
        assert_eq!(
            fixture.sources_served(),
            0,
            "the folder has greeting: its source is not asked for"
        );
        assert_eq!(service.calls(), 0, "the schema comes from the folder");
        assert_eq!(
            served.contains_key("local-only"),
            expect_local,
            "publish: {publish}"
        );
        if expect_local {
            assert_eq!(
                annotation(&served["local-only"], "orchestrator.io/availability"),
                Some("not-deployed")
            );
        }
    }
}

#[tokio::test]
async fn unavailable_workflows_are_published_only_when_asked() {
    let service = WorkflowService::start(BTreeMap::new()).await;
    let rows = vec![
        row(
            "up",
            "1.0",
            Some(&inline_flow("up", "Up")),
            Some("available"),
            &service.url,
        ),
        row(
            "gone",
            "1.0",
            Some(&inline_flow("gone", "Gone")),
            Some("unavailable"),
            &service.url,
        ),
    ];
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let mut h = Harness::new(&di_source(&fixture, ""), &[]);
    h.cycle().await;
    assert_eq!(h.served().await.keys().collect::<Vec<_>>(), ["up"]);
    let mut h = Harness::new(&di_source(&fixture, "    includeUnavailable: true\n"), &[]);
    h.cycle().await;
    let served = h.served().await;
    assert_eq!(
        annotation(&served["gone"], "orchestrator.io/availability"),
        Some("unavailable")
    );
}

#[tokio::test]
async fn schema_calls_only_for_new_or_changed_definitions() {
    let service =
        WorkflowService::start(BTreeMap::from([("greeting".to_owned(), greeting_schema())])).await;
    let rows = vec![row(
        "greeting",
        "1.0",
        Some(GREETING_YAML),
        None,
        &service.url,
    )];
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let mut h = Harness::new(&di_source(&fixture, ""), &[]);
    h.cycle().await;
    assert_eq!((service.calls(), fixture.sources_served()), (1, 1));

    // An unchanged cycle: one listing request, no source, no service call.
    fixture.reset_counts();
    h.cycle().await;
    h.cycle().await;
    assert_eq!(fixture.requests(), 2, "one request per read (one page)");
    assert_eq!((service.calls(), fixture.sources_served()), (1, 0));

    // The definition changes without a version bump; a CloudEvent names it.
    let changed = GREETING_YAML.replace("YAML based greeting workflow", "Now in Catalan too");
    fixture.set_rows(vec![row(
        "greeting",
        "1.0",
        Some(&changed),
        None,
        &service.url,
    )]);
    h.cycle().await;
    assert_eq!(
        h.served().await["greeting"]["metadata"]["description"],
        "YAML based greeting workflow",
        "without an event the known content is kept"
    );
    h.event("greeting");
    h.cycle().await;
    assert_eq!(
        h.served().await["greeting"]["metadata"]["description"],
        "Now in Catalan too"
    );
    assert_eq!(
        service.calls(),
        2,
        "the changed definition's schema is asked once"
    );
    h.cycle().await;
    assert_eq!(service.calls(), 2);
}

#[tokio::test]
async fn a_failing_schema_call_gives_a_template_without_a_form() {
    // greeting: the service answers 500; other: the service does not know it (404).
    let service =
        WorkflowService::start(BTreeMap::from([("greeting".to_owned(), greeting_schema())])).await;
    service.set_failing(true);
    let other = GREETING_YAML.replace("id: greeting", "id: other");
    let rows = vec![
        row("greeting", "1.0", Some(GREETING_YAML), None, &service.url),
        row("other", "1.0", Some(&other), None, &service.url),
    ];
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let mut h = Harness::new(&di_source(&fixture, ""), &[]);
    h.cycle().await;
    let served = h.served().await;
    for id in ["greeting", "other"] {
        assert_eq!(served[id]["spec"]["parameters"], json!([]), "{id}: no form");
    }
    let status = h.shared.status.read().await.clone();
    assert_eq!(status["diagnostics"]["warnings"], 2, "{status}");
    service.set_failing(false);
    h.cycle().await;
    assert_eq!(service.calls(), 2, "a failure is not retried every cycle");
}

#[tokio::test]
async fn faults_keep_the_last_good_templates() {
    let service = WorkflowService::start(BTreeMap::new()).await;
    let rows = vec![
        row("a", "1.0", Some(&inline_flow("a", "A")), None, &service.url),
        row("b", "1.0", Some(&inline_flow("b", "B")), None, &service.url),
    ];
    let Some(mut fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let mut h = Harness::new(&di_source(&fixture, ""), &[]);
    h.cycle().await;
    let good = h.served().await;
    assert_eq!(good.len(), 2);
    let faults = [
        (
            Fault::Delay(std::time::Duration::from_secs(3)),
            "no answer within",
        ),
        (Fault::Http500, "HTTP 500"),
        (Fault::GraphqlErrors, "JDBC"),
        (Fault::DataNull, "without data"),
        (Fault::Garbage, "not a GraphQL response"),
        (Fault::EmptyList, "read 0 workflows where there were 2"),
    ];
    for (fault, expected) in faults {
        fixture.set_fault(fault.clone());
        h.cycle().await;
        assert_eq!(
            h.served().await,
            good,
            "{fault:?} keeps the last good templates"
        );
        let error = h.source_error().await.unwrap_or_default();
        assert!(error.contains(expected), "{fault:?}: {error}");
        fixture.set_fault(Fault::None);
        h.cycle().await;
        assert_eq!(h.source_error().await, None, "recovered after {fault:?}");
    }
    fixture.stop().await;
    h.cycle().await;
    assert_eq!(h.served().await, good, "connection refused keeps them too");
    assert!(h.source_error().await.unwrap().contains("cannot connect"));
}

#[tokio::test]
async fn a_data_index_down_at_restart_holds_removals() {
    let service = WorkflowService::start(BTreeMap::new()).await;
    let rows = vec![row("a", "1.0", None, None, &service.url)];
    let Some(mut fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let sources = format!(
        "  - type: dir\n    path: flows\n    watch: false\n{}",
        di_source(&fixture, "")
    );
    let flow = inline_flow("a", "A");
    let files = [("flows/a.sw.json", flow.as_str())];
    let mut h = Harness::new(&sources, &files);
    h.cycle().await;
    assert_eq!(h.served().await.keys().collect::<Vec<_>>(), ["a"]);

    // Restart with the Data Index down: with `publish: deployed` nothing is known to be
    // deployed, but a source never read cannot justify removing what was published.
    fixture.stop().await;
    let Harness { _dir: dir, .. } = h;
    let mut h = Harness::in_dir(dir, &sources, &files);
    h.cycle().await;
    assert_eq!(h.served().await.keys().collect::<Vec<_>>(), ["a"]);
    let status = h.shared.status.read().await.clone();
    let held = status["deletesHeld"]["reason"].as_str().unwrap_or_default();
    assert!(held.contains("not read yet"), "{status}");
    assert!(h.source_error().await.unwrap().contains("cannot connect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_reads_the_data_index_once_and_prints_the_templates() {
    let service =
        WorkflowService::start(BTreeMap::from([("greeting".to_owned(), greeting_schema())])).await;
    let rows = vec![row(
        "greeting",
        "2.0",
        Some(GREETING_YAML),
        None,
        &service.url,
    )];
    let Some(fixture) = Fixture::start(Release::V10_0, rows).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("sources:\n{}", di_source(&fixture, ""))).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .args(["export", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("orchestrator.io/deployed-version: '2.0'")
            || stdout.contains("orchestrator.io/deployed-version: \"2.0\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("language"),
        "the form from the workflow service: {stdout}"
    );
    assert!(stderr.contains("1 template, 0 errors"), "{stderr}");
    assert_eq!(service.calls(), 1);
}

#[tokio::test]
async fn a_refetch_that_fails_keeps_the_definition_read_before() {
    // The Data Index fetches `source` from the workflow service; when that is down the field
    // errors. A CloudEvent (or POST /sync) asking for the content again must not drop it.
    let service = WorkflowService::start(BTreeMap::new()).await;
    let rows = vec![row(
        "a",
        "1.0",
        Some(&inline_flow("a", "A")),
        None,
        &service.url,
    )];
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let mut h = Harness::new(&di_source(&fixture, ""), &[]);
    h.cycle().await;
    let good = h.served().await;
    assert_eq!(good.len(), 1);
    let mut failing = row("a", "1.0", None, None, &service.url);
    failing["sourceError"] = json!("Connection refused: a.sonataflow-infra");
    fixture.set_rows(vec![failing]);
    h.event("a");
    h.cycle().await;
    assert_eq!(h.served().await, good);
    let status = h.shared.status.read().await.clone();
    assert!(
        status["diagnostics"]["warnings"].as_u64().unwrap() >= 1,
        "{status}"
    );
    h.daemon.cycle("manual", true).await;
    assert_eq!(h.served().await, good, "a forced sync too");
}

#[tokio::test]
async fn an_empty_first_read_after_a_restart_is_suspect_until_a_forced_sync() {
    let service = WorkflowService::start(BTreeMap::new()).await;
    let rows = vec![
        row("a", "1.0", Some(&inline_flow("a", "A")), None, &service.url),
        row("b", "1.0", Some(&inline_flow("b", "B")), None, &service.url),
    ];
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let sources = di_source(&fixture, "");
    let mut h = Harness::new(&sources, &[]);
    h.cycle().await;
    let good = h.served().await;
    assert_eq!(good.len(), 2);

    // Restart (what was published is remembered in stateDir); the Data Index answers nothing.
    fixture.set_fault(Fault::EmptyList);
    let Harness { _dir: dir, .. } = h;
    let mut h = Harness::in_dir(dir, &sources, &[]);
    h.cycle().await;
    assert_eq!(
        h.served().await,
        good,
        "an empty first read removes nothing"
    );
    assert!(h.source_error().await.unwrap().contains("at start"));

    // An operator who means it: POST /sync believes the empty answer.
    h.daemon.cycle("manual", true).await;
    assert!(h.served().await.is_empty());
}
