//! Runs the real `orchestrator-provider run` binary for end-to-end tests.
//!
//! ```ignore
//! #[path = "support/daemon.rs"]
//! mod daemon;
//!
//! let setup = daemon::Setup::new(&catalog.base_url, &catalog.token); // temp dir, flows copied
//! let d = daemon::Daemon::start(&setup.write_config(&daemon::ConfigOpts::default()), &setup);
//! let status = d.status().await;
//! // Drop sends SIGTERM (KILL after 15 s) and, when the test is failing, prints the daemon's
//! // stderr.
//! ```
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The environment variable the daemon reads the catalog token from (`catalog.tokenEnv`).
pub const TOKEN_VAR: &str = "E2E_CATALOG_TOKEN";

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The bundled example workflows.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows")
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// Polls `f` every 100 ms until it returns `Ok`; panics after `timeout` naming `what`, with the
/// last `Err` (what was seen instead). Returns the value and how long it took.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let t0 = Instant::now();
    loop {
        match f().await {
            Ok(v) => return (v, t0.elapsed()),
            Err(last) if t0.elapsed() >= timeout => panic!(
                "timed out after {:.1} s waiting for {what}; last seen: {last}",
                timeout.as_secs_f64()
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A temp folder holding `flows/` (a copy of the fixtures), config files and daemon logs.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub flows: PathBuf,
    pub catalog_url: String,
    pub token: String,
}

/// What differs between the configs of the tests.
#[derive(Debug, Clone)]
pub struct ConfigOpts {
    /// `server.listen` port; default a free one.
    pub port: Option<u16>,
    pub public_base_url: Option<String>,
    /// `sync.interval`, e.g. `2s`.
    pub interval: String,
    /// Name of the config file inside the setup folder.
    pub file: String,
    /// More `sources:` list items (YAML, indented by two spaces), after the folder.
    pub extra_sources: String,
    /// More top-level configuration (YAML), appended.
    pub extra_config: String,
}

impl Default for ConfigOpts {
    fn default() -> Self {
        Self {
            port: None,
            public_base_url: None,
            interval: "2s".into(),
            file: "config.yaml".into(),
            extra_sources: String::new(),
            extra_config: String::new(),
        }
    }
}

impl Setup {
    pub fn new(catalog_url: &str, token: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("daemon-e2e-")
            .tempdir()
            .expect("temp dir");
        let flows = dir.path().join("flows");
        copy_dir(&fixtures(), &flows);
        Self {
            dir,
            flows,
            catalog_url: catalog_url.to_owned(),
            token: token.to_owned(),
        }
    }

    /// Writes a config file; returns its path and the port the daemon will listen on.
    pub fn write_config(&self, opts: &ConfigOpts) -> (PathBuf, u16) {
        let port = opts.port.unwrap_or_else(free_port);
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut text = format!(
            "sources:\n  - type: dir\n    path: {flows}\n{extra}\
             server:\n  listen: 127.0.0.1:{port}\n",
            flows = q(&self.flows.display().to_string()),
            extra = opts.extra_sources,
        );
        if let Some(public) = &opts.public_base_url {
            text.push_str(&format!("  publicBaseUrl: {}\n", q(public)));
        }
        text.push_str(&format!(
            "catalog:\n  baseUrl: {url}\n  tokenEnv: {TOKEN_VAR}\n\
             sync:\n  interval: {interval}\n  debounce: 100ms\n\
             stateDir: {state}\n",
            url = q(&self.catalog_url),
            interval = opts.interval,
            state = q(&self.dir.path().join("state").display().to_string()),
        ));
        let path = self.dir.path().join(&opts.file);
        text.push_str(&opts.extra_config);
        std::fs::write(&path, text).expect("write config");
        (path, port)
    }
}

/// A running daemon. Stopped with SIGTERM on drop.
pub struct Daemon {
    child: Option<Child>,
    pub pid: u32,
    /// `http://127.0.0.1:<listen port>`.
    pub url: String,
    pub log_path: PathBuf,
    http: reqwest::Client,
    exit: Option<ExitStatus>,
}

impl Daemon {
    /// Spawns `orchestrator-provider run --config <config>` (does not wait for readiness).
    pub fn spawn(config: &Path, port: u16, token: &str, log_name: &str) -> Daemon {
        let log_path = config
            .parent()
            .expect("config in a folder")
            .join(format!("{log_name}.stderr.log"));
        let log = File::create(&log_path).expect("create daemon log");
        let child = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env(TOKEN_VAR, token)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn orchestrator-provider");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client");
        Daemon {
            pid: child.id(),
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            log_path,
            http,
            exit: None,
        }
    }

    /// Spawns and waits until `/healthz` answers 200 (at most 30 s): alive, maybe not ready.
    pub async fn start_alive(config: &Path, port: u16, token: &str, log_name: &str) -> Daemon {
        let d = Self::spawn(config, port, token, log_name);
        let t0 = Instant::now();
        loop {
            if let Ok(r) = d.http.get(format!("{}/healthz", d.url)).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return d;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the daemon was not alive after 30 s; stderr:\n{}",
                d.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Spawns and waits until `/readyz` answers 200 (at most 30 s).
    pub async fn start(config: &Path, port: u16, token: &str, log_name: &str) -> Daemon {
        let mut d = Self::spawn(config, port, token, log_name);
        d.wait_ready(Duration::from_secs(30)).await;
        d
    }

    pub async fn wait_ready(&mut self, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the daemon exited before it was ready ({status}); stderr:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = self.http.get(format!("{}/readyz", self.url)).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return;
            }
            assert!(
                t0.elapsed() < timeout,
                "the daemon was not ready after {:.0} s; stderr:\n{}",
                timeout.as_secs_f64(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `GET <daemon>/<path>` as text; panics unless 200.
    pub async fn get_text(&self, path: &str) -> String {
        let url = format!("{}{path}", self.url);
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(status, reqwest::StatusCode::OK, "GET {url}: {text}");
        text
    }

    /// `GET /status`.
    pub async fn status(&self) -> Value {
        let text = self.get_text("/status").await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {text}"))
    }

    /// Polls `GET /status` (see [`eventually`]) until `done` holds for it; returns that status.
    pub async fn status_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(what, timeout, || async {
            let s = self.status().await;
            if done(&s) { Ok(s) } else { Err(s.to_string()) }
        })
        .await
        .0
    }

    /// The value of one series of `GET /metrics`, written exactly as exported
    /// (`name{label="value"}`, or just `name`); `None` when it is not exported.
    pub async fn series(&self, series: &str) -> Option<f64> {
        let prefix = format!("{series} ");
        self.get_text("/metrics")
            .await
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
    }

    /// The sum of every series of the metric `name` in `GET /metrics` (0 when it has none yet).
    pub async fn metric(&self, name: &str) -> f64 {
        self.get_text("/metrics")
            .await
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The shard URLs `GET /catalog/index.yaml` lists (the non-empty shards).
    pub async fn index_targets(&self) -> Vec<String> {
        let text = self.get_text("/catalog/index.yaml").await;
        let index: Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("index.yaml is not YAML ({e}): {text}"));
        let mut targets: Vec<String> = index["spec"]["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("index.yaml has no spec.targets: {text}"))
            .iter()
            .map(|t| t.as_str().expect("a target URL").to_owned())
            .collect();
        targets.sort();
        targets
    }

    /// SIGTERM, then waits for the exit (KILL after 15 s). Idempotent.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let mut child = self.child.take().expect("a child until stopped");
        if child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.pid.to_string())
                .status();
        }
        let t0 = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if t0.elapsed() < Duration::from_secs(15) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    eprintln!(
                        "daemon pid {} did not exit 15 s after SIGTERM; killing it",
                        self.pid
                    );
                    let _ = child.kill();
                    break child.wait().expect("wait for the daemon");
                }
            }
        };
        self.exit = Some(status);
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- daemon pid {} ({}) stderr, {} ----\n{}---- end of daemon stderr ----",
                self.pid,
                self.url,
                self.log_path.display(),
                self.log()
            );
        }
    }
}
