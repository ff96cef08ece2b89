//! What the daemon benchmarks share: the daemon process under measurement, its CPU time and
//! metrics, and polling until a condition holds.

#![allow(dead_code)] // each benchmark uses its own part

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A spawned `orchestrator-provider run`; SIGTERM and wait on drop.
pub struct Daemon(pub Child);

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

/// A port that was free on 127.0.0.1 a moment ago (for the daemon's `server.listen`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, the resident set now; `VmHWM`, its peak).
pub fn status_kb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// VmRSS and VmHWM of a process, in MB.
pub fn rss(pid: u32) -> (f64, f64) {
    (
        status_kb(pid, "VmRSS") / 1024.0,
        status_kb(pid, "VmHWM") / 1024.0,
    )
}

/// Milliseconds per clock tick of `/proc/<pid>/stat` (USER_HZ is 100 on Linux).
pub const TICK_MS: f64 = 10.0;

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The sum of every series of each metric in `names`, from one scrape of `/metrics`.
pub async fn metric_sums(url: &str, names: &[&str]) -> Vec<f64> {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    names
        .iter()
        .map(|name| {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        })
        .collect()
}

/// Polls `f` every 50 ms; how long it took, or `None` after `timeout`.
pub async fn poll(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if f().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// [`poll`], panicking with `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, f: impl AsyncFnMut() -> bool) -> Duration {
    poll(timeout, f)
        .await
        .unwrap_or_else(|| panic!("{what}: not reached within {timeout:?}"))
}
