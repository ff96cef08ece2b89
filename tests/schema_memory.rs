//! The real binary's peak memory on input schemas that `$ref` one long definition thousands of
//! times: refused by the expansion's byte budget, in bounded memory, with a warning.
//!
//! Its own test binary, with one test: a child's `ru_maxrss` (from `wait4`) includes the memory
//! of the process that spawned it, so the parent must be small (a test harness running other
//! tests in parallel measured 238 MB for a child that peaks at 45 MB).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

#[path = "support/peak_rss.rs"]
mod peak_rss;

/// `{"$defs": {"S": target}, "properties": {"p0": {"$ref": "#/$defs/S"}, ...}}`.
fn many_refs_to(target: Value, refs: usize) -> String {
    let properties: serde_json::Map<String, Value> = (0..refs)
        .map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/S"})))
        .collect();
    json!({"type": "object", "$defs": {"S": target}, "properties": properties}).to_string()
}

/// Runs `check DIR` with the real binary: its stderr and peak RSS in MB (as `benches/export.rs`
/// measures it).
fn check_rss(dir: &Path) -> (String, f64) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("orchestrator-provider"))
        .arg("check")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let (status, mb) = peak_rss::wait(child);
    assert_eq!(status.code(), Some(0), "{stderr}");
    (stderr, mb)
}

#[test]
fn check_refuses_ref_bombs_up_to_the_file_size_limit_in_bounded_memory() {
    let cases = [
        // The reproduction: 289 KB, 500 MB inlined (1.5 GB RSS and 29 s before the budget).
        ("5000 x 100 KB", 100_000, 5000),
        // Just under the 1 MiB file limit: about 6.4 GB inlined, the daemon OOM-killed.
        ("16 000 x 400 KB", 400_000, 16_000),
    ];
    for (name, text, refs) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let schema = many_refs_to(
            json!({"type": "string", "description": "A".repeat(text)}),
            refs,
        );
        assert!(schema.len() < 1 << 20, "{name}: {}", schema.len());
        std::fs::write(
            tmp.path().join("w.sw.yaml"),
            "id: deep\nname: Deep\ndataInputSchema: s.json\nstates: [{name: s}]\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("s.json"), schema).unwrap();
        let (stderr, rss) = check_rss(tmp.path());
        assert!(
            stderr.contains("w.sw.yaml: workflow \"deep\": input schema `s.json`: inlining its `$ref`s makes it over 1048576 bytes of JSON")
                && stderr.contains("the template is published without a form")
                && stderr.contains("1 template, 0 errors, 1 warning"),
            "{name}: {stderr}"
        );
        // Measured: 45 MB for the larger (the debug binary; 26 MB for a one-line schema). The
        // file is at most 1 MiB: 200 MB leaves room for any allocator, not for the expansion.
        assert!(rss < 200.0, "{name}: peak RSS {rss} MB");
    }
}
