//! Benchmark: what a restart of the daemon costs, as the Deployment's `strategy: Recreate` does it
//! (the old pod stops, then the new one starts), with 1000 workflows in the real catalog.
//!
//! `cargo bench --bench restart` (needs Node.js and npm, like `--bench daemon`). Reports:
//! - the daemon's shutdown on SIGTERM (the pod's terminationGracePeriodSeconds must exceed it);
//! - start to `/readyz` 200 of the new daemon (it adopts what the catalog holds), and the
//!   catalog calls and changes it makes doing so;
//! - what the catalog shows while no daemon runs: every template, after a shard was re-read
//!   (and failed) meanwhile;
//! - the daemon's RSS at rest and its peak, before and after the restart (the Deployment's
//!   memory request and limit).

#[path = "../tests/support/catalog.rs"]
mod catalog;
#[path = "support/generate.rs"]
mod generate;
#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use catalog::{Catalog, Options};
use process::{Daemon, metric_sums, rss, wait_until};
use serde_json::Value;

const N: usize = 1000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("restart benchmark: run it with `cargo bench --bench restart`");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    generate::generate(&flows, N);
    println!("generated {N} workflows");
    rt.block_on(run(tmp.path(), &flows));
}

fn spawn(config: &Path, token: &str) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
        .args(["run", "--config"])
        .arg(config)
        .env("BENCH_CATALOG_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Daemon(child)
}

async fn ready(port: u16) -> bool {
    reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// SIGTERM, then the time until the process exits.
fn stop(daemon: Daemon) -> Duration {
    let mut daemon = daemon;
    let t = Instant::now();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.pid().to_string())
        .status();
    let status = daemon.0.wait().unwrap();
    let took = t.elapsed();
    assert!(status.success(), "exit {status}");
    // Exited: nothing left for its drop to stop.
    std::mem::forget(daemon);
    took
}

async fn run(dir: &Path, flows: &Path) {
    let catalog = Catalog::start_with(Options {
        processing_seconds: Some(600),
        default_stitching: true,
        ..Default::default()
    })
    .expect("the benchmark needs the real catalog (Node.js and npm)");
    let port = process::free_port();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: dir\n    path: {}\nserver:\n  listen: 127.0.0.1:{port}\ncatalog:\n  baseUrl: {}\n  tokenEnv: BENCH_CATALOG_TOKEN\nsync:\n  interval: 5s\nlogging:\n  level: warn\n",
            flows.display(),
            catalog.base_url
        ),
    )
    .unwrap();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");

    // The first pod: cold start, then a while at rest.
    let first = spawn(&config, &catalog.token);
    wait_until("cold start", Duration::from_secs(180), async || {
        catalog.template_count().await >= N
    })
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (rss_first, hwm_first) = rss(first.pid());
    let locations: Vec<Value> = catalog.list_entities("kind=location").await;

    // Recreate: the old pod goes...
    let shutdown = stop(first);
    // ...and while none runs, the catalog re-reads a shard (refused) and keeps its templates.
    let shard = locations
        .iter()
        .find(|l| {
            l.pointer("/spec/target")
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains("/catalog/shard-"))
        })
        .expect("a shard location");
    let shard_ref = format!(
        "location:default/{}",
        shard["metadata"]["name"].as_str().unwrap()
    );
    let t = Instant::now();
    assert!(catalog.refresh(&shard_ref).await.is_success());
    wait_until("the refused re-read", Duration::from_secs(60), async || {
        catalog
            .get_entity("location", "default", shard_ref.rsplit('/').next().unwrap())
            .await
            .is_some_and(|e| {
                e.pointer("/status/items")
                    .and_then(Value::as_array)
                    .is_some_and(|items| !items.is_empty())
            })
    })
    .await;
    let refused_after = t.elapsed();
    let during = catalog.template_count().await;

    // ...and the new one starts.
    let t = Instant::now();
    let second = spawn(&config, &catalog.token);
    wait_until(
        "ready after the restart",
        Duration::from_secs(120),
        async || ready(port).await,
    )
    .await;
    let to_ready = t.elapsed();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let sums = metric_sums(
        &metrics_url,
        &[
            "orchestrator_provider_catalog_calls_total",
            "orchestrator_provider_catalog_changes_total",
        ],
    )
    .await;
    let (rss_second, hwm_second) = rss(second.pid());
    let after = catalog.template_count().await;
    let locations_after = catalog.list_entities("kind=location").await.len();
    drop(second);

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| shutdown on SIGTERM, idle | {:.2} s |",
        shutdown.as_secs_f64()
    );
    println!(
        "| templates in the catalog while no daemon runs, after a refused shard re-read ({:.1} s after the refresh) | {during} of {N} |",
        refused_after.as_secs_f64()
    );
    println!(
        "| restart: start to /readyz 200 | {:.2} s |",
        to_ready.as_secs_f64()
    );
    println!(
        "| restart: catalog calls / catalog changes in the new daemon's first 12 s | {} / {} |",
        sums[0], sums[1]
    );
    println!(
        "| templates / locations after the restart | {after} / {locations_after} (before: {N} / {}) |",
        locations.len()
    );
    println!(
        "| RSS at rest (peak), first daemon: cold start of {N} | {rss_first:.1} MB ({hwm_first:.1} MB) |"
    );
    println!(
        "| RSS at rest (peak), after the restart: adopting {N} | {rss_second:.1} MB ({hwm_second:.1} MB) |"
    );
}
