//! Benchmark: the daemon against the real Backstage catalog, with 1000 generated workflows,
//! side by side with the catalog's own ingest of the same 1000 Templates from one static file.
//!
//! `cargo bench --bench daemon` (needs Node.js and npm: it installs and starts the catalog from
//! tests/e2e/backstage). Each phase gets a fresh catalog (processing interval 600 s, so only
//! explicit API calls make changes visible). Reports:
//! - cold start until all 1000 are visible: static multi-doc file vs the daemon;
//! - one workflow edited -> the daemon's first catalog call (seen by a recording proxy between
//!   the daemon and the catalog) and where that cycle's time went (its log line), and -> new
//!   title visible: median and max over 20 edits;
//! - one workflow deleted -> gone;
//! - catalog entities beyond the 1000 Templates;
//! - idle cycles: catalog requests and CPU time per cycle; the daemon's RSS.

#[path = "../tests/support/catalog.rs"]
mod catalog;
#[path = "support/generate.rs"]
mod generate;
#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use catalog::{Catalog, Options};
use process::{Daemon, TICK_MS, cpu_ticks, metric_sums, rss, wait_until};
use serde_json::Value;

const N: usize = 1000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("daemon benchmark: run it with `cargo bench --bench daemon`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    generate::generate(&flows, N);
    println!("generated {N} workflows");

    let binary = env!("CARGO_BIN_EXE_orchestrator-provider");
    let static_secs = rt.block_on(static_baseline(binary, &flows));
    let results = rt.block_on(daemon_run(binary, tmp.path(), &flows));

    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!("| catalog ingest of one static 1000-document file (floor) | {static_secs:.1} s | |");
    println!(
        "| daemon cold start, all 1000 visible | {:.1} s ({:.2}x the floor) | <= 1.3x |",
        results.cold,
        results.cold / static_secs
    );
    println!(
        "| edit -> first catalog call, median of 20 | {:.1} ms (max {:.1} ms) | |",
        results.first_call_median, results.first_call_max
    );
    for (what, ms) in &results.phases {
        println!("| that cycle: {what}, median of 20 | {ms:.1} ms | |");
    }
    println!(
        "| edit -> visible, median of 20 | {:.2} s | <= 1.0 s |",
        results.edit_median
    );
    println!(
        "| edit -> visible, max of 20 | {:.2} s | |",
        results.edit_max
    );
    println!("| delete -> gone | {:.2} s | <= 5 s |", results.delete);
    println!(
        "| catalog entities beyond the 1000 Templates | {} | <= 50 |",
        results.extra_entities
    );
    println!(
        "| idle cycle: catalog requests | {:.1} per cycle ({} cycles) | 0 |",
        results.idle_calls, results.idle_cycles
    );
    println!(
        "| idle cycle: CPU time | {:.2} ms per cycle | <= 10 ms |",
        results.idle_cpu_ms
    );
    println!(
        "| daemon RSS (peak) | {:.1} MB ({:.1} MB) | <= 40 MB |",
        results.rss_mb, results.hwm_mb
    );
}

fn start_catalog() -> Catalog {
    Catalog::start_with(Options {
        processing_seconds: Some(600),
        // What a catalog runs unless tuned (the tests' 100 ms shortens the wait).
        default_stitching: true,
        ..Default::default()
    })
    .expect("the benchmark needs the real catalog (Node.js and npm)")
}

