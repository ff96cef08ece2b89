//! The real Backstage scaffolder and the scaffolder's browser form, for integration tests.
//!
//! Both live in `tests/e2e/scaffolder` (exact pins from `../shared/backstage-scaffolder`):
//!
//! * [`Scaffolder`]: one Backstage backend with the catalog, `@backstage/plugin-scaffolder-backend`,
//!   RHDH's `orchestrator:workflow:run` action and a stand-in orchestrator backend that records
//!   every execute call (one JSON line each, [`Scaffolder::calls`]). Started on a free port,
//!   stopped on drop (SIGTERM, KILL after 10 s); it also stops by itself within about 1 s after
//!   the test process is gone (`BACKSTAGE_WATCH_PID`).
//! * [`form_cli`]: the scaffolder frontend's form stack in Node (`form/cli.mjs`): the value
//!   generator (`values`) and the form check (`check`).
//!
//! ```ignore
//! #[path = "support/scaffolder.rs"]
//! mod scaffolder;
//!
//! let Some(sc) = scaffolder::Scaffolder::start().await else { return }; // "skipped: ..."
//! let values = scaffolder::form_cli("values", &json!([{"name": "t", "parameters": []}]));
//! ```
//!
//! Node and npm are required, as for the catalog tests (`support/catalog.rs`): without them the
//! helpers panic, unless `ORCHESTRATOR_PROVIDER_SKIP_E2E=1`, which makes them print `skipped: ...`
//! and return `None`. The first use in a process runs `install.sh` (idempotent: `npm ci` only
//! when `node_modules` is missing or stale, about 1 to 4 minutes on a cold cache).
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Set to `1` to skip these tests (required to pass without Node/npm).
pub const SKIP_ENV: &str = "ORCHESTRATOR_PROVIDER_SKIP_E2E";

#[path = "shared.rs"]
mod shared;

/// The corpus of real workflows (`corpus/workflows` of the shared folder, [`shared::dir`]), or
/// `None` after printing `skipped: ...`.
pub fn corpus() -> Option<PathBuf> {
    let path = shared::dir().join("corpus/workflows");
    if path.is_dir() {
        Some(path)
    } else {
        println!("skipped: the corpus ({} does not exist)", path.display());
        None
    }
}

/// Folder holding package.json, index.js, app-config.yaml, install.sh and `form/`.
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/scaffolder")
}

/// `Some(reason)` when these tests must be skipped (printed as `skipped: ...`); panics when
/// Node/npm are missing and skipping was not requested.
pub fn skip_reason() -> Option<String> {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        let reason = format!("{SKIP_ENV}=1");
        println!("skipped: real Backstage scaffolder test ({reason})");
        return Some(reason);
    }
    for tool in ["node", "npm"] {
        match Command::new(tool).arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "the scaffolder tests need `{tool}`, but `{tool} --version` failed ({}): {}\n\
                 Install Node 20+ and npm, or set {SKIP_ENV}=1 to skip these tests.",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "the scaffolder tests need `{tool}` on PATH ({e}). \
                 Install Node 20+ and npm, or set {SKIP_ENV}=1 to skip these tests."
            ),
        }
    }
    None
}

