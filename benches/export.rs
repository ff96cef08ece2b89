//! Benchmark: export of N generated workflows against the parse floor, in one run.
//!
//! `cargo bench --bench export [-- N]` (default 10 000). For the `flat` shape (corpus-shaped:
//! half JSON, half YAML; three quarters with an input schema, half of those in files that
//! `$ref` a shared definitions file) it measures, 5 runs each, median and min:
//! - the floor: list, read and parse every file, nothing else (the same parallel reader);
//! - the export: the real binary, `orchestrator-provider export DIR > /dev/null`.
//!
//! For every shape (`flat`, `deep`: schemas that `$ref` a shared chain 24 deep; `wide`: forms
//! of 150 properties and files up to the 1 MiB limit; see `support/generate.rs`) it measures
//! the real binary's peak RSS (`ru_maxrss` of the exported child, from `wait4`) and time, 3
//! runs each, the largest RSS reported.

#[path = "support/generate.rs"]
mod generate;
#[path = "../tests/support/peak_rss.rs"]
mod peak_rss;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orchestrator_provider::workflow::{ParseLimits, Tree, parse_file};

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs bench binaries too; only `cargo bench` passes `--bench`.
    if !args.iter().any(|a| a == "--bench") {
        println!("export benchmark: run it with `cargo bench --bench export`");
        return;
    }
    let n: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let binary = env!("CARGO_BIN_EXE_orchestrator-provider");
    let mut memory = Vec::new();
    for shape in generate::SHAPES {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("flows");
        let started = Instant::now();
        generate::generate_shape(&root, n, shape);
        let bytes: u64 = walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        println!(
            "{shape}: generated {n} workflows ({:.1} MB with schemas) in {:.1} s",
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        if shape == "flat" {
            let floor = measure(|| parse_floor(&root));
            let export = measure(|| {
                export_rss(binary, &root);
            });
            println!("| measure | median | min |");
            println!("|---|---|---|");
            println!(
                "| parse floor ({n} files) | {:.3} s | {:.3} s |",
                secs(median(&floor)),
                secs(floor[0])
            );
            println!(
                "| export ({n} workflows, real binary) | {:.3} s | {:.3} s |",
                secs(median(&export)),
                secs(export[0])
            );
            println!(
                "| export / floor (medians) | {:.2}x | |",
                secs(median(&export)) / secs(median(&floor))
            );
        }
        let runs: Vec<(Duration, f64)> = (0..3)
            .map(|_| {
                let t = Instant::now();
                let rss = export_rss(binary, &root);
                (t.elapsed(), rss)
            })
            .collect();
        let mut times: Vec<Duration> = runs.iter().map(|r| r.0).collect();
        times.sort();
        let rss = runs.iter().map(|r| r.1).fold(0.0, f64::max);
        memory.push((shape, bytes, median(&times), rss));
    }
    println!("| shape | input | export time (median of 3) | export peak RSS (max of 3) |");
    println!("|---|---|---|---|");
    for (shape, bytes, time, rss) in memory {
        println!(
            "| {shape} | {:.1} MB | {:.2} s | {rss:.1} MB |",
            bytes as f64 / 1e6,
            secs(time)
        );
    }
}

/// Runs `export DIR > /dev/null` with the real binary; its peak RSS in MB.
fn export_rss(binary: &str, root: &Path) -> f64 {
    let child = Command::new(binary)
        .arg("export")
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (status, mb) = peak_rss::wait(child);
    assert!(status.success(), "export failed: {status}");
    mb
}

fn measure(mut f: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn median(times: &[Duration]) -> Duration {
    times[times.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The floor: the same listing and the same parallel read and parse as the export, without
/// schemas, mapping or output.
fn parse_floor(root: &Path) {
    use rayon::prelude::*;
    let source = orchestrator_provider::source::dir::DirSource::new(root);
    let (tree, files) = source.list().unwrap();
    let limits = ParseLimits::default();
    let parsed: usize = files
        .par_iter()
        .map(|p| {
            parse_file(p, &tree.read_listed(p).unwrap(), &limits)
                .unwrap()
                .workflows
                .len()
        })
        .sum();
    assert_eq!(parsed, files.len());
}
