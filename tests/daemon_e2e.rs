//! End to end: the real `orchestrator-provider run` binary against a real Backstage catalog
//! (tests/support/catalog.rs), asserting only what the catalog's REST API returns.
//!
//! Every test starts its own catalog (processing interval 600 s, so only the daemon's explicit
//! calls make changes visible; the stitcher polling every 100 ms, except in
//! [`edited_workflow_updates_its_template_in_place`], which keeps the catalog's default 1 s)
//! and its own daemon(s) over a temp copy of `fixtures/workflows`. At most [`PARALLEL`] tests
//! run at once, whatever `--test-threads` says.
//!
//! No test holds a latency to a target: what reaches the catalog is waited for up to
//! [`VISIBLE`], and the tests print how long it took. The targets are in the benchmarks
//! (`BENCHMARKS.md`). Waiting for something to happen polls what shows it (the catalog's API,
//! the daemon's `/status` and `/metrics`); a fixed sleep only gives something that must *not*
//! happen the time to show up.
//!
//! With `ORCHESTRATOR_PROVIDER_SKIP_E2E=1` every test prints `skipped: ...` and passes.

#[path = "support/catalog.rs"]
mod catalog;
#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/data_index_fixture.rs"]
mod data_index_fixture;
#[path = "support/git_server.rs"]
mod git_server;
#[path = "support/shared.rs"]
mod shared;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use catalog::{Catalog, Options};
use daemon::{ConfigOpts, Daemon, Setup, eventually};
use orchestrator_provider::config::{Config, DirSourceConfig, SourceConfig};
use orchestrator_provider::pipeline;
use orchestrator_provider::sink::serve::shard_of;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The templates the bundled examples map to.
const NAMES: [&str; 5] = [
    "deploy-app",
    "hello-world",
    "notify-manager",
    "onboarding",
    "provision-database",
];
const ORIGIN: &str = "backstage.io/managed-by-origin-location";
const ORPHAN: &str = "backstage.io/orphan";
/// How long what a test waits for (a change in the catalog, a report in `/status`, a few sync
/// cycles) may take before the test fails. Not a latency target: the catalog's own polls (1 s
/// processing, 0.1 or 1 s stitching) put a change in its API 0.2 to 2.5 s after the daemon's
/// call, and a loaded 2-core machine takes longer; this is at least 5 times the slowest median
/// measured here (about 2 s) and never under 10 s. The tests print what they measured.
const VISIBLE: Duration = Duration::from_secs(30);
/// `orchestrator_provider_syncs_total`: counted when a cycle starts.
const SYNCS: &str = "orchestrator_provider_syncs_total";
/// `catalog.shards` (the default).
const SHARDS: usize = 32;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Tests that run at once (each one runs a catalog of ~200 MiB and a daemon).
const PARALLEL: usize = 2;

struct Slot;

static SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// Waits for one of the [`PARALLEL`] slots; released on drop.
fn slot() -> Slot {
    let (lock, cvar) = &SLOTS;
    let mut used = lock.lock().unwrap_or_else(|e| e.into_inner());
    while *used >= PARALLEL {
        used = cvar.wait(used).unwrap_or_else(|e| e.into_inner());
    }
    *used += 1;
    Slot
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (lock, cvar) = &SLOTS;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        cvar.notify_one();
    }
}

