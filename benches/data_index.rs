//! Benchmark: the daemon following a Data Index with 1000 deployed workflows.
//!
//! `cargo bench --bench data_index` (needs `../shared/corpus/data-index` for the fixture's SDL).
//! The Data Index fixture (release 10.2, validating every query against the real SDL) and a
//! workflow-service stand-in run in this process; the daemon is the real binary, reading the
//! Data Index every second (`pageSize: 1000`), without a catalog. Reports the first read (every
//! definition and every input schema fetched once) and then, over 20 s of idle cycles:
//! Data Index requests per cycle, workflow-service calls, and the daemon's CPU time per cycle.

#[path = "../tests/support/data_index_fixture.rs"]
mod data_index_fixture;
#[path = "support/process.rs"]
mod process;
#[path = "../tests/support/shared.rs"]
mod shared;
#[allow(dead_code)] // the failure switch is for tests
#[path = "../tests/support/workflow_service.rs"]
mod workflow_service;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use data_index_fixture::{Fixture, Release};
use process::{Daemon, TICK_MS, cpu_ticks, metric_sums};
use serde_json::{Value, json};
use workflow_service::WorkflowService;

const N: usize = 1000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("Data Index benchmark: run it with `cargo bench --bench data_index`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run());
}

fn definition(i: usize) -> String {
    format!(
        "id: flow-{i:05}\nversion: '1.0'\nspecVersion: '0.8'\nname: Deployed workflow {i}\ndescription: Workflow number {i}\nannotations:\n  - workflow-type/infrastructure\ndataInputSchema: schemas/flow-{i:05}.sw.input-schema.json\nstart: Run\nstates:\n  - name: Run\n    type: inject\n    data: {{n: {i}}}\n    end: true\n"
    )
}

async fn run() {
    let mut schemas = BTreeMap::new();
    for i in 0..N {
        schemas.insert(
            format!("flow-{i:05}"),
            json!({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "title": "Name"},
                "size": {"type": "integer", "default": i}
            }}),
        );
    }
    let service = WorkflowService::start(schemas).await;
    let rows: Vec<Value> = (0..N)
        .map(|i| {
            let id = format!("flow-{i:05}");
            json!({
                "id": id, "name": format!("Deployed workflow {i}"), "version": "1.0", "type": "SW",
                "endpoint": format!("{}/{id}", service.url), "serviceUrl": service.url,
                "description": format!("Workflow number {i}"), "annotations": ["workflow-type/infrastructure"],
                "metadata": {"status": "available"}, "source": definition(i)
            })
        })
        .collect();
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = process::free_port();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: dataIndex\n    url: {}\n    pageSize: 1000\n    interval: 1s\nserver:\n  listen: 127.0.0.1:{port}\nsync:\n  interval: 1s\nstateDir: {}\nlogging:\n  level: warn\n",
            fixture.url,
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let pid = daemon.pid();
    let status_url = format!("http://127.0.0.1:{port}/status");
    loop {
        if let Ok(r) = reqwest::get(&status_url).await
            && let Ok(s) = r.json::<Value>().await
            && s["templates"].as_u64() == Some(N as u64)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no {N} templates after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = started.elapsed().as_secs_f64();
    let first_requests = fixture.requests();
    let first_sources = fixture.sources_served();
    let first_calls = service.calls();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    fixture.reset_counts();
    let calls0 = service.calls();
    let syncs0 = metric_sums(&metrics_url, &["orchestrator_provider_syncs_total"]).await[0];
    let cpu0 = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let syncs1 = metric_sums(&metrics_url, &["orchestrator_provider_syncs_total"]).await[0];
    let cpu1 = cpu_ticks(pid);
    let requests = fixture.requests();
    let calls = service.calls() - calls0;
    let sources = fixture.sources_served();
    let cycles = (syncs1 - syncs0).max(1.0);
    drop(daemon);

    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| first read: start -> {N} templates served | {first:.2} s ({first_requests} Data Index requests, {first_sources} sources, {first_calls} workflow-service calls) | |"
    );
    println!(
        "| idle cycle: Data Index requests | {:.2} per cycle ({} cycles) | <= 2 |",
        requests as f64 / cycles,
        cycles
    );
    println!("| idle cycle: `source` fields asked | {sources} | 0 |");
    println!("| idle cycle: workflow-service calls | {calls} | 0 |");
    println!(
        "| idle cycle: daemon CPU time | {:.1} ms per cycle | |",
        (cpu1 - cpu0) as f64 * TICK_MS / cycles
    );
}
