//! Benchmark: a `ProcessDefinitionEvent` -> the newly deployed workflow's template in the real
//! Backstage catalog, with the catalog's default stitching poll (1 s) and with the tests' 100 ms.
//!
//! `cargo bench --bench cloudevent` (needs Node.js and npm for the catalog, and
//! `../shared/corpus/data-index` for the fixture's SDL). The Data Index fixture (release 10.2)
//! runs in this process with 1000 deployed workflows; the daemon (the real binary) reads it
//! once an hour, so only events make it read, and keeps a catalog (processing interval 600 s)
//! in step. Per stitching setting, a fresh catalog and daemon; then 20 times: one more workflow
//! deployed in the Data Index, its event POSTed to the daemon, and the time until the catalog
//! shows its template.

#[path = "../tests/support/catalog.rs"]
mod catalog;
#[path = "../tests/support/data_index_fixture.rs"]
mod data_index_fixture;
#[path = "support/process.rs"]
mod process;
#[path = "../tests/support/shared.rs"]
mod shared;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use catalog::{Catalog, Options};
use data_index_fixture::{Fixture, Release};
use process::{Daemon, poll, wait_until};
use serde_json::{Value, json};

const N: usize = 1000;
const EVENTS: usize = 20;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("CloudEvent benchmark: run it with `cargo bench --bench cloudevent`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    for default_stitching in [true, false] {
        let Some(row) = rt.block_on(phase(default_stitching)) else {
            return;
        };
        rows.push(row);
    }
    println!(
        "| catalog stitching poll | cold start, {N} visible | event -> visible, median of {EVENTS} | max | target |"
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

/// A deployed workflow as the Data Index lists it, with its definition as `source`.
fn row(i: usize) -> Value {
    let id = format!("flow-{i:05}");
    let source = json!({
        "id": id, "version": "1.0", "specVersion": "0.8", "name": format!("Deployed workflow {i}"),
        "dataInputSchema": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "start": "S", "states": [{"name": "S", "type": "inject", "data": {}, "end": true}]
    });
    json!({
        "id": id, "name": format!("Deployed workflow {i}"), "version": "1.0", "type": "SW",
        "endpoint": format!("http://{id}.svc/{id}"), "serviceUrl": format!("http://{id}.svc"),
        "metadata": {"status": "available"}, "source": source.to_string()
    })
}

/// One catalog and daemon; the table row, or `None` without the Data Index SDL.
async fn phase(default_stitching: bool) -> Option<String> {
    let setting = if default_stitching {
        "1 s (the catalog's default)"
    } else {
        "100 ms (the tests')"
    };
    let mut rows: Vec<Value> = (0..N).map(row).collect();
    let fixture = Fixture::start(Release::V10_2, rows.clone()).await?;
    let catalog = tokio::task::spawn_blocking(move || {
        Catalog::start_with(Options {
            processing_seconds: Some(600),
            default_stitching,
            ..Default::default()
        })
    })
    .await
    .unwrap()
    .expect("the benchmark needs the real catalog (Node.js and npm)");
    let tmp = tempfile::tempdir().unwrap();
    let port = process::free_port();
    let config = tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: dataIndex\n    url: {}\n    interval: 1h\nserver:\n  listen: 127.0.0.1:{port}\ncatalog:\n  baseUrl: {}\n  tokenEnv: BENCH_CATALOG_TOKEN\nsync:\n  interval: 1h\nstateDir: {}\nlogging:\n  level: info\n",
            fixture.url,
            catalog.base_url,
            tmp.path().join("state").display()
        ),
    )
    .unwrap();
    let log = tmp.path().join("daemon.log");
    let started = Instant::now();
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .args(["run", "--config"])
            .arg(&config)
            .env("BENCH_CATALOG_TOKEN", &catalog.token)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until("cold start", Duration::from_secs(300), async || {
        catalog.template_count().await >= N
    })
    .await;
    let cold = started.elapsed().as_secs_f64();
    println!("stitching {setting}: cold start, all {N} visible after {cold:.1} s");

    let client = reqwest::Client::new();
    let events = format!("http://127.0.0.1:{port}/events");
    let mut times = Vec::new();
    for k in 0..EVENTS {
        let i = N + k;
        let id = format!("flow-{i:05}");
        rows.push(row(i));
        fixture.set_rows(rows.clone());
        let event = json!({
            "specversion": "1.0", "id": format!("e-{k}"), "source": format!("http://{id}.svc/{id}"),
            "type": "ProcessDefinitionEvent", "kogitoprocid": id,
            "data": {"id": id, "version": "1.0", "endpoint": format!("http://{id}.svc/{id}")}
        });
        let t = Instant::now();
        let response = client
            .post(&events)
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        let took = poll(Duration::from_secs(30), async || {
            catalog
                .get_entity("template", "default", &id)
                .await
                .is_some()
        })
        .await;
        if took.is_none() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            panic!(
                "event {k} not visible within 30 s; daemon log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        times.push(t.elapsed().as_secs_f64());
        // The next event in a different phase of the catalog's 1 s processing loop.
        tokio::time::sleep(Duration::from_millis(300 + 137 * (k as u64 % 5))).await;
    }
    println!("stitching {setting}: event -> visible (s): {times:.2?}");
    times.sort_by(f64::total_cmp);
    drop(daemon);
    tokio::task::spawn_blocking(move || drop(catalog))
        .await
        .unwrap();
    Some(format!(
        "| {setting} | {cold:.1} s | {:.2} s | {:.2} s | <= 2.0 s |",
        times[times.len() / 2],
        times[times.len() - 1]
    ))
}
