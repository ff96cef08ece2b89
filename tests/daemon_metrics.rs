//! The metrics the deploy alerts rest on, in the real daemon: a source that fails shows since
//! when and clears when it reads again, removals held by the delete guard show as a count, and a
//! cycle that hangs shows as a growing age.

#[path = "support/fresh_daemon.rs"]
mod fresh_daemon;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use fresh_daemon::Fresh;

/// The value of one series (`name{labels}` exactly as exported), if present.
fn value(daemon: &Fresh, series: &str) -> Option<f64> {
    let prefix = format!("{series} ");
    daemon
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
}

/// Polls until `ok` holds for the series' value (at most 30 s: far above the 1 s schedule).
fn wait_for(daemon: &Fresh, series: &str, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let t0 = Instant::now();
    loop {
        if let Some(v) = value(daemon, series)
            && ok(v)
        {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{series} never became {what} (now {:?}); stderr:\n{}",
            value(daemon, series),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn workflow(dir: &Path, i: usize) {
    std::fs::write(
        dir.join(format!("w{i}.sw.yaml")),
        format!("id: w{i}\nname: Workflow {i}\nstates: [{{name: s}}]\n"),
    )
    .unwrap();
}

fn config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!("sync:\n  interval: 1s\n  debounce: 50ms\n{text}"),
    )
    .unwrap();
    path
}

#[test]
fn a_failing_source_shows_since_when_and_clears_when_it_reads_again() {
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    let path = config(
        tmp.path(),
        &format!(
            "sources:\n  - {{type: dir, path: {}, watch: false}}\n",
            flows.display()
        ),
    );
    let started = fresh_daemon::unix_now();
    let daemon = Fresh::start(&path, &[]);
    let series = format!(
        "orchestrator_provider_failing_since_timestamp_seconds{{what=\"source:{}\"}}",
        flows.display()
    );
    let since = wait_for(&daemon, &series, "set", |v| v > 0.0);
    assert!(since >= started.floor(), "{since} < {started}");
    // It stays at the first failure while the failures go on.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(value(&daemon, &series), Some(since));

    std::fs::create_dir_all(&flows).unwrap();
    workflow(&flows, 0);
    wait_for(&daemon, &series, "0", |v| v == 0.0);
}

#[test]
fn removals_held_by_the_delete_guard_are_counted_until_the_source_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    for i in 0..6 {
        workflow(&flows, i);
    }
    let path = config(
        tmp.path(),
        &format!(
            "sources:\n  - {{type: dir, path: {}, watch: false}}\n",
            flows.display()
        ),
    );
    let daemon = Fresh::start(&path, &[]);
    let held = "orchestrator_provider_deletions_held";
    wait_for(
        &daemon,
        "orchestrator_provider_templates_published",
        "6",
        |v| v == 6.0,
    );
    assert_eq!(value(&daemon, held), Some(0.0));
    for i in 1..6 {
        std::fs::remove_file(flows.join(format!("w{i}.sw.yaml"))).unwrap();
    }
    wait_for(&daemon, held, "5", |v| v == 5.0);
    // The source recovers: nothing is held any more, nothing was removed.
    for i in 1..6 {
        workflow(&flows, i);
    }
    wait_for(&daemon, held, "0", |v| v == 0.0);
    assert_eq!(
        value(&daemon, "orchestrator_provider_templates_published"),
        Some(6.0)
    );
}

#[test]
fn a_cycle_that_hangs_shows_its_growing_age() {
    // A git server that accepts connections and never answers.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in server.incoming().flatten() {
            held.push(stream);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let path = config(
        tmp.path(),
        &format!(
            "sources:\n  - {{type: git, url: \"http://127.0.0.1:{port}/flows.git\", timeout: 120s}}\n"
        ),
    );
    let daemon = Fresh::start(&path, &[]);
    let series = "orchestrator_provider_cycle_in_flight_seconds";
    let first = wait_for(&daemon, series, "over 1 s", |v| v > 1.0);
    let later = wait_for(&daemon, series, "growing", |v| v > first + 1.0);
    assert!(later < 120.0, "{later}");
}