/// The catalog's own ingest of the same Templates from one static multi-document file.
async fn static_baseline(binary: &str, flows: &Path) -> f64 {
    let catalog = start_catalog();
    let out = Command::new(binary)
        .arg("export")
        .arg(flows)
        .output()
        .unwrap();
    assert!(out.status.success());
    let body = String::from_utf8(out.stdout).unwrap();
    let etag = format!("\"{}\"", body.len());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/all.yaml", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/all.yaml",
        axum::routing::get(move || {
            let body = body.clone();
            let etag = etag.clone();
            async move { ([("etag", etag)], body) }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let started = Instant::now();
    let (status, _) = catalog.register_location(&url, false).await;
    assert!(status.is_success(), "register: {status}");
    wait_until("static file ingest", Duration::from_secs(120), async || {
        catalog.template_count().await >= N
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    server.abort();
    secs
}

struct Results {
    cold: f64,
    first_call_median: f64,
    first_call_max: f64,
    /// Medians of the phases the daemon logs for the cycles the edits started.
    phases: Vec<(&'static str, f64)>,
    edit_median: f64,
    edit_max: f64,
    delete: f64,
    extra_entities: usize,
    idle_calls: f64,
    idle_cycles: u64,
    idle_cpu_ms: f64,
    rss_mb: f64,
    hwm_mb: f64,
}

/// Requests the daemon sent to the catalog through the proxy: when, method and path.
type Calls = Arc<Mutex<Vec<(Instant, String)>>>;

/// A proxy in front of the catalog that records when each request arrives; its base URL.
async fn recording_proxy(catalog: &str, calls: Calls) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = catalog.to_owned();
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (client, target, calls) = (client.clone(), target.clone(), calls.clone());
        async move {
            let at = Instant::now();
            let (parts, body) = request.into_parts();
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            calls
                .lock()
                .unwrap()
                .push((at, format!("{} {path}", parts.method)));
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            // Hop-by-hop and length headers are each side's own.
            let own = |name: &axum::http::HeaderName| {
                [
                    "host",
                    "connection",
                    "keep-alive",
                    "transfer-encoding",
                    "content-length",
                ]
                .contains(&name.as_str())
            };
            let mut forwarded = client.request(parts.method, format!("{target}{path}"));
            for (name, value) in parts.headers.iter().filter(|(n, _)| !own(n)) {
                forwarded = forwarded.header(name, value);
            }
            let answer = forwarded.body(body).send().await.unwrap();
            let mut response = axum::http::Response::builder().status(answer.status());
            for (name, value) in answer.headers().iter().filter(|(n, _)| !own(n)) {
                response = response.header(name, value);
            }
            response
                .body(axum::body::Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The median of `values` (sorted here).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Medians of the phase fields of the `sync` log lines of cycles started by a file change that
/// updated a template (the daemon logs JSON lines to `log`).
fn phases(log: &Path) -> Vec<(&'static str, f64)> {
    let text = std::fs::read_to_string(log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "sync" && l["reason"] == "file change")
        .filter(|l| l["updated"].as_u64().unwrap_or(0) > 0)
        .collect();
    [
        ("first change -> cycle start", "since_change_ms"),
        ("read the folder", "read_ms"),
        ("merge and map 1000", "map_ms"),
        ("plan, validate with the catalog, serve", "publish_ms"),
        ("catalog calls (refresh)", "catalog_ms"),
        ("whole cycle", "ms"),
    ]
    .into_iter()
    .map(|(what, key)| {
        let mut values: Vec<f64> = lines.iter().filter_map(|l| l[key].as_f64()).collect();
        assert!(
            !values.is_empty(),
            "no `{key}` in the daemon's sync log lines"
        );
        (what, median(&mut values))
    })
    .collect()
}

async fn daemon_run(binary: &str, dir: &Path, flows: &Path) -> Results {
    let catalog = start_catalog();
    let calls: Calls = Default::default();
    let proxy = recording_proxy(&catalog.base_url, calls.clone()).await;
    let port = process::free_port();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: dir\n    path: {}\nserver:\n  listen: 127.0.0.1:{port}\ncatalog:\n  baseUrl: {proxy}\n  tokenEnv: BENCH_CATALOG_TOKEN\nsync:\n  interval: 1s\nlogging:\n  level: info\n  format: json\nstateDir: {}\n",
            flows.display(),
            dir.join("state").display(),
        ),
    )
    .unwrap();
    let log = dir.join("daemon.log");
    let started = Instant::now();
    let child = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config)
        .env("BENCH_CATALOG_TOKEN", &catalog.token)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let pid = daemon.pid();
    let visible = process::poll(Duration::from_secs(300), async || {
        catalog.template_count().await >= N
    })
    .await;
    if visible.is_none() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let calls = calls.lock().unwrap().len();
        panic!(
            "daemon cold start: {} of {N} visible after 300 s ({calls} catalog calls); the daemon's log ends:\n{}",
            catalog.template_count().await,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let cold = started.elapsed().as_secs_f64();

    // Edits: change the title of one workflow at a time, wait for the catalog to show it.
    let mut edits = Vec::new();
    let mut first_calls = Vec::new();
    for k in 0..20 {
        let title = format!("Edited workflow edit-{k}");
        let (path, name, edited) = generate::retitled(flows, k, &title);
        // Between edits the daemon is idle: no scheduled cycle may stand in for the edit's.
        wait_until("a quiet catalog", Duration::from_secs(30), async || {
            calls
                .lock()
                .unwrap()
                .last()
                .is_none_or(|(at, _)| at.elapsed() > Duration::from_secs(2))
        })
        .await;
        let t = Instant::now();
        std::fs::write(flows.join(path), edited).unwrap();
        wait_until("edit visible", Duration::from_secs(30), async || {
            catalog
                .get_entity("template", "default", &name)
                .await
                .is_some_and(|e| {
                    e.pointer("/metadata/title").and_then(Value::as_str) == Some(title.as_str())
                })
        })
        .await;
        edits.push(t.elapsed().as_secs_f64());
        let first = calls
            .lock()
            .unwrap()
            .iter()
            .find(|(at, _)| *at >= t)
            .cloned();
        let (at, call) = first.expect("the edit made a catalog call");
        // The daemon's first call for an edit asks the catalog to validate the new version.
        assert!(call.ends_with("/validate-entity"), "first call: {call}");
        first_calls.push((at - t).as_secs_f64() * 1e3);
    }
    edits.sort_by(f64::total_cmp);

    // Delete one workflow.
    let t = Instant::now();
    std::fs::remove_dir_all(flows.join("team-02/flow-00002")).unwrap();
    wait_until("delete gone", Duration::from_secs(60), async || {
        catalog
            .get_entity("template", "default", "flow-00002")
            .await
            .is_none()
    })
    .await;
    let delete = t.elapsed().as_secs_f64();

    let all = catalog.list_entities("kind=location").await.len();

    // Idle: let the schedule run, count catalog calls and CPU over those cycles.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let scrape = async || {
        let sums = metric_sums(
            &metrics_url,
            &[
                "orchestrator_provider_catalog_calls_total",
                "orchestrator_provider_syncs_total",
            ],
        )
        .await;
        (sums[0], sums[1])
    };
    let (calls0, syncs0) = scrape().await;
    let cpu0 = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let (calls1, syncs1) = scrape().await;
    let cpu1 = cpu_ticks(pid);
    let cycles = (syncs1 - syncs0).max(1.0);
    let (rss, hwm) = rss(pid);
    drop(daemon);
    Results {
        cold,
        first_call_median: median(&mut first_calls),
        first_call_max: first_calls.iter().copied().fold(0.0, f64::max),
        phases: phases(&log),
        edit_median: edits[edits.len() / 2],
        edit_max: edits[edits.len() - 1],
        delete,
        extra_entities: all,
        idle_calls: (calls1 - calls0) / cycles,
        idle_cycles: cycles as u64,
        idle_cpu_ms: (cpu1 - cpu0) as f64 * TICK_MS / cycles,
        rss_mb: rss,
        hwm_mb: hwm,
    }
}
