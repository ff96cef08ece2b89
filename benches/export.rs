//! Benchmark: export of N generated workflows against the parse floor, in one run.
//!
//! `cargo bench --bench export [-- N]` (default 10 000). It generates N corpus-shaped workflows
//! (half JSON, half YAML; three quarters with an input schema, half of those in files that
//! `$ref` a shared definitions file), then measures, 5 runs each, median and min:
//! - the floor: list, read and parse every file, nothing else (the same parallel reader);
//! - the export: the real binary, `orchestrator-provider export DIR > /dev/null`;
//! - the export's peak RSS, from a child process running the same pipeline that reads its own
//!   `VmHWM` at the end.

#[path = "support/generate.rs"]
mod generate;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orchestrator_provider::config::{Config, DirSourceConfig, SourceConfig};
use orchestrator_provider::workflow::{ParseLimits, Tree, parse_file};

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child-export") {
        child_export(Path::new(&args[2]));
        return;
    }
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
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("flows");
    let started = Instant::now();
    generate::generate(&root, n);
    let bytes: u64 = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    println!(
        "generated {n} workflows ({:.1} MB with schemas) in {:.1} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let floor = measure(|| parse_floor(&root));
    let binary = env!("CARGO_BIN_EXE_orchestrator-provider");
    let export = measure(|| {
        let status = Command::new(binary)
            .arg("export")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "export failed");
    });
    let rss = Command::new(std::env::current_exe().unwrap())
        .arg("--child-export")
        .arg(&root)
        .output()
        .unwrap();
    let rss = String::from_utf8_lossy(&rss.stdout).trim().to_owned();

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
    println!("| export peak RSS | {rss} | |");
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

/// The export pipeline in this process, then its own peak RSS.
fn child_export(root: &Path) {
    let config = Config {
        sources: vec![SourceConfig::Dir(DirSourceConfig {
            path: root.to_owned(),
            include: vec![
                "**/*.sw.json".into(),
                "**/*.sw.yaml".into(),
                "**/*.sw.yml".into(),
            ],
            exclude: Vec::new(),
            watch: false,
        })],
        ..Config::default()
    };
    let outcome = orchestrator_provider::pipeline::run(&config);
    let text =
        orchestrator_provider::sink::export::render(&outcome.templates, config.export.format)
            .unwrap();
    assert!(outcome.errors() == 0 && !text.is_empty());
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    let kb: f64 = hwm
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse().ok())
        .unwrap_or(0.0);
    println!("{:.1} MB", kb / 1024.0);
}
