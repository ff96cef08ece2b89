//! Benchmark: the git source with 1000 generated workflows served over loopback.
//!
//! `cargo bench --bench git` (`-- 2000` for another N). The repository is the generator's
//! corpus committed with the git CLI, served by `git http-backend` (behind the tests' CGI host,
//! with basic auth) and by `git daemon`. Reports:
//! - first clone (fetch into an empty cache) and first read of all workflows;
//! - idle fetch (nothing new): wall and CPU time per fetch, files read (must be 0) and packs
//!   downloaded (must be 0), over each transport;
//! - one workflow edited: fetch plus read, and how many files that read loaded.
//!
//! CPU time is this process's (getrusage RUSAGE_SELF), so the git servers' processes are not
//! in it; over http the CGI host's few microseconds per request run in this process and are.

#[path = "support/generate.rs"]
mod generate;
#[path = "../tests/support/git_server.rs"]
mod git_server;

use std::time::{Duration, Instant};

use git_server::{GitDaemon, GitHttp, WorkRepo};
use orchestrator_provider::source::git::{GitSettings, GitSource};

const TOKEN: &str = "bench-token";
const IDLE_FETCHES: usize = 50;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("git benchmark: run it with `cargo bench --bench git`");
        return;
    }
    let n: usize = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    let work = WorkRepo::init(&srv.join("flows"));
    generate::generate(&work.dir, n);
    work.commit("generated workflows");
    let files = work.git(&["ls-files"]).lines().count();
    println!("{n} workflows, {files} files in the repository");
    let http = GitHttp::start(&srv, TOKEN);
    let daemon = GitDaemon::start(&srv);

    let mut rows: Vec<(String, String)> = Vec::new();
    for (label, url, token) in [
        ("http (git http-backend)", http.url("flows"), Some(TOKEN)),
        ("git daemon", daemon.url("flows"), None),
    ] {
        let cache = tmp.path().join(format!("cache-{}", label.len()));
        let mut settings = GitSettings::new(url, "main", &cache);
        settings.auth.token = token.map(str::to_owned);
        settings.timeout = Duration::from_secs(60);
        let source = GitSource::new(settings);

        let started = Instant::now();
        let commit = source.fetch().unwrap();
        let clone = started.elapsed();
        let started = Instant::now();
        let snapshot = source.read(&commit).unwrap();
        let read = started.elapsed();
        assert_eq!(snapshot.workflows.len(), n, "{:?}", snapshot.diagnostics);
        rows.push((
            format!("{label}: first clone"),
            format!("{:.0} ms", ms(clone)),
        ));
        rows.push((
            format!("{label}: first read of {n} workflows"),
            format!("{:.0} ms ({} files read)", ms(read), source.files_read()),
        ));

        let read_before = source.files_read();
        let uploads_before = http.uploads();
        let mut walls = Vec::with_capacity(IDLE_FETCHES);
        let cpu_before = cpu_time();
        for _ in 0..IDLE_FETCHES {
            let started = Instant::now();
            assert_eq!(source.fetch().unwrap(), commit);
            walls.push(started.elapsed());
        }
        let cpu = (cpu_time() - cpu_before) / IDLE_FETCHES as u32;
        walls.sort();
        rows.push((
            format!("{label}: idle fetch, wall (median / max of {IDLE_FETCHES})"),
            format!(
                "{:.2} ms / {:.2} ms",
                ms(walls[walls.len() / 2]),
                ms(*walls.last().unwrap())
            ),
        ));
        rows.push((
            format!("{label}: idle fetch, CPU time"),
            format!("{:.2} ms per fetch", ms(cpu)),
        ));
        rows.push((
            format!("{label}: idle fetch, files read / packs downloaded"),
            format!(
                "{} / {}",
                source.files_read() - read_before,
                if label.starts_with("http") {
                    (http.uploads() - uploads_before).to_string()
                } else {
                    "n/a".into()
                }
            ),
        ));

        // One workflow edited.
        let file = work
            .git(&["ls-files", "*.sw.json"])
            .lines()
            .next()
            .unwrap()
            .to_owned();
        let path = work.dir.join(&file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replacen("\"name\": \"", "\"name\": \"Edited ", 1),
        )
        .unwrap();
        work.commit(&format!("edit {file} for {label}"));
        let read_before = source.files_read();
        let started = Instant::now();
        let next = source.fetch().unwrap();
        let fetched = started.elapsed();
        let snapshot = source.read(&next).unwrap();
        let total = started.elapsed();
        assert_eq!(snapshot.workflows.len(), n);
        rows.push((
            format!("{label}: one workflow edited, fetch + read"),
            format!(
                "{:.0} ms ({:.0} ms fetch; {} files read)",
                ms(total),
                ms(fetched),
                source.files_read() - read_before
            ),
        ));
    }

    println!("| measure | value |");
    println!("|---|---|");
    for (measure, value) in rows {
        println!("| {measure} | {value} |");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
