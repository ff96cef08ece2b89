//! What drawing the diagrams costs an export of the corpus (`../shared/corpus/workflows`, or
//! `$ORCHESTRATOR_PROVIDER_SHARED/corpus/workflows`): the bound is at most 20 % on top of
//! the export.
//!
//! Measured two ways, 7 runs each, medians:
//! - in the process: the export's own work (read, parse, map, YAML for every template) against
//!   rendering every template's diagram (on all cores, as `export --out` does);
//! - the real binary: `export CORPUS > /dev/null` (no diagram drawn) against
//!   `export CORPUS --out DIR` (YAML and SVG files written, into a fresh folder each run).
//!
//! `cargo bench --bench diagrams`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orchestrator_provider::config::{Config, DirSourceConfig, SourceConfig};
use orchestrator_provider::{entity, pipeline};
use rayon::prelude::*;

const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let shared = std::env::var_os("ORCHESTRATOR_PROVIDER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let corpus = shared.join("corpus/workflows");
    if !corpus.is_dir() {
        println!("skipped: {} does not exist", corpus.display());
        return;
    }
    let config = Config {
        sources: vec![SourceConfig::Dir(DirSourceConfig {
            watch: false,
            ..DirSourceConfig::new(corpus.clone())
        })],
        ..Config::default()
    };

    // In the process.
    let mut export = Vec::new();
    let mut render = Vec::new();
    let mut svg_bytes = 0;
    let mut count = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let outcome = pipeline::run(&config);
        let yaml = entity::to_yaml(&outcome.templates);
        export.push(t.elapsed());
        assert!(!yaml.is_empty());
        let t = Instant::now();
        let svgs: Vec<String> = outcome
            .diagrams
            .par_iter()
            .map(|(_, source)| source.render().text)
            .collect();
        render.push(t.elapsed());
        svg_bytes = svgs.iter().map(String::len).sum::<usize>();
        count = svgs.len();
    }
    let (export, render) = (median(export), median(render));
    println!(
        "in process: export {} (read, parse, map, YAML of {count} templates); diagrams {} ({count} SVGs, {} KB) = {:.1} % of the export",
        ms(export),
        ms(render),
        svg_bytes / 1024,
        100.0 * render.as_secs_f64() / export.as_secs_f64()
    );

    // The real binary.
    let binary = env!("CARGO_BIN_EXE_orchestrator-provider");
    let run = |args: &[&str], out: Option<&Path>| {
        let mut cmd = Command::new(binary);
        cmd.arg("export").arg(&corpus).args(args);
        if let Some(dir) = out {
            cmd.arg("--out").arg(dir);
        }
        let t = Instant::now();
        let status = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run the binary");
        let took = t.elapsed();
        // Exit 1: the corpus has broken workflows on purpose.
        assert!(status.code().is_some_and(|c| c <= 1), "{status}");
        took
    };
    let mut stdout = Vec::new();
    let mut folder = Vec::new();
    for _ in 0..RUNS {
        stdout.push(run(&[], None));
        let dir = tempfile::tempdir().unwrap();
        folder.push(run(&[], Some(&dir.path().join("out"))));
    }
    let (stdout, folder) = (median(stdout), median(folder));
    println!(
        "binary: export > /dev/null {}; export --out DIR (YAML + SVG files) {} = +{:.1} %",
        ms(stdout),
        ms(folder),
        100.0 * (folder.as_secs_f64() / stdout.as_secs_f64() - 1.0)
    );
}
