//! Benchmark: the daemon's memory with 100 000 tiny workflows and no catalog.
//!
//! `cargo bench --bench memory` (`-- 20000` for another count). Generates the files (100 per
//! folder), runs the real binary's `run` on them (a watched folder, `stateDir` in a temp folder,
//! no catalog: the test catalog cannot hold 100 000 templates), and samples its RSS every
//! 100 ms from `/proc/<pid>/status`:
//! - time until `/readyz` answers 200, and the peak (`VmHWM`) up to then;
//! - RSS at rest: the median of the samples 10 to 20 s after ready;
//! - one file edited three times (each waited for in `/status`): the peak and the rest after.
//!
//! The budget (issue 10): at rest at most 40 MB + 4 KB per published template, and a peak of at
//! most 1.5 times that rest.

#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use process::{Daemon, status_kb};
use serde_json::Value;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("memory benchmark: run it with `cargo bench --bench memory`");
        return;
    }
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    let t0 = Instant::now();
    generate(&flows, n);
    println!(
        "generated {n} workflows in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let port = process::free_port();
    let config = tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: dir\n    path: {:?}\nserver:\n  listen: 127.0.0.1:{port}\nstateDir: {:?}\nsync:\n  debounce: 50ms\n",
            flows.display().to_string(),
            tmp.path().join("state").display().to_string()
        ),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = daemon.pid();
    // Until ready.
    loop {
        let ready = rt.block_on(async {
            http.get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        });
        if ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not ready in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready = started.elapsed();
    let peak_start = status_kb(pid, "VmHWM");
    let first = rt.block_on(status(&http, &base));
    let templates = first["templates"].as_u64().unwrap() as f64;
    let rest_start = rest(pid);

    // One file edited three times: a cycle re-reads it, maps everything, renders one.
    let file = flows.join("d000/w1.sw.yaml");
    for round in 1..=3 {
        let before = rt.block_on(status(&http, &base))["lastSync"]["at"].clone();
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replacen("name: ", &format!("name: Edit {round} "), 1),
        )
        .unwrap();
        let t0 = Instant::now();
        loop {
            let s = rt.block_on(status(&http, &base));
            if s["lastSync"]["at"] != before && s["lastSync"]["updated"] == 1 {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "edit {round} not seen: {s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let peak_edits = status_kb(pid, "VmHWM");
    let rest_edits = rest(pid);
    drop(daemon);

    let budget = 40.0 + 4.0 * templates / 1000.0;
    let mb = |kb: f64| kb / 1000.0;
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!("| templates published | {templates} | |");
    println!("| start -> ready | {:.1} s | |", ready.as_secs_f64());
    println!(
        "| RSS at rest after start | {:.1} MB | <= {budget:.0} MB (40 MB + 4 KB x {templates}) |",
        mb(rest_start)
    );
    println!(
        "| peak RSS until ready | {:.1} MB = {:.2}x rest | <= 1.5x |",
        mb(peak_start),
        peak_start / rest_start
    );
    println!(
        "| RSS at rest after 3 edits | {:.1} MB | <= {budget:.0} MB |",
        mb(rest_edits)
    );
    println!(
        "| peak RSS over the whole run | {:.1} MB = {:.2}x rest | <= 1.5x |",
        mb(peak_edits),
        peak_edits / rest_edits
    );
}

/// 100 tiny workflows per folder.
fn generate(root: &Path, n: usize) {
    for i in 0..n {
        let dir = root.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("w{i}.sw.yaml")),
            format!(
                "id: w{i}\nname: Workflow {i}\nversion: '1.0'\nstart: s\nstates:\n  - name: s\n    type: operation\n    end: true\n"
            ),
        )
        .unwrap();
    }
}

async fn status(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A `/proc/<pid>/status` field in kB.
/// RSS at rest: the median of 100 samples 100 ms apart, from 10 s on.
fn rest(pid: u32) -> f64 {
    std::thread::sleep(Duration::from_secs(10));
    let mut samples: Vec<f64> = (0..100)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            status_kb(pid, "VmRSS")
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
