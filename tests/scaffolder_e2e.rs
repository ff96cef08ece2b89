//! Every template runs: the real `orchestrator-provider run` keeps a real Backstage scaffolder's
//! catalog in step, and each template then runs as a scaffolder task through RHDH's real
//! `orchestrator:workflow:run` action, with the values the Create page would submit.
//!
//! The backend (`tests/e2e/scaffolder`, see `support/scaffolder.rs`) has the catalog, the
//! scaffolder, RHDH's action module and a stand-in for the orchestrator backend's execute
//! endpoint that records what the action sends. Two daemons feed it: the bundled examples
//! (namespace `default`) and, when `../shared/corpus` exists, every corpus workflow that maps to a
//! Template (namespace `corpus`: one corpus id is also a bundled one). For each template the form
//! values come from its parameter pages through the value generator the form check uses
//! (`form/values.mjs`: defaults filled as the browser fills them, required fields generated);
//! the task must complete, and the action must have sent `workflow_id` equal to the template's
//! `orchestrator.io/workflow-id` and `inputData` equal to the submitted values.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/scaffolder.rs"]
mod scaffolder;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use scaffolder::Scaffolder;

/// How long the catalog may take to show every template (measured: 2 to 6 s for the corpus).
const CATALOG_TIMEOUT: Duration = Duration::from_secs(120);
/// How long all tasks may take together (measured: about 10 s for 248 tasks).
const TASKS_TIMEOUT: Duration = Duration::from_secs(300);
/// Task creations in flight at once.
const IN_FLIGHT: usize = 16;

/// One daemon's share: its config (sources and namespace), written in `dir`.
struct Batch {
    name: &'static str,
    namespace: &'static str,
    sources: String,
}

/// A daemon keeping the scaffolder's catalog in step with one batch, and the templates the same
/// configuration exports.
struct Fed {
    /// Runs until the batch is dropped.
    _daemon: daemon::Daemon,
    templates: Vec<Value>,
}

fn write_config(dir: &Path, batch: &Batch, sc: &Scaffolder, port: u16) -> PathBuf {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let text = format!(
        "{sources}templates:\n  namespace: {ns}\nserver:\n  listen: 127.0.0.1:{port}\n\
         catalog:\n  baseUrl: {url}\n  tokenEnv: {var}\n\
         sync:\n  interval: 600s\nstateDir: {state}\n",
        sources = batch.sources,
        ns = batch.namespace,
        url = q(&sc.base_url),
        var = daemon::TOKEN_VAR,
        state = q(&dir
            .join(format!("state-{}", batch.name))
            .display()
            .to_string()),
    );
    let path = dir.join(format!("{}.yaml", batch.name));
    std::fs::write(&path, text).expect("write config");
    path
}

/// What `orchestrator-provider export` gives for `config`: the templates the catalog must show.
fn export(config: &Path) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
        .args(["export", "--format", "json", "--config"])
        .arg(config)
        .output()
        .expect("run orchestrator-provider export");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "export {}: {}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("export --format json prints a JSON array")
}

async fn feed(dir: &Path, batch: &Batch, sc: &Scaffolder) -> Fed {
    let port = daemon::free_port();
    let config = write_config(dir, batch, sc, port);
    let templates = export(&config);
    let daemon = daemon::Daemon::start(&config, port, &sc.token, batch.name).await;
    Fed {
        _daemon: daemon,
        templates,
    }
}

/// The number of Templates the catalog shows in `namespace`.
async fn catalog_count(sc: &Scaffolder, namespace: &str) -> usize {
    let path = format!(
        "/api/catalog/entities/by-query?filter=kind=template,metadata.namespace={namespace}&limit=1&fields=metadata.name"
    );
    match sc.call(Method::GET, &path, None).await {
        (StatusCode::OK, body) => body["totalItems"].as_u64().unwrap_or(0) as usize,
        _ => 0,
    }
}

/// The Templates of `namespace` as the catalog serves them (what the scaffolder reads).
async fn catalog_templates(sc: &Scaffolder, namespace: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = reqwest::Url::parse(&sc.url("/api/catalog/entities/by-query")).unwrap();
        url.query_pairs_mut().append_pair("limit", "200");
        match &cursor {
            Some(c) => url.query_pairs_mut().append_pair("cursor", c),
            None => url.query_pairs_mut().append_pair(
                "filter",
                &format!("kind=template,metadata.namespace={namespace}"),
            ),
        };
        let path = &url.as_str()[sc.base_url.len()..];
        let (status, body) = sc.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let done = items.is_empty();
        out.extend(items);
        match body["pageInfo"]["nextCursor"].as_str() {
            Some(c) if !done => cursor = Some(c.to_owned()),
            _ => return out,
        }
    }
}

