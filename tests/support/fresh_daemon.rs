//! A freshly started `orchestrator-provider run` with a given configuration and environment:
//! whether it starts at all (the deploy tests start it with the ConfigMap's file and the
//! Deployment's variables), its routes, and its first `/metrics`, before anything happened.
//! `support/metrics.rs` reads the metric names out of that text (and has the fresh daemon of
//! the bundled examples).
//!
//! ```ignore
//! #[path = "support/fresh_daemon.rs"]
//! mod fresh_daemon;
//!
//! let daemon = fresh_daemon::Fresh::start(&config_path, &[("BACKSTAGE_TOKEN".into(), "x".into())]);
//! let text = daemon.metrics();
//! ```
//!
//! The daemon listens on a free loopback port and keeps its state in a temporary folder whatever
//! the configuration says (`ORCHESTRATOR_PROVIDER__SERVER__LISTEN`, `..__STATE_DIR`); nothing
//! else is changed, and no other environment reaches it. Blocking, so usable from any test.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A daemon started by [`Fresh::start`]; SIGTERM (then KILL) on drop.
pub struct Fresh {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _state: tempfile::TempDir,
}

/// What [`Fresh::try_start`] saw when the daemon did not come up.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stderr: String,
}

impl Fresh {
    /// Starts `run --config <config>` with exactly `env` (plus the two overrides above) and waits
    /// until `/healthz` answers (at most 30 s). `Err` when it exits first.
    pub fn try_start(config: &Path, env: &[(String, String)]) -> Result<Fresh, Exited> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let state = tempfile::tempdir().expect("state dir");
        let log = state.path().join("daemon.stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "ORCHESTRATOR_PROVIDER__SERVER__LISTEN",
                format!("127.0.0.1:{port}"),
            )
            .env("ORCHESTRATOR_PROVIDER__STATE_DIR", state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("daemon log"))
            .spawn()
            .expect("spawn orchestrator-provider");
        let mut fresh = Fresh {
            child,
            port,
            log,
            _state: state,
        };
        let t0 = Instant::now();
        loop {
            if let Some(status) = fresh.child.try_wait().expect("try_wait") {
                return Err(Exited {
                    status,
                    stderr: fresh.log(),
                });
            }
            if fresh.get("/healthz").is_some_and(|(s, _)| s == 200) {
                return Ok(fresh);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the daemon did not answer /healthz within 30 s; stderr:\n{}",
                fresh.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`Fresh::try_start`], panicking with the daemon's stderr when it does not start.
    pub fn start(config: &Path, env: &[(String, String)]) -> Fresh {
        Self::try_start(config, env).unwrap_or_else(|e| {
            panic!(
                "the daemon did not start with {} ({}):\n{}",
                config.display(),
                e.status,
                e.stderr
            )
        })
    }

    /// What the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`: status and body, `None` when nothing answers.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        self.request("GET", path, &[], "")
    }

    /// One HTTP/1.0 request; status and body, `None` when nothing answers.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(body.as_bytes()).ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Some((status, body.to_owned()))
    }

    /// The text of `GET /metrics`; panics unless 200.
    pub fn metrics(&self) -> String {
        match self.get("/metrics") {
            Some((200, text)) => text,
            other => panic!("GET /metrics: {other:?}; stderr:\n{}", self.log()),
        }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds since the Unix epoch, as the daemon's timestamps count them.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