fn show(o: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs install.sh once per process.
pub fn ensure_installed() {
    static INSTALL: OnceLock<Result<(), String>> = OnceLock::new();
    let r = INSTALL.get_or_init(|| {
        let t0 = Instant::now();
        let out = Command::new(harness_dir().join("install.sh"))
            .output()
            .map_err(|e| format!("cannot run install.sh: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            eprintln!("{}", stderr.trim_end());
        }
        if out.status.success() {
            eprintln!(
                "scaffolder harness: install.sh took {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            Ok(())
        } else {
            Err(format!(
                "{}/install.sh failed: {}",
                harness_dir().display(),
                show(&out)
            ))
        }
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// `node form/cli.mjs <command>` with `input` on stdin; its JSON answer. Installs first. Panics
/// with Node's stderr when it fails.
pub fn form_cli(command: &str, input: &Value) -> Value {
    ensure_installed();
    let mut child = Command::new("node")
        .arg("form/cli.mjs")
        .arg(command)
        .current_dir(harness_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node form/cli.mjs");
    let body = serde_json::to_vec(input).expect("serialise the input");
    let mut stdin = child.stdin.take().expect("stdin");
    // Written from another thread: a large input would fill the pipe while node writes its answer.
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().expect("wait for node");
    writer
        .join()
        .expect("stdin writer")
        .expect("write the input to node");
    assert!(
        out.status.success(),
        "node form/cli.mjs {command} failed: {}",
        show(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "node form/cli.mjs {command}: not JSON ({e}): {}",
            show(&out)
        )
    })
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// How long the backend may take to answer readiness (measured 1.3 to 15 s here).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running scaffolder backend. Stopped by `Drop`.
pub struct Scaffolder {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    /// Static external-access token; send as `Authorization: Bearer <token>`.
    pub token: String,
    pub port: u16,
    /// Where the stand-in orchestrator backend appends one JSON line per execute call.
    pub calls_file: PathBuf,
    pub log_path: PathBuf,
    /// Kept (with the log) when the test fails.
    pub run_dir: PathBuf,
    /// Spawn until readiness 200.
    pub startup: Duration,
    child: Child,
    http: reqwest::Client,
}

impl Scaffolder {
    /// Installs (once), starts a fresh backend on a free port and waits for readiness. `None`
    /// (after printing `skipped: ...`) only when skipping was requested.
    pub async fn start() -> Option<Scaffolder> {
        if skip_reason().is_some() {
            return None;
        }
        tokio::task::spawn_blocking(ensure_installed)
            .await
            .expect("install");
        let run_dir = tempfile::Builder::new()
            .prefix("backstage-scaffolder-")
            .tempdir()
            .expect("create run dir")
            .keep();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        // The port is free when chosen but may be taken before node binds it: retry then.
        for attempt in 1..=3 {
            let port = free_port();
            let token = format!("scaffolder-e2e-{}-{port}", std::process::id());
            let log_path = run_dir.join(format!("backend-{attempt}.log"));
            let calls_file = run_dir.join("orchestrator-calls.jsonl");
            let log = File::create(&log_path).expect("create the backend log");
            let t0 = Instant::now();
            let child = Command::new("node")
                .arg("index.js")
                .current_dir(harness_dir())
                .env("BACKSTAGE_PORT", port.to_string())
                .env("BACKSTAGE_TOKEN", &token)
                .env("ORCHESTRATOR_CALLS_FILE", &calls_file)
                .env("BACKSTAGE_WATCH_PID", std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn node index.js");
            let base_url = format!("http://127.0.0.1:{port}");
            let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
            let mut child = child;
            loop {
                let ready = http
                    .get(format!("{base_url}/.backstage/health/v1/readiness"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK);
                if ready {
                    let startup = t0.elapsed();
                    eprintln!(
                        "scaffolder harness: ready on port {port} after {:.2} s (run dir {})",
                        startup.as_secs_f64(),
                        run_dir.display()
                    );
                    return Some(Scaffolder {
                        base_url,
                        token,
                        port,
                        calls_file,
                        log_path,
                        run_dir,
                        startup,
                        child,
                        http,
                    });
                }
                if let Ok(Some(status)) = child.try_wait() {
                    if attempt < 3 && log_text().contains("EADDRINUSE") {
                        eprintln!("scaffolder harness: port {port} taken, retrying");
                        break;
                    }
                    panic!(
                        "the scaffolder backend exited during startup ({status}):\n{}",
                        log_text()
                    );
                }
                if t0.elapsed() > READY_TIMEOUT {
                    let _ = child.kill();
                    panic!(
                        "the scaffolder backend was not ready after {} s:\n{}",
                        READY_TIMEOUT.as_secs(),
                        log_text()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        unreachable!("three attempts either return or panic")
    }

    /// `base_url + path` (path starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The backend's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The (unpooled) HTTP client, without auth.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `method path` with the bearer token and an optional JSON body: status and body (JSON,
    /// `Null` when empty, a string when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// Every call the stand-in orchestrator backend recorded so far, in order:
    /// `{workflowId, inputData, targetEntity, principal, id}`.
    pub fn calls(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.calls_file).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a recorded call is JSON"))
            .collect()
    }
}

impl Drop for Scaffolder {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "scaffolder harness: test failed; backend log {} (last lines):\n{}",
                self.log_path.display(),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Ok(None) = self.child.try_wait() {
            eprintln!("scaffolder harness: backend did not exit 10 s after SIGTERM; killing it");
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !panicking {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}