/// `template:<ns>/<name>`, lowercased as Backstage's `stringifyEntityRef` writes it (the
/// action's `targetEntity`).
fn target_entity(ns: &str, name: &str) -> String {
    format!("template:{ns}/{name}").to_lowercase()
}

/// The message of a failed task, from its event stream.
async fn task_error(sc: &Scaffolder, id: &str) -> String {
    let (_, events) = sc
        .call(
            Method::GET,
            &format!("/api/scaffolder/v2/tasks/{id}/events"),
            None,
        )
        .await;
    let events = events.as_array().cloned().unwrap_or_default();
    let messages: Vec<String> = events
        .iter()
        .filter_map(|e| {
            e["body"]["error"]["message"]
                .as_str()
                .or_else(|| e["body"]["message"].as_str())
                .map(str::to_owned)
        })
        .collect();
    messages.join(" | ")
}

/// The `instanceUrl` output of a completed task.
async fn instance_url(sc: &Scaffolder, id: &str) -> Option<String> {
    let (_, events) = sc
        .call(
            Method::GET,
            &format!("/api/scaffolder/v2/tasks/{id}/events"),
            None,
        )
        .await;
    events.as_array()?.iter().find_map(|e| {
        (e["type"] == "completion")
            .then(|| e["body"]["output"]["links"][0]["url"].as_str())
            .flatten()
            .map(str::to_owned)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_and_corpus_template_runs_through_the_real_orchestrator_action() {
    let Some(sc) = Scaffolder::start().await else {
        return;
    };
    let sc = Arc::new(sc);

    // The stand-in is behind Backstage's default auth policy, as the real backend is.
    let unauthenticated = sc
        .http()
        .post(sc.url("/api/orchestrator/v2/workflows/x/execute"))
        .json(&json!({"inputData": {}}))
        .send()
        .await
        .expect("POST execute");
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut batches = vec![Batch {
        name: "bundled",
        namespace: "default",
        sources: String::new(),
    }];
    if let Some(corpus) = scaffolder::corpus() {
        batches.push(Batch {
            name: "corpus",
            namespace: "corpus",
            sources: format!(
                "sources:\n  - type: dir\n    path: {}\n    watch: false\n",
                serde_json::to_string(&corpus.display().to_string()).unwrap()
            ),
        });
    }

    // Feed the catalog and wait until it shows every template of every batch.
    let t0 = Instant::now();
    let mut fed = Vec::new();
    for batch in &batches {
        fed.push(feed(dir.path(), batch, &sc).await);
    }
    let mut templates: Vec<(String, Value)> = Vec::new();
    for (batch, fed) in batches.iter().zip(&fed) {
        let want = fed.templates.len();
        assert!(want > 0, "batch {} exports no template", batch.name);
        let took = catalog_wait(&sc, batch.namespace, want).await;
        let served = catalog_templates(&sc, batch.namespace).await;
        let exported: BTreeMap<&str, &Value> = fed
            .templates
            .iter()
            .map(|t| (t["metadata"]["name"].as_str().unwrap(), t))
            .collect();
        for t in &served {
            let name = t["metadata"]["name"].as_str().unwrap();
            let mine = exported.get(name).unwrap_or_else(|| {
                panic!("{}: the catalog shows {name}, not exported", batch.name)
            });
            assert_eq!(
                t["spec"]["parameters"], mine["spec"]["parameters"],
                "{name}: the catalog's parameters differ from the export"
            );
        }
        eprintln!(
            "catalog shows the {want} templates of batch {} after {:.1} s",
            batch.name,
            took.as_secs_f64()
        );
        templates.extend(served.into_iter().map(|t| (batch.namespace.to_owned(), t)));
    }
    let catalog_time = t0.elapsed();

    // The values the Create page would submit, from each template's pages.
    let t1 = Instant::now();
    let input: Vec<Value> = templates
        .iter()
        .map(|(ns, t)| {
            json!({"name": target_entity(ns, t["metadata"]["name"].as_str().unwrap()),
                   "parameters": t["spec"]["parameters"]})
        })
        .collect();
    let values =
        tokio::task::spawn_blocking(move || scaffolder::form_cli("values", &Value::Array(input)))
            .await
            .expect("values");
    let values_time = t1.elapsed();

    // One task per template, IN_FLIGHT creations at a time.
    let t2 = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut creations = tokio::task::JoinSet::new();
    for (ns, t) in &templates {
        let name = t["metadata"]["name"].as_str().unwrap().to_owned();
        let target = target_entity(ns, &name);
        let body =
            json!({"templateRef": format!("template:{ns}/{name}"), "values": values[&target]});
        let (sc, gate) = (sc.clone(), gate.clone());
        creations.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let (status, answer) = sc
                .call(Method::POST, "/api/scaffolder/v2/tasks", Some(&body))
                .await;
            (target, status, answer)
        });
    }
    let mut failures: Vec<String> = Vec::new();
    let mut tasks: BTreeMap<String, String> = BTreeMap::new();
    while let Some(created) = creations.join_next().await {
        let (target, status, answer) = created.expect("task creation");
        match (status, answer["id"].as_str()) {
            (StatusCode::CREATED, Some(id)) => {
                tasks.insert(target, id.to_owned());
            }
            _ => failures.push(format!(
                "{target}: POST /v2/tasks answered {status}: {answer}"
            )),
        }
    }

    // Wait for every task to end.
    let mut pending: BTreeMap<String, String> = tasks.clone();
    let mut completed: Vec<String> = Vec::new();
    while !pending.is_empty() {
        assert!(
            t2.elapsed() < TASKS_TIMEOUT,
            "{} tasks still running after {} s: {:?}",
            pending.len(),
            TASKS_TIMEOUT.as_secs(),
            pending.keys().take(10).collect::<Vec<_>>()
        );
        let mut ended = Vec::new();
        for (target, id) in &pending {
            let (_, task) = sc
                .call(Method::GET, &format!("/api/scaffolder/v2/tasks/{id}"), None)
                .await;
            match task["status"].as_str() {
                Some("completed") => ended.push((target.clone(), None)),
                Some(s @ ("failed" | "cancelled")) => {
                    let why = task_error(&sc, id).await;
                    ended.push((
                        target.clone(),
                        Some(format!("{target}: task {id} {s}: {why}")),
                    ));
                }
                _ => {}
            }
        }
        for (target, failure) in ended {
            pending.remove(&target);
            match failure {
                None => completed.push(target),
                Some(f) => failures.push(f),
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let tasks_time = t2.elapsed();

    // What the action sent the orchestrator backend, per template.
    let mut calls: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for call in sc.calls() {
        let target = call["targetEntity"].as_str().unwrap_or_default().to_owned();
        calls.entry(target).or_default().push(call);
    }
    for (ns, t) in &templates {
        let name = t["metadata"]["name"].as_str().unwrap();
        let target = target_entity(ns, name);
        if !completed.contains(&target) {
            continue;
        }
        let workflow_id = &t["metadata"]["annotations"]["orchestrator.io/workflow-id"];
        match calls.get(&target).map(Vec::as_slice) {
            Some([call]) => {
                if &call["workflowId"] != workflow_id {
                    failures.push(format!(
                        "{target}: the action ran workflow {} instead of {workflow_id}",
                        call["workflowId"]
                    ));
                }
                if call["inputData"] != values[&target] {
                    failures.push(format!(
                        "{target}: the action sent inputData {} for the submitted values {}",
                        call["inputData"], values[&target]
                    ));
                }
                if call["principal"] != "service plugin:scaffolder" {
                    failures.push(format!(
                        "{target}: the orchestrator saw {} instead of the scaffolder's service principal",
                        call["principal"]
                    ));
                }
                let id = call["id"].as_str().unwrap_or_default();
                let url = instance_url(&sc, &tasks[&target]).await;
                let want = format!(
                    "/orchestrator/entity/{ns}/template/{}/{}/{id}",
                    name.to_lowercase(),
                    workflow_id.as_str().unwrap_or_default()
                );
                if url.as_deref() != Some(want.as_str()) {
                    failures.push(format!(
                        "{target}: the task's output link is {url:?}, not {want}"
                    ));
                }
            }
            other => failures.push(format!(
                "{target}: the orchestrator backend got {} calls for it, not 1",
                other.map_or(0, <[Value]>::len)
            )),
        }
    }
    eprintln!(
        "{} templates: catalog {:.1} s, values {:.1} s, tasks {:.1} s ({} completed)",
        templates.len(),
        catalog_time.as_secs_f64(),
        values_time.as_secs_f64(),
        tasks_time.as_secs_f64(),
        completed.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} templates did not run as submitted:\n{}",
        failures.len(),
        templates.len(),
        failures.join("\n")
    );
    assert_eq!(completed.len(), templates.len());
    drop(fed);
}

/// Waits until the catalog shows `want` Templates in `namespace`; the time it took.
async fn catalog_wait(sc: &Scaffolder, namespace: &str, want: usize) -> Duration {
    let t0 = Instant::now();
    loop {
        let have = catalog_count(sc, namespace).await;
        if have == want {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < CATALOG_TIMEOUT,
            "the catalog shows {have} of the {want} templates of namespace {namespace} after {} s",
            CATALOG_TIMEOUT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