/// A catalog started on the blocking pool; `None` (skipped) with ORCHESTRATOR_PROVIDER_SKIP_E2E=1.
async fn start_catalog(opts: Options) -> Option<Catalog> {
    tokio::task::spawn_blocking(move || Catalog::start_with(opts))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Waits until `d` has run `n` whole sync cycles after this call (a cycle in flight now does not
/// count): [`SYNCS`] is counted when a cycle starts, so it has moved by `n + 1`.
async fn wait_for_cycles(d: &Daemon, n: u64) {
    let start = d.metric(SYNCS).await;
    eventually(
        &format!("{n} sync cycles of the daemon at {}", d.url),
        VISIBLE,
        || async {
            let started = d.metric(SYNCS).await - start;
            if started >= (n + 1) as f64 {
                Ok(())
            } else {
                Err(format!("{started} cycles started"))
            }
        },
    )
    .await;
}

/// Waits until every name in `names` is a template in the catalog; returns them by name.
async fn wait_for_templates(
    cat: &Catalog,
    names: &[&str],
    timeout: Duration,
) -> (BTreeMap<String, Value>, Duration) {
    eventually(
        &format!("templates {names:?} in the catalog"),
        timeout,
        || async {
            let mut found = BTreeMap::new();
            let mut missing = Vec::new();
            for name in names {
                match cat.get_entity("template", "default", name).await {
                    Some(e) => {
                        found.insert(name.to_string(), e);
                    }
                    None => missing.push(*name),
                }
            }
            if missing.is_empty() {
                Ok(found)
            } else {
                Err(format!("missing {missing:?}"))
            }
        },
    )
    .await
}

fn uid(entity: &Value) -> String {
    entity["metadata"]["uid"]
        .as_str()
        .unwrap_or_else(|| panic!("entity without uid: {entity}"))
        .to_owned()
}

fn origin(entity: &Value) -> String {
    entity["metadata"]["annotations"][ORIGIN]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// name -> uid of every template in the catalog.
async fn template_uids(cat: &Catalog) -> BTreeMap<String, String> {
    cat.list_entities("kind=template")
        .await
        .iter()
        .map(|e| (e["metadata"]["name"].as_str().unwrap().to_owned(), uid(e)))
        .collect()
}

/// `(id, target)` of every location whose target is under `base` (`http://host:port`).
async fn locations_under(cat: &Catalog, base: &str) -> Vec<(String, String)> {
    let prefix = format!("{base}/catalog/");
    let mut out: Vec<(String, String)> = cat
        .locations()
        .await
        .iter()
        .filter_map(|l| {
            let target = l["target"].as_str()?;
            target.starts_with(&prefix).then(|| {
                (
                    l["id"].as_str().unwrap_or_default().to_owned(),
                    target.to_owned(),
                )
            })
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// `Ok` when the catalog's locations under `base` are exactly the daemon's non-empty shards
/// (`/catalog/index.yaml`), each registered once.
async fn locations_match_index(cat: &Catalog, d: &Daemon, base: &str) -> Result<(), String> {
    let index = d.index_targets().await;
    let locations = locations_under(cat, base).await;
    let targets: Vec<&str> = locations.iter().map(|(_, t)| t.as_str()).collect();
    let unique: BTreeSet<&str> = targets.iter().copied().collect();
    if unique.len() != targets.len() {
        return Err(format!("a shard is registered twice: {locations:?}"));
    }
    if targets != index.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(format!(
            "catalog locations under {base} {targets:?} != daemon's non-empty shards {index:?}"
        ));
    }
    Ok(())
}

async fn assert_locations_match_index(cat: &Catalog, d: &Daemon, base: &str) {
    eventually(
        "the catalog's locations to be the daemon's non-empty shards",
        VISIBLE,
        || locations_match_index(cat, d, base),
    )
    .await;
}

/// Entities of any kind the catalog marks as orphans.
async fn orphans(cat: &Catalog) -> Vec<String> {
    cat.list_entities("")
        .await
        .iter()
        .filter(|e| e["metadata"]["annotations"][ORPHAN].is_string())
        .map(|e| {
            format!(
                "{}:{}/{}",
                e["kind"].as_str().unwrap_or_default(),
                e["metadata"]["namespace"].as_str().unwrap_or_default(),
                e["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The templates the library maps `root` to, as JSON, by name.
fn expected_templates(root: &Path, include: &[&str]) -> BTreeMap<String, Value> {
    let mut source = DirSourceConfig {
        watch: false,
        ..DirSourceConfig::new(root)
    };
    if !include.is_empty() {
        source.include = include.iter().map(|s| s.to_string()).collect();
    }
    let config = Config {
        sources: vec![SourceConfig::Dir(source)],
        ..Config::default()
    };
    pipeline::run(&config)
        .templates
        .iter()
        .map(|t| {
            let v = serde_json::to_value(t).unwrap();
            (v["metadata"]["name"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_publishes_every_bundled_template_with_annotations_form_and_step() {
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    let (config, port) = setup.write_config(&ConfigOpts::default());
    let t0 = Instant::now();
    let d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let (found, _) = wait_for_templates(&cat, &NAMES, VISIBLE).await;
    let cold = t0.elapsed();

    let expected = expected_templates(&setup.flows, &[]);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        NAMES.iter().collect::<Vec<_>>(),
        "the fixtures map to other templates than this test expects"
    );
    for name in NAMES {
        let got = &found[name];
        let want = &expected[name];
        let annotations = &got["metadata"]["annotations"];
        assert_eq!(
            annotations["orchestrator.io/workflow-id"], name,
            "{name}: {got}"
        );
        assert_eq!(
            annotations["orchestrator.io/workflows"],
            json!(format!("[\"{name}\"]")),
            "{name}: {got}"
        );
        assert_eq!(
            got["metadata"]["title"], want["metadata"]["title"],
            "{name}"
        );
        assert_eq!(
            got["spec"]["parameters"], want["spec"]["parameters"],
            "{name}: the catalog's form differs from the mapped one"
        );
        assert!(
            got["spec"]["parameters"].is_array(),
            "{name}: no spec.parameters: {got}"
        );
        let steps = got["spec"]["steps"].as_array().expect("spec.steps");
        assert_eq!(steps.len(), 1, "{name}: {steps:?}");
        assert_eq!(steps[0]["action"], "orchestrator:workflow:run", "{name}");
        assert_eq!(steps[0]["input"]["workflow_id"], name, "{name}");
        assert!(
            origin(got).starts_with(&format!("url:{}/catalog/shard-", d.url)),
            "{name} is not owned by the daemon's shard: {}",
            origin(got)
        );
    }
    // The forms are real: every workflow with an input schema has at least one page.
    for name in [
        "deploy-app",
        "hello-world",
        "onboarding",
        "provision-database",
    ] {
        assert!(
            !found[name]["spec"]["parameters"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{name} has an input schema but an empty form"
        );
    }
    assert_eq!(template_uids(&cat).await.len(), NAMES.len());
    assert_locations_match_index(&cat, &d, &d.url).await;
    println!(
        "cold start: {} templates visible {:.2} s after the daemon was spawned",
        NAMES.len(),
        cold.as_secs_f64()
    );
}

/// An edited workflow's template is refreshed, not deleted and added again. The one scenario on
/// the catalog's default stitching poll (1 s), so that the default stays covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_workflow_updates_its_template_in_place() {
    let _slot = slot();
    let Some(cat) = start_catalog(Options {
        default_stitching: true,
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    let (config, port) = setup.write_config(&ConfigOpts::default());
    let _d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let (before, _) = wait_for_templates(&cat, &NAMES, VISIBLE).await;
    assert_eq!(before["hello-world"]["metadata"]["title"], "Hello world");

    let title = "Hello edited world";
    edit(
        &setup.flows.join("hello-world/hello-world.sw.yaml"),
        "name: Hello world",
        &format!("name: {title}"),
    );
    let (after, took) = eventually("the new title of hello-world", VISIBLE, || async {
        let e = cat.get_entity("template", "default", "hello-world").await;
        match e {
            Some(e) if e["metadata"]["title"] == title => Ok(e),
            other => Err(format!(
                "{:?}",
                other.map(|e| e["metadata"]["title"].clone())
            )),
        }
    })
    .await;
    println!(
        "edit -> visible: {:.2} s (hello-world title changed; the catalog's default stitching)",
        took.as_secs_f64()
    );
    assert_eq!(
        uid(&after),
        uid(&before["hello-world"]),
        "an edit must refresh the entity, not delete and re-add it"
    );
    let uids = template_uids(&cat).await;
    for name in NAMES {
        assert_eq!(uids.get(name), Some(&uid(&before[name])), "{name}");
    }
}

/// The diagram link is followed as a browser follows it: through the proxy route of
/// `deploy/backstage/app-config.yaml` in the real catalog, without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_links_to_its_diagram_through_the_backstage_proxy_which_follows_edits() {
    let _slot = slot();
    let port = daemon::free_port();
    // The snippet's daemon host (reading.allow and the proxy target): this daemon, as it is
    // the Service in a cluster.
    let Some(cat) = start_catalog(Options {
        daemon_host: Some(format!("127.0.0.1:{port}")),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    // What a browser is given: the proxy route, as the overlays' diagrams.baseUrl sets it.
    let browser_base = format!("{}/api/proxy/orchestrator-provider", cat.base_url);
    let (config, port) = setup.write_config(&ConfigOpts {
        port: Some(port),
        extra_config: format!("diagrams:\n  baseUrl: {browser_base}\n"),
        ..ConfigOpts::default()
    });
    let _d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let (templates, _) = wait_for_templates(&cat, &NAMES, VISIBLE).await;
    let url = format!("{browser_base}/diagrams/hello-world.svg");
    assert_eq!(
        templates["hello-world"]["metadata"]["links"],
        json!([{"url": url, "title": "Workflow diagram", "icon": "dashboard"}])
    );

    let http = reqwest::Client::new();
    let get = |etag: Option<String>| {
        let mut r = http.get(&url);
        if let Some(e) = etag {
            r = r.header("if-none-match", e);
        }
        r.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let header = |r: &reqwest::Response, h: &str| {
        r.headers()
            .get(h)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&first, "content-type"), "image/svg+xml");
    assert_eq!(
        header(&first, "content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'"
    );
    assert_eq!(header(&first, "x-content-type-options"), "nosniff");
    let etag = header(&first, "etag");
    let svg = first.text().await.unwrap();
    roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert!(svg.contains("<title>Greet</title>"), "{svg}");
    assert_eq!(
        get(Some(etag.clone())).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );

    // An edit: the diagram follows; the link in the catalog stays the same.
    edit(
        &setup.flows.join("hello-world/hello-world.sw.yaml"),
        "  - name: Greet",
        "  - name: Greet warmly",
    );
    let (new_etag, took) = eventually("the edited diagram of hello-world", VISIBLE, || async {
        let r = get(Some(etag.clone())).await.map_err(|e| e.to_string())?;
        if r.status() != StatusCode::OK {
            return Err(format!("{}", r.status()));
        }
        let etag = header(&r, "etag");
        let svg = r.text().await.map_err(|e| e.to_string())?;
        if svg.contains("<title>Greet warmly</title>") {
            Ok(etag)
        } else {
            Err("still the old diagram".into())
        }
    })
    .await;
    println!("edit -> new diagram: {:.2} s", took.as_secs_f64());
    assert_ne!(new_etag, etag);
    assert_eq!(
        get(Some(new_etag)).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
    let after = cat
        .get_entity("template", "default", "hello-world")
        .await
        .unwrap();
    assert_eq!(
        after["metadata"]["links"],
        templates["hello-world"]["metadata"]["links"]
    );
    let unknown = http
        .get(format!("{browser_base}/diagrams/no-such-template.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // Nothing else of the daemon is reachable through the route. Directly these answer:
    let daemon_url = format!("http://127.0.0.1:{port}");
    let shard = format!("/catalog/shard-{:02}.yaml", shard_of("hello-world", SHARDS));
    for path in ["/status", shard.as_str()] {
        let (status, text) = get_as_written(port, path).await;
        assert_eq!(status, 200, "{daemon_url}{path} directly: {text}");
    }
    assert!(
        get_as_written(port, &shard)
            .await
            .1
            .contains("name: hello-world")
    );
    // Through the proxy, by another prefix or by `..` (sent as written: HTTP clients and
    // browsers remove `..` and `%2e%2e` segments before sending), they do not.
    let route = "/api/proxy/orchestrator-provider";
    for tail in ["/status", &shard] {
        for path in [
            format!("{route}{tail}"),
            format!("{route}/diagrams/..{tail}"),
            format!("{route}/diagrams/%2e%2e{tail}"),
            format!("{route}/diagrams/..%2f{}", &tail[1..]),
            format!("{route}/diagrams/%2E%2E%2F{}", &tail[1..]),
        ] {
            let (status, text) = get_as_written(cat.port, &path).await;
            assert!(
                (400..500).contains(&status)
                    && !text.contains("hello-world")
                    && !text.contains("\"cycle\""),
                "{path} through the proxy: {text}"
            );
        }
    }
    // Only GET: the daemon answers a POST on a diagram with 405; the proxy does not pass it on.
    let post = |url: String| http.post(url).body("<svg/>").send();
    assert_eq!(
        post(format!("{daemon_url}/diagrams/hello-world.svg"))
            .await
            .unwrap()
            .status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let refused = post(url.clone()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND, "POST {url}");
}

/// `GET path` on `127.0.0.1:port` with the path sent byte for byte as written; the status
/// and the whole response (head and body).
async fn get_as_written(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        std::io::Result::Ok(String::from_utf8_lossy(&raw).into_owned())
    };
    let text = tokio::time::timeout(VISIBLE, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {path} on port {port}: no answer within {VISIBLE:?}"))
        .unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"));
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("GET {path} on port {port}: no status line in {text:?}"));
    (status, text)
}

/// A workflow whose template lands in the same shard as `name`.
fn shard_buddy(name: &str) -> (String, String) {
    let shard = shard_of(name, SHARDS);
    let buddy = (0..)
        .map(|i| format!("shard-buddy-{i}"))
        .find(|b| shard_of(b, SHARDS) == shard)
        .expect("some name shares the shard");
    let text = format!(
        "id: {buddy}\nname: Shares a shard with {name}\nstart: Only\nstates:\n  - name: Only\n    type: inject\n    data: {{}}\n    end: true\n"
    );
    (buddy, text)
}

/// Deletes `file` and waits (at most [`VISIBLE`]) until `name` is gone from the catalog.
async fn delete_and_wait_gone(cat: &Catalog, file: &Path, name: &str) -> Duration {
    std::fs::remove_file(file).unwrap_or_else(|e| panic!("rm {}: {e}", file.display()));
    eventually(
        &format!("{name} to disappear from the catalog"),
        VISIBLE,
        || async {
            match cat.get_entity("template", "default", name).await {
                None => Ok(()),
                Some(e) => Err(format!("still there: uid {}", uid(&e))),
            }
        },
    )
    .await
    .1
}

/// No orphan, nothing came back, the templates are `names`, the locations the non-empty shards.
async fn assert_clean_after_delete(cat: &Catalog, d: &Daemon, names: &[&str], gone: &str) {
    assert_locations_match_index(cat, d, &d.url).await;
    // Nothing may come back or be left behind: give it the time to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        orphans(cat).await,
        Vec::<String>::new(),
        "orphaned entities"
    );
    assert!(
        cat.get_entity("template", "default", gone).await.is_none(),
        "{gone} came back"
    );
    let mut names = names.to_vec();
    names.sort();
    assert_eq!(
        template_uids(cat).await.keys().collect::<Vec<_>>(),
        names.iter().collect::<Vec<_>>()
    );
    locations_match_index(cat, d, &d.url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_workflows_are_removed_without_orphans_or_empty_shard_locations() {
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    // A sixth workflow shares deploy-app's shard, so that both ways of deleting are exercised:
    // by uid (the shard still holds a template) and by deleting the emptied shard's location.
    let (buddy, text) = shard_buddy("deploy-app");
    std::fs::create_dir_all(setup.flows.join("extra")).unwrap();
    let buddy_file = setup.flows.join(format!("extra/{buddy}.sw.yaml"));
    std::fs::write(&buddy_file, text).unwrap();
    let mut names: Vec<&str> = NAMES.to_vec();
    names.push(&buddy);

    let (config, port) = setup.write_config(&ConfigOpts::default());
    let d = Daemon::start(&config, port, &cat.token, "daemon").await;
    wait_for_templates(&cat, &names, VISIBLE).await;
    assert_locations_match_index(&cat, &d, &d.url).await;
    let shards = d.index_targets().await.len();

    // 1. Its shard keeps a template: the entity is deleted by uid.
    let took = delete_and_wait_gone(
        &cat,
        &setup.flows.join("deploy-app/deploy-app.sw.yaml"),
        "deploy-app",
    )
    .await;
    println!(
        "delete -> gone: {:.2} s (deploy-app; its shard still holds {buddy})",
        took.as_secs_f64()
    );
    names.retain(|n| *n != "deploy-app");
    assert_clean_after_delete(&cat, &d, &names, "deploy-app").await;
    assert_eq!(d.index_targets().await.len(), shards, "a shard was emptied");

    // 2. Its shard is left empty: the shard's location is deleted.
    let took = delete_and_wait_gone(&cat, &buddy_file, &buddy).await;
    println!(
        "delete -> gone: {:.2} s ({buddy}; its shard left empty)",
        took.as_secs_f64()
    );
    names.retain(|n| *n != buddy);
    assert_clean_after_delete(&cat, &d, &names, &buddy).await;
    assert_eq!(d.index_targets().await.len(), shards - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_a_workflow_was_deleted_while_down_removes_it_without_duplicate_locations() {
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    let (config, port) = setup.write_config(&ConfigOpts::default());
    let mut first = Daemon::start(&config, port, &cat.token, "first").await;
    let base = first.url.clone();
    let (before, _) = wait_for_templates(&cat, &NAMES, VISIBLE).await;
    assert_locations_match_index(&cat, &first, &base).await;
    let locations_before = locations_under(&cat, &base).await;
    let status = first.stop();
    assert!(
        status.success(),
        "the daemon exited with {status} on SIGTERM"
    );

    std::fs::remove_file(
        setup
            .flows
            .join("onboarding/subflows/notify-manager.sw.yaml"),
    )
    .unwrap();
    let second = Daemon::start(&config, port, &cat.token, "second").await;
    let (_, took) = eventually(
        "notify-manager (deleted while the daemon was down) to disappear",
        VISIBLE,
        || async {
            match cat
                .get_entity("template", "default", "notify-manager")
                .await
            {
                None => Ok(()),
                Some(e) => Err(format!("still there: uid {}", uid(&e))),
            }
        },
    )
    .await;
    println!(
        "restart: notify-manager gone {:.2} s after the second daemon was ready",
        took.as_secs_f64()
    );
    assert_locations_match_index(&cat, &second, &base).await;
    // No location may be registered again later: give it the time to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    locations_match_index(&cat, &second, &base)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // What stayed was adopted, not registered again.
    let after = locations_under(&cat, &base).await;
    for location in &after {
        assert!(
            locations_before.contains(location),
            "location {location:?} is new after the restart; before: {locations_before:?}"
        );
    }
    let uids = template_uids(&cat).await;
    let rest: Vec<&str> = NAMES
        .iter()
        .copied()
        .filter(|n| *n != "notify-manager")
        .collect();
    assert_eq!(
        uids.keys().collect::<Vec<_>>(),
        rest.iter().collect::<Vec<_>>()
    );
    for name in rest {
        assert_eq!(
            uids[name],
            uid(&before[name]),
            "{name} was deleted and re-added across the restart"
        );
    }
    assert_eq!(
        orphans(&cat).await,
        Vec::<String>::new(),
        "orphaned entities"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_converges_when_the_catalog_starts_after_it() {
    let _slot = slot();
    if let Some(reason) = catalog::skip_reason() {
        println!("skipped: real Backstage catalog test ({reason})");
        return;
    }
    let catalog_port = catalog::free_port();
    let token = format!("e2e-late-{}-{catalog_port}", std::process::id());
    let setup = Setup::new(&format!("http://127.0.0.1:{catalog_port}"), &token);
    let (config, port) = setup.write_config(&ConfigOpts::default());
    let d = Daemon::start_alive(&config, port, &token, "daemon").await;
    // Until the catalog has answered, the daemon does not know what it holds from us, so it
    // publishes nothing (an empty shard would make the catalog delete what it has): not ready,
    // shard URLs 503, and /status says the catalog is failing.
    let http = reqwest::Client::new();
    let readyz = http.get(format!("{}/readyz", d.url)).send().await.unwrap();
    assert_eq!(readyz.status(), 503, "ready before the catalog answered");
    let shard = http
        .get(format!("{}/catalog/shard-00.yaml", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(shard.status(), 503, "served a shard before adopting");
    let (status, _) = eventually("/status to report the missing catalog", VISIBLE, || async {
        let s = d.status().await;
        if s["catalog"]["state"] == "failing" && s["catalog"]["lastError"].is_string() {
            Ok(s)
        } else {
            Err(s.to_string())
        }
    })
    .await;
    assert_eq!(status["ready"], false, "{status}");
    // A few more failed cycles (the daemon backs off between them) before the catalog starts.
    wait_for_cycles(&d, 2).await;

    let t0 = Instant::now();
    let cat = start_catalog(Options {
        port: Some(catalog_port),
        token: Some(token.clone()),
        ..Options::default()
    })
    .await
    .expect("not skipped");
    let catalog_up = t0.elapsed();
    wait_for_templates(&cat, &NAMES, VISIBLE).await;
    println!(
        "late catalog: all {} templates visible {:.2} s after the catalog was started ({:.2} s after it was ready)",
        NAMES.len(),
        t0.elapsed().as_secs_f64(),
        (t0.elapsed() - catalog_up).as_secs_f64()
    );
    assert_locations_match_index(&cat, &d, &d.url).await;
    eventually("/status to report the catalog in step", VISIBLE, || async {
        let s = d.status().await;
        if s["catalog"]["state"] == "in-sync" && s["catalog"]["lastError"].is_null() {
            Ok(())
        } else {
            Err(s["catalog"].to_string())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptied_or_unreadable_source_folder_deletes_nothing_and_reports_last_error() {
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    let (config, port) = setup.write_config(&ConfigOpts {
        interval: "1s".into(),
        ..ConfigOpts::default()
    });
    let d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let (before, _) = wait_for_templates(&cat, &NAMES, VISIBLE).await;
    let uids_before: BTreeMap<String, String> =
        before.iter().map(|(n, e)| (n.clone(), uid(e))).collect();
    let locations_before = locations_under(&cat, &d.url).await;

    let source_error = || async {
        let s = d.status().await;
        match s["sources"][0]["lastError"].as_str() {
            Some(e) if !e.is_empty() => Ok((e.to_owned(), s)),
            _ => Err(s["sources"].to_string()),
        }
    };
    // Several scheduled cycles run; nothing changes in the catalog.
    let hold = |phase: &'static str| {
        let cat = &cat;
        let d = &d;
        let uids_before = &uids_before;
        let locations_before = &locations_before;
        async move {
            wait_for_cycles(d, 3).await;
            let status = d.status().await;
            assert_eq!(
                &template_uids(cat).await,
                uids_before,
                "{phase}: templates were removed or replaced"
            );
            assert_eq!(
                &locations_under(cat, &d.url).await,
                locations_before,
                "{phase}: locations changed"
            );
            assert_eq!(status["templates"], NAMES.len(), "{phase}: {status}");
            let error = status["sources"][0]["lastError"].as_str().unwrap_or("");
            assert!(
                !error.is_empty(),
                "{phase}: the source's lastError was cleared: {status}"
            );
            println!("{phase}: source lastError = {error}");
        }
    };

    // 1. Every file removed.
    for entry in std::fs::read_dir(&setup.flows).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    eventually(
        "/status to show the emptied source's lastError",
        VISIBLE,
        source_error,
    )
    .await;
    hold("emptied folder").await;

    // Back to normal: the error clears.
    daemon::copy_dir(&daemon::fixtures(), &setup.flows);
    eventually(
        "the source's lastError to clear once its files are back",
        VISIBLE,
        || async {
            let s = d.status().await;
            if s["sources"][0]["lastError"].is_null() {
                Ok(())
            } else {
                Err(s["sources"].to_string())
            }
        },
    )
    .await;

    // 2. The folder renamed away (the configured path no longer exists).
    std::fs::rename(&setup.flows, setup.dir.path().join("flows-away")).unwrap();
    eventually(
        "/status to show the missing source folder's lastError",
        VISIBLE,
        source_error,
    )
    .await;
    hold("folder renamed away").await;
}

/// The Template another location owns in `conflict_is_reported_...`.
const OTHER_TEMPLATE: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: hello-world
  title: Someone else's hello world
spec:
  owner: group:default/someone-else
  type: service
  steps:
    - id: log
      name: Log
      action: debug:log
      input:
        message: hello
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_owned_by_another_location_is_reported_as_a_conflict_and_left_alone() {
    use axum::{Router, http::header::CONTENT_TYPE, routing::get};

    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    // Without this the catalog itself stalls for 60 s on the conflict (see the harness).
    cat.create_signing_key().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = listener.local_addr().unwrap().port();
    let app = Router::new().route(
        "/other/hello-world.yaml",
        get(|| async { ([(CONTENT_TYPE, "application/yaml")], OTHER_TEMPLATE) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let other_target = format!("http://127.0.0.1:{other_port}/other/hello-world.yaml");
    let (status, body) = cat.register_location(&other_target, false).await;
    assert_eq!(status, StatusCode::CREATED, "register: {body}");
    let other_location = body["location"]["id"].as_str().unwrap().to_owned();
    let (other, _) = wait_for_templates(&cat, &["hello-world"], VISIBLE).await;
    let other = &other["hello-world"];
    assert_eq!(origin(other), format!("url:{other_target}"));

    let setup = Setup::new(&cat.base_url, &cat.token);
    let (config, port) = setup.write_config(&ConfigOpts {
        interval: "1s".into(),
        ..ConfigOpts::default()
    });
    let d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let rest: Vec<&str> = NAMES
        .iter()
        .copied()
        .filter(|n| *n != "hello-world")
        .collect();
    wait_for_templates(&cat, &rest, VISIBLE).await;
    let (owner, took) = eventually(
        "/status catalog.conflicts to name hello-world",
        VISIBLE,
        || async {
            let s = d.status().await;
            match s["catalog"]["conflicts"]["hello-world"].as_str() {
                Some(owner) => Ok(owner.to_owned()),
                None => Err(s["catalog"].to_string()),
            }
        },
    )
    .await;
    println!(
        "conflict on hello-world reported {:.2} s after the daemon was ready; owner {owner}",
        took.as_secs_f64()
    );
    assert_eq!(owner, format!("url:{other_target}"));

    // A few cycles later the other entity is untouched.
    wait_for_cycles(&d, 3).await;
    let now = cat
        .get_entity("template", "default", "hello-world")
        .await
        .expect("the other hello-world was deleted");
    assert_eq!(uid(&now), uid(other), "the other hello-world was replaced");
    assert_eq!(now["metadata"]["title"], "Someone else's hello world");
    assert_eq!(origin(&now), format!("url:{other_target}"));
    assert_eq!(now["spec"]["owner"], "group:default/someone-else");
    assert!(
        cat.locations()
            .await
            .iter()
            .any(|l| l["id"] == other_location.as_str()),
        "the other location was deleted"
    );
    let status = d.status().await;
    assert!(
        status["catalog"]["conflicts"]["hello-world"].is_string(),
        "the conflict is no longer reported: {status}"
    );
    for name in rest {
        let e = cat.get_entity("template", "default", name).await.unwrap();
        assert!(
            origin(&e).starts_with(&format!("url:{}/catalog/", d.url)),
            "{name}: {}",
            origin(&e)
        );
    }
    assert_locations_match_index(&cat, &d, &d.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_with_the_same_config_agree_without_duplicates_or_flapping() {
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    let port_a = daemon::free_port();
    let public = format!("http://127.0.0.1:{port_a}");
    let opts = |port: u16, file: &str| ConfigOpts {
        port: Some(port),
        public_base_url: Some(public.clone()),
        interval: "1s".into(),
        file: file.into(),
        extra_sources: String::new(),
        extra_config: String::new(),
    };
    let (config_a, _) = setup.write_config(&opts(port_a, "a.yaml"));
    let a = Daemon::start(&config_a, port_a, &cat.token, "a").await;
    wait_for_templates(&cat, &NAMES, VISIBLE).await;
    assert_locations_match_index(&cat, &a, &public).await;

    let port_b = daemon::free_port();
    let (config_b, _) = setup.write_config(&opts(port_b, "b.yaml"));
    let b = Daemon::start(&config_b, port_b, &cat.token, "b").await;
    // Let B adopt and run a few cycles, then watch for at least 10 s and 4 cycles of each.
    wait_for_cycles(&b, 2).await;
    let uids = template_uids(&cat).await;
    let locations = locations_under(&cat, &public).await;
    assert_eq!(
        uids.keys().collect::<Vec<_>>(),
        NAMES.iter().collect::<Vec<_>>()
    );
    let (a0, b0) = (a.metric(SYNCS).await, b.metric(SYNCS).await);
    let t0 = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let at = t0.elapsed().as_secs_f64();
        assert_eq!(
            template_uids(&cat).await,
            uids,
            "entity uids changed after {at:.1} s: the daemons fight"
        );
        assert_eq!(
            locations_under(&cat, &public).await,
            locations,
            "locations changed after {at:.1} s: the daemons fight"
        );
        // Counted at the start of a cycle: 5 more means 4 whole cycles.
        let cycles = (a.metric(SYNCS).await - a0, b.metric(SYNCS).await - b0);
        if t0.elapsed() >= Duration::from_secs(10) && cycles.0 >= 5.0 && cycles.1 >= 5.0 {
            println!("two daemons: {cycles:?} cycles started in {at:.1} s, nothing changed");
            break;
        }
        assert!(
            t0.elapsed() < 2 * VISIBLE,
            "the daemons started only {cycles:?} cycles in {at:.1} s with sync.interval 1s"
        );
    }
    for d in [&a, &b] {
        locations_match_index(&cat, d, &public)
            .await
            .unwrap_or_else(|e| panic!("daemon {}: {e}", d.url));
    }
    // Both serve the same documents under the same public URL.
    assert_eq!(a.index_targets().await, b.index_targets().await);
    for target in a.index_targets().await {
        let path = &target[public.len()..];
        assert_eq!(
            a.get_text(path).await,
            b.get_text(path).await,
            "{path} differs"
        );
    }
    for d in [&a, &b] {
        let s = d.status().await;
        assert_eq!(s["catalog"]["state"], "in-sync", "{}: {s}", d.url);
        assert_eq!(s["templates"], NAMES.len(), "{}: {s}", d.url);
        assert_eq!(
            s["catalog"]["conflicts"],
            json!({}),
            "{}: the other daemon's entities are not a conflict: {s}",
            d.url
        );
    }
    assert_eq!(
        orphans(&cat).await,
        Vec::<String>::new(),
        "orphaned entities"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_template_passes_the_catalogs_validation() {
    let corpus = shared::dir().join("corpus/workflows");
    if !corpus.is_dir() {
        println!(
            "skipped: {} does not exist (set {} to the shared folder)",
            corpus.display(),
            shared::SHARED_ENV
        );
        return;
    }
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let root = corpus.clone();
    let templates = tokio::task::spawn_blocking(move || {
        expected_templates(&root, &["**/*.json", "**/*.yaml", "**/*.yml"])
    })
    .await
    .unwrap();
    assert!(
        templates.len() > 100,
        "only {} templates mapped from the corpus",
        templates.len()
    );
    let cat = Arc::new(cat);
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut calls = tokio::task::JoinSet::new();
    let t0 = Instant::now();
    for (name, entity) in templates.clone() {
        let cat = cat.clone();
        let limit = limit.clone();
        calls.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let (status, body) = cat
                .call(
                    Method::POST,
                    "/api/catalog/validate-entity",
                    Some(&json!({"location": "url:http://127.0.0.1/x.yaml", "entity": entity})),
                )
                .await;
            (name, status, body)
        });
    }
    let mut rejected = Vec::new();
    let mut checked = 0;
    while let Some(done) = calls.join_next().await {
        let (name, status, body) = done.unwrap();
        checked += 1;
        if status != StatusCode::OK {
            rejected.push(format!("{name}: {status} {body}"));
        }
    }
    rejected.sort();
    println!(
        "corpus: {checked} templates validated by the catalog in {:.1} s, {} rejected",
        t0.elapsed().as_secs_f64(),
        rejected.len()
    );
    assert_eq!(checked, templates.len());
    assert!(
        rejected.is_empty(),
        "the catalog rejects {} of {checked} templates:\n{}",
        rejected.len(),
        rejected.join("\n")
    );
    // Drop the catalog here (stop.sh), not on a runtime worker after the test returns.
    drop(Arc::try_unwrap(cat).ok());
}

/// A form nested deeper than the block-style column is served in YAML flow style; the real
/// catalog reads the shard document and holds exactly the form the mapper made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_form_written_in_flow_style_reaches_the_catalog_as_mapped() {
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    let deep = setup.flows.join("deep");
    std::fs::create_dir_all(&deep).unwrap();
    let mut schema = json!({"type": "string", "title": "Leaf", "enum": ["a", "b: c", "yes"]});
    for level in (0..20).rev() {
        schema = json!({"type": "object", "title": format!("Level {level}"),
            "properties": {"next": schema, "note": {"type": "string", "default": "multi\nline"}}});
    }
    std::fs::write(deep.join("s.json"), schema.to_string()).unwrap();
    std::fs::write(
        deep.join("deep.sw.yaml"),
        "id: deep-form\nname: Deep form\ndataInputSchema: s.json\nstates: [{name: s}]\n",
    )
    .unwrap();
    let expected = expected_templates(&setup.flows, &[]);
    let yaml = orchestrator_provider::entity::to_yaml_one(
        &serde_json::from_value(expected["deep-form"].clone()).unwrap(),
    );
    assert!(yaml.contains("{type: object"), "no flow style in\n{yaml}");
    let (config, port) = setup.write_config(&ConfigOpts::default());
    let _d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let (found, _) = wait_for_templates(&cat, &["deep-form"], VISIBLE).await;
    assert_eq!(
        found["deep-form"]["spec"]["parameters"], expected["deep-form"]["spec"]["parameters"],
        "the catalog's form differs from the mapped one"
    );
}

/// A workflow deployed after the daemon started appears in the catalog after the
/// `ProcessDefinitionEvent` announcing it (the Data Index is otherwise read once an hour); a
/// malformed event is refused with 400 and reads nothing. How soon: `cargo bench --bench
/// cloudevent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudevent_makes_the_daemon_publish_a_newly_deployed_workflow() {
    let _slot = slot();
    let flow = |id: &str, title: &str| {
        json!({
            "id": id, "version": "1.0", "specVersion": "0.8", "name": title,
            "start": "S", "states": [{"name": "S", "type": "inject", "data": {}, "end": true}]
        })
        .to_string()
    };
    let row = |id: &str, source: Option<String>| {
        json!({
            "id": id, "name": id, "version": "1.0", "type": "SW",
            "endpoint": format!("http://{id}.svc/{id}"), "serviceUrl": format!("http://{id}.svc"),
            "metadata": {"status": "available"}, "source": source
        })
    };
    let Some(di) = data_index_fixture::Fixture::start(
        data_index_fixture::Release::V10_2,
        vec![row("hello-world", None)],
    )
    .await
    else {
        return;
    };
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    let setup = Setup::new(&cat.base_url, &cat.token);
    let (config, port) = setup.write_config(&ConfigOpts {
        interval: "1h".into(),
        extra_sources: format!(
            "  - type: dataIndex\n    url: {}\n    publish: all\n",
            di.url
        ),
        ..ConfigOpts::default()
    });
    let d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let (before, _) = wait_for_templates(&cat, &NAMES, VISIBLE).await;
    let availability =
        |e: &Value| e["metadata"]["annotations"]["orchestrator.io/availability"].clone();
    assert_eq!(availability(&before["hello-world"]), "available");
    assert_eq!(availability(&before["onboarding"]), "not-deployed");

    let http = reqwest::Client::new();
    let events = format!("{}/events", d.url);
    di.set_rows(vec![
        row("hello-world", None),
        row("fresh-flow-1", Some(flow("fresh-flow-1", "Fresh flow 1"))),
    ]);
    let reads = di.requests();
    let malformed = http
        .post(&events)
        .header("content-type", "application/cloudevents+json")
        .body(r#"{"specversion": "1.0", "type": "ProcessDefinitionEvent"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(malformed.text().await.unwrap().contains("`id` is missing"));
    // Nothing may read the Data Index: give it the time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        di.requests(),
        reads,
        "a malformed event read the Data Index"
    );
    assert!(
        cat.get_entity("template", "default", "fresh-flow-1")
            .await
            .is_none(),
        "a malformed event triggers nothing"
    );

    // Three deployments one after another.
    let mut rows = vec![row("hello-world", None)];
    let mut took = Vec::new();
    for i in 1..=3 {
        let id = format!("fresh-flow-{i}");
        rows.push(row(&id, Some(flow(&id, &format!("Fresh flow {i}")))));
        di.set_rows(rows.clone());
        let event = json!({
            "specversion": "1.0", "id": format!("e-{i}"), "source": format!("http://{id}.svc/{id}"),
            "type": "ProcessDefinitionEvent", "kogitoprocid": id,
            "data": {"id": id, "version": "1.0", "endpoint": format!("http://{id}.svc/{id}")}
        });
        let sent = Instant::now();
        let accepted = http
            .post(&events)
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        let (found, _) = wait_for_templates(&cat, &[id.as_str()], VISIBLE).await;
        took.push(sent.elapsed());
        assert_eq!(found[&id]["metadata"]["title"], format!("Fresh flow {i}"));
        assert_eq!(availability(&found[&id]), "available");
    }
    println!("CloudEvent -> visible in the catalog: {took:.2?}");
}

/// The GitHub webhook: a signed push makes the daemon fetch, and the catalog show the change (the
/// repository is otherwise fetched once an hour; how soon: `cargo bench --bench webhook`); a bad
/// signature is 401 and fetches nothing; a burst of 20 pushes coalesces into one or two fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_webhook_updates_the_template_and_bad_signatures_fetch_nothing() {
    use hmac::{Hmac, Mac};
    let _slot = slot();
    let Some(cat) = start_catalog(Options::default()).await else {
        return;
    };
    const GIT_TOKEN: &str = "git-token-e2e";
    const SECRET: &str = "It's a Secret to Everybody";
    let setup = Setup::new(&cat.base_url, &cat.token);
    let srv = setup.dir.path().join("srv");
    let work = git_server::WorkRepo::init(&srv.join("flows"));
    let flow = |title: &str| {
        format!(
            "id: from-git\nname: {title}\nversion: '1.0'\nstart: s\nstates: [{{name: s, type: inject, data: {{}}, end: true}}]\n"
        )
    };
    work.write("flows/from-git.sw.yaml", flow("From git"));
    work.commit("a workflow");
    let srv2 = srv.clone();
    let http = tokio::task::spawn_blocking(move || git_server::GitHttp::start(&srv2, GIT_TOKEN))
        .await
        .unwrap();
    let secrets = setup.dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("git-token"), GIT_TOKEN).unwrap();
    std::fs::write(secrets.join("github-secret"), SECRET).unwrap();
    let url = http.url("flows");
    let (config, port) = setup.write_config(&ConfigOpts {
        interval: "1h".into(),
        extra_sources: format!(
            "  - type: git\n    url: {url}\n    ref: main\n    auth: {{tokenFile: {}}}\n",
            secrets.join("git-token").display()
        ),
        extra_config: format!(
            "webhooks:\n  github: {{secretFile: {}}}\n",
            secrets.join("github-secret").display()
        ),
        ..ConfigOpts::default()
    });
    let d = Daemon::start(&config, port, &cat.token, "daemon").await;
    let mut names: Vec<&str> = NAMES.to_vec();
    names.push("from-git");
    let (before, _) = wait_for_templates(&cat, &names, VISIBLE).await;
    let annotations = &before["from-git"]["metadata"]["annotations"];
    assert_eq!(annotations["orchestrator.io/source-commit"], work.head());
    assert!(!annotations.to_string().contains(GIT_TOKEN));

    let hook = format!("{}/webhooks/github", d.url);
    let client = reqwest::Client::new();
    let push = |after: String| {
        json!({"ref": "refs/heads/main", "after": after, "repository": {"clone_url": format!("{url}.git"), "html_url": url}}).to_string()
    };
    let sign = |body: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let fetches = |http: &git_server::GitHttp| {
        http.log()
            .iter()
            .filter(|l| l.starts_with("GET /flows/info/refs") && l.ends_with("200"))
            .count()
    };
    let send = |body: String, signature: Option<String>| {
        let mut request = client
            .post(&hook)
            .header("X-GitHub-Event", "push")
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = signature {
            request = request.header("X-Hub-Signature-256", s);
        }
        request.send()
    };
    let title_is = |title: String| {
        let cat = &cat;
        async move {
            let e = cat.get_entity("template", "default", "from-git").await;
            match e {
                Some(e) if e["metadata"]["title"] == title.as_str() => Ok(e),
                other => Err(format!(
                    "{:?}",
                    other.map(|e| e["metadata"]["title"].clone())
                )),
            }
        }
    };

    // A commit, then a delivery with a wrong signature and one without: 401, nothing fetched.
    work.write("flows/from-git.sw.yaml", flow("From git, edited"));
    let head = work.commit("edit");
    let fetched = fetches(&http);
    let body = push(head.clone());
    let wrong = send(body.clone(), Some(sign("another body")))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let missing = send(body.clone(), None).await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    // No fetch may follow: give it the time to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        fetches(&http),
        fetched,
        "a refused delivery fetches nothing"
    );
    let ping = client
        .post(&hook)
        .header("X-GitHub-Event", "ping")
        .header("X-Hub-Signature-256", sign("{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::OK);

    // The signed push.
    let sent = Instant::now();
    let ok = send(body.clone(), Some(sign(&body))).await.unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    eventually("the pushed title", VISIBLE, || {
        title_is("From git, edited".into())
    })
    .await;
    let took = sent.elapsed();
    println!(
        "signed push -> visible in the catalog: {:.2} s",
        took.as_secs_f64()
    );

    // A burst of 20 deliveries for one more commit.
    work.write("flows/from-git.sw.yaml", flow("From git, burst"));
    let head = work.commit("burst");
    let body = push(head);
    let fetched = fetches(&http);
    let burst = (0..20).map(|_| send(body.clone(), Some(sign(&body))));
    for response in futures_join_all(burst).await {
        assert_eq!(response.unwrap().status(), StatusCode::ACCEPTED);
    }
    eventually("the burst's title", VISIBLE, || {
        title_is("From git, burst".into())
    })
    .await;
    // No more fetches may follow: give them the time to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let burst_fetches = fetches(&http) - fetched;
    println!("20 pushes -> {burst_fetches} fetches");
    assert!(
        (1..=2).contains(&burst_fetches),
        "{burst_fetches} fetches: {:?}",
        http.log()
    );
    drop(d);
    tokio::task::spawn_blocking(move || drop(http))
        .await
        .unwrap();
}

/// Runs the futures concurrently, in order of their results.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
