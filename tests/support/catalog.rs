//! Real Backstage catalog test harness for integration tests.
//!
//! Starts the catalog-only Backstage backend in `tests/e2e/backstage` (real
//! `@backstage/plugin-catalog-backend`, sqlite, static-token auth) on a free
//! port, talks to it over its REST API, and stops it again.
//!
//! ```ignore
//! #[path = "support/catalog.rs"]
//! mod catalog;
//!
//! #[tokio::test]
//! async fn my_test() {
//!     // None (after printing "skipped: ...") only when ORCHESTRATOR_PROVIDER_SKIP_E2E=1.
//!     let Some(cat) = catalog::Catalog::start_async().await else { return };
//!     let (status, body) = cat.register_location("http://127.0.0.1:1234/t.yaml", true).await;
//!     // ...
//! } // Drop runs stop.sh (also when the test panics; the log tail is printed then)
//! ```
//!
//! * Node and npm are required. If either is missing the harness **panics**,
//!   unless `ORCHESTRATOR_PROVIDER_SKIP_E2E=1` is set: then every constructor
//!   returns `None` and prints `skipped: ...`. (With that variable set the
//!   catalog tests are skipped even when Node is present.)
//! * The first use in a process runs `install.sh` (idempotent: `npm ci` only
//!   when `node_modules` is missing or stale, about 2 minutes on a cold cache).
//! * `BACKSTAGE_TEST_PROCESSING_SECONDS` sets `catalog.processingInterval`;
//!   the default is 600 s, so only explicit API calls (register / refresh /
//!   delete) make changes visible.
//! * The stitcher polls every 100 ms (`catalog.stitchingStrategy.pollingInterval`
//!   in the test-only `app-config.test-stitching.yaml`), not the catalog's 1 s:
//!   a refreshed entity shows after a median 0.6 s instead of 1.4 s.
//!   [`Options::default_stitching`] keeps the catalog's own default.
//! * [`Catalog::start`] and `Drop` block (about 3.5 s and 2 s). In an async
//!   test call them before spawning other tasks, or use [`Catalog::start_async`].
//! * Every backend is started with `BACKSTAGE_WATCH_PID=<this process>` and
//!   exits by itself within about 1 s after the test process is gone. That is
//!   what makes [`shared`] safe although statics are never dropped.
#![allow(dead_code)]

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

/// Set to `1` to skip catalog tests (required to pass without Node/npm).
pub const SKIP_ENV: &str = "ORCHESTRATOR_PROVIDER_SKIP_E2E";
/// `catalog.processingInterval` in seconds for catalogs started by this module.
pub const PROCESSING_ENV: &str = "BACKSTAGE_TEST_PROCESSING_SECONDS";
/// Default processing interval: long, so tests are deterministic.
pub const DEFAULT_PROCESSING_SECONDS: u64 = 600;

/// Folder holding package.json, index.js, app-config.yaml and the scripts.
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/backstage")
}

/// Options for [`Catalog::start_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `catalog.processingInterval`; default: env `BACKSTAGE_TEST_PROCESSING_SECONDS`, else 600.
    pub processing_seconds: Option<u64>,
    /// Persistent sqlite folder (one file per plugin); default in-memory.
    pub db_dir: Option<PathBuf>,
    /// Static bearer token (>= 8 chars, no spaces); default a generated one.
    pub token: Option<String>,
    /// Listen on exactly this port (a test that points a client at it before the catalog
    /// runs); default a free port. A fixed port is not retried on EADDRINUSE: start panics.
    pub port: Option<u16>,
    /// The catalog's own stitching poll (1 s) instead of the tests' 100 ms
    /// (`tests/e2e/backstage/app-config.test-stitching.yaml`).
    pub default_stitching: bool,
    /// `host:port` of the one daemon the catalog may read from and proxies diagrams to
    /// (`ORCHESTRATOR_PROVIDER_HOST` of `deploy/backstage/app-config.yaml`); default any
    /// loopback port may be read and the diagram proxy route is left out.
    pub daemon_host: Option<String>,
}

/// A running real Backstage catalog. Stopped by `Drop` (or [`Catalog::stop`]).
pub struct Catalog {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    /// Static external-access token; send as `Authorization: Bearer <token>`.
    pub token: String,
    pub port: u16,
    /// Pid of the `node index.js` process.
    pub pid: u32,
    pub pid_file: PathBuf,
    pub log_path: PathBuf,
    /// Unique per instance, under the system temp dir; removed on a clean drop,
    /// kept (with the log) when the thread is panicking.
    pub run_dir: PathBuf,
    /// start.sh launch until readiness 200.
    pub startup: Duration,
    http: reqwest::Client,
    stopped: bool,
}

/// `Some(reason)` when catalog tests must be skipped; panics when Node/npm are
/// missing and skipping was not requested.
pub fn skip_reason() -> Option<String> {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        return Some(format!("{SKIP_ENV}=1"));
    }
    for tool in ["node", "npm"] {
        match Command::new(tool).arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "real Backstage catalog tests need `{tool}`, but `{tool} --version` failed ({}): {}\n\
                 Install Node 20+ and npm, or set {SKIP_ENV}=1 to skip these tests.",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "real Backstage catalog tests need `{tool}` on PATH ({e}). \
                 Install Node 20+ and npm, or set {SKIP_ENV}=1 to skip these tests."
            ),
        }
    }
    None
}

fn print_skip(reason: &str) {
    // println! so it shows up in the test output with --nocapture; eprintln too
    // would double it.
    println!("skipped: real Backstage catalog test ({reason})");
}

fn show(o: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs install.sh once per process; returns how long it took.
pub fn ensure_installed() -> Duration {
    static INSTALL: OnceLock<Result<Duration, String>> = OnceLock::new();
    let r = INSTALL.get_or_init(|| {
        let t0 = Instant::now();
        let out = Command::new(harness_dir().join("install.sh"))
            .output()
            .map_err(|e| format!("cannot run install.sh: {e}"))?;
        let took = t0.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            eprintln!("{}", stderr.trim_end());
        }
        if out.status.success() {
            eprintln!(
                "catalog harness: install.sh took {:.1} s",
                took.as_secs_f64()
            );
            Ok(took)
        } else {
            Err(format!(
                "{}/install.sh failed: {}",
                harness_dir().display(),
                show(&out)
            ))
        }
    });
    match r {
        Ok(d) => *d,
        Err(e) => panic!("{e}"),
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// One catalog for every test of this test binary (started on first use).
/// Never dropped: the backend stops itself when the test process exits
/// (`BACKSTAGE_WATCH_PID`), and its run folder (log) stays in the temp dir.
/// Tests sharing it run in parallel: use unique entity names and targets.
pub fn shared() -> Option<&'static Catalog> {
    static SHARED: OnceLock<Option<Catalog>> = OnceLock::new();
    SHARED.get_or_init(Catalog::start).as_ref()
}

impl Catalog {
    /// Start a fresh in-memory catalog (blocking). `None` only when skipped.
    pub fn start() -> Option<Catalog> {
        Self::start_with(Options::default())
    }

    /// Start with persistent sqlite files in `dir` (state survives a restart
    /// on the same dir).
    pub fn start_with_db(dir: impl Into<PathBuf>) -> Option<Catalog> {
        Self::start_with(Options {
            db_dir: Some(dir.into()),
            ..Options::default()
        })
    }

    /// [`Catalog::start`] on tokio's blocking pool.
    pub async fn start_async() -> Option<Catalog> {
        match tokio::task::spawn_blocking(Catalog::start).await {
            Ok(c) => c,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("Catalog::start: {e}"),
        }
    }

    pub fn start_with(opts: Options) -> Option<Catalog> {
        if let Some(reason) = skip_reason() {
            print_skip(&reason);
            return None;
        }
        ensure_installed();

        let processing = opts.processing_seconds.unwrap_or_else(|| {
            std::env::var(PROCESSING_ENV)
                .ok()
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{PROCESSING_ENV}={v:?} is not a number"))
                })
                .unwrap_or(DEFAULT_PROCESSING_SECONDS)
        });
        let stitching = if opts.default_stitching {
            "default"
        } else {
            "test"
        };
        let run_dir = tempfile::Builder::new()
            .prefix("backstage-catalog-")
            .tempdir()
            .expect("create run dir")
            .keep();
        let log_path = run_dir.join("backend.log");
        let pid_file = run_dir.join("backend.pid");

        // The port is free when chosen but may be taken before node binds it:
        // retry on EADDRINUSE with another port.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = opts.port.unwrap_or_else(free_port);
            let token = opts
                .token
                .clone()
                .unwrap_or_else(|| format!("e2e-token-{}-{port}", std::process::id()));
            let mut cmd = Command::new(harness_dir().join("start.sh"));
            cmd.env("BACKSTAGE_PORT", port.to_string())
                .env("BACKSTAGE_TOKEN", &token)
                .env("BACKSTAGE_LOG", &log_path)
                .env("BACKSTAGE_PID_FILE", &pid_file)
                .env("BACKSTAGE_PROCESSING_SECONDS", processing.to_string())
                .env("BACKSTAGE_STITCHING", stitching)
                .env("BACKSTAGE_WATCH_PID", std::process::id().to_string());
            match &opts.db_dir {
                Some(d) => cmd.env("BACKSTAGE_DB_DIR", d),
                None => cmd.env_remove("BACKSTAGE_DB_DIR"),
            };
            match &opts.daemon_host {
                Some(h) => cmd.env("ORCHESTRATOR_PROVIDER_HOST", h),
                None => cmd.env_remove("ORCHESTRATOR_PROVIDER_HOST"),
            };
            let t0 = Instant::now();
            let out = cmd.output().expect("run start.sh");
            let startup = t0.elapsed();
            if out.status.success() {
                let pid = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or_else(|| {
                        panic!(
                            "start.sh succeeded but wrote no pid to {}",
                            pid_file.display()
                        )
                    });
                eprintln!(
                    "catalog harness: {} (processing {processing} s, stitching {}, run dir {})",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    if opts.default_stitching {
                        "1 s (the catalog's default)"
                    } else {
                        "100 ms"
                    },
                    run_dir.display()
                );
                let http = reqwest::Client::builder()
                    // Tests may share one Catalog across several tokio runtimes
                    // (one per #[tokio::test]); pooled connections are bound to the
                    // runtime that opened them, so do not pool.
                    .pool_max_idle_per_host(0)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("build reqwest client");
                return Some(Catalog {
                    base_url: format!("http://127.0.0.1:{port}"),
                    token,
                    port,
                    pid,
                    pid_file,
                    log_path,
                    run_dir,
                    startup,
                    http,
                    stopped: false,
                });
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if attempt < 3 && opts.port.is_none() && log.contains("EADDRINUSE") {
                eprintln!("catalog harness: port {port} taken, retrying");
                continue;
            }
            panic!(
                "start.sh failed (attempt {attempt}, port {port}, log {}): {}",
                log_path.display(),
                show(&out)
            );
        }
    }

    /// Stop now (SIGTERM, KILL after 10 s). Idempotent; `Drop` calls it.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        match Command::new(harness_dir().join("stop.sh"))
            .env("BACKSTAGE_PID_FILE", &self.pid_file)
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("catalog harness: stop.sh failed: {}", show(&o)),
            Err(e) => eprintln!("catalog harness: cannot run stop.sh: {e}"),
        }
    }

    /// Last `n` lines of the backend log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `base_url + path` (path starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The (unpooled) HTTP client, without auth; see [`Catalog::request`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request to `path` with the bearer token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Send `method path` with an optional JSON body; returns status and the
    /// body as JSON (`Value::Null` when empty, `Value::String` when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.request(method.clone(), path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status();
        let text = res
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"));
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// `GET /api/catalog/entities/by-name/{kind}/{ns}/{name}`: `None` on 404,
    /// panics on any other non-200.
    pub async fn get_entity(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let path = format!("/api/catalog/entities/by-name/{kind}/{ns}/{name}");
        match self.call(Method::GET, &path, None).await {
            (StatusCode::OK, v) => Some(v),
            (StatusCode::NOT_FOUND, _) => None,
            (s, v) => panic!("GET {path}: {s} {v}"),
        }
    }

    /// All entities matching a catalog filter such as `kind=template` or
    /// `kind=template,metadata.namespace=default` (empty: all), via
    /// `/api/catalog/entities/by-query` with cursor paging.
    /// The number of Templates, from one light query (`totalItems`), so that polling does not
    /// load the catalog being measured; 0 when it does not answer.
    pub async fn template_count(&self) -> usize {
        let response = self
            .request(
                Method::GET,
                "/api/catalog/entities/by-query?filter=kind=template&limit=1&fields=metadata.name",
            )
            .send()
            .await;
        match response {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["totalItems"].as_u64())
                .unwrap_or(0) as usize,
            Err(_) => 0,
        }
    }

    pub async fn list_entities(&self, filter: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = Url::parse(&self.url("/api/catalog/entities/by-query")).unwrap();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", "500");
                match &cursor {
                    Some(c) => {
                        q.append_pair("cursor", c);
                    }
                    None if !filter.is_empty() => {
                        q.append_pair("filter", filter);
                    }
                    None => {}
                }
            }
            let path = &url.as_str()[self.base_url.len()..];
            let (status, body) = self.call(Method::GET, path, None).await;
            assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
            let items = body["items"].as_array().cloned().unwrap_or_default();
            let done = items.is_empty();
            out.extend(items);
            match body["pageInfo"]["nextCursor"].as_str() {
                Some(c) if !done => cursor = Some(c.to_owned()),
                _ => return out,
            }
        }
    }

    /// Registered locations, unwrapped: `[{id, type, target}, ...]`.
    pub async fn locations(&self) -> Vec<Value> {
        let (status, body) = self.call(Method::GET, "/api/catalog/locations", None).await;
        assert_eq!(status, StatusCode::OK, "GET /api/catalog/locations: {body}");
        body.as_array()
            .map(|a| {
                a.iter()
                    .map(|l| l.get("data").cloned().unwrap_or_else(|| l.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `POST /api/catalog/locations` `{"type":"url","target":target}`, with
    /// `?dryRun=true` when `dry_run`. 201 on success for both; a dry run
    /// returns the processed entities, a real one `entities: []`.
    pub async fn register_location(&self, target: &str, dry_run: bool) -> (StatusCode, Value) {
        let path = if dry_run {
            "/api/catalog/locations?dryRun=true"
        } else {
            "/api/catalog/locations"
        };
        self.call(
            Method::POST,
            path,
            Some(&serde_json::json!({"type": "url", "target": target})),
        )
        .await
    }

    /// `DELETE /api/catalog/locations/{id}` (204; removes its entities at once).
    pub async fn delete_location(&self, id: &str) -> StatusCode {
        self.call(
            Method::DELETE,
            &format!("/api/catalog/locations/{id}"),
            None,
        )
        .await
        .0
    }

    /// `POST /api/catalog/refresh {"entityRef": ...}` (200; 404 for unknown refs).
    pub async fn refresh(&self, entity_ref: &str) -> StatusCode {
        self.call(
            Method::POST,
            "/api/catalog/refresh",
            Some(&serde_json::json!({"entityRef": entity_ref})),
        )
        .await
        .0
    }

    /// Makes the catalog create its plugin signing key now, outside any database transaction.
    ///
    /// Backstage (catalog-backend 4.0.5 on sqlite, whose pool holds one connection) publishes a
    /// `catalog conflict` event *inside* the processing transaction when two locations emit the
    /// same entity ref. Publishing needs a plugin token; when no signing key exists yet, creating
    /// one waits for a database connection the transaction holds, and the whole catalog stalls
    /// for 60 s (`KnexTimeoutError: Timeout acquiring a connection`; every REST call hangs).
    /// A processing error publishes its event outside a transaction, so registering a location
    /// nothing serves creates the key (valid for an hour) without the stall. Call this before a
    /// test provokes a name conflict.
    pub async fn create_signing_key(&self) {
        const CREATED: &str = "Created new signing key";
        let log = || std::fs::read_to_string(&self.log_path).unwrap_or_default();
        if log().contains(CREATED) {
            return;
        }
        // Nothing listens there: processing fails with a fetch error.
        let target = format!("http://127.0.0.1:{}/signing-key-warm-up.yaml", free_port());
        let (status, body) = self.register_location(&target, false).await;
        assert_eq!(status, StatusCode::CREATED, "register {target}: {body}");
        wait_for(
            "the catalog to create its signing key",
            Duration::from_secs(30),
            || async { log().contains(CREATED).then_some(()) },
        )
        .await;
        let id = body["location"]["id"].as_str().expect("location.id");
        assert_eq!(self.delete_location(id).await, StatusCode::NO_CONTENT);
    }

    /// Poll until the entity exists; returns it and the time it took.
    pub async fn wait_for_entity(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        timeout: Duration,
    ) -> (Value, Duration) {
        wait_for(
            &format!(
                "{kind}:{ns}/{name} to exist in the catalog at {}",
                self.base_url
            ),
            timeout,
            || self.get_entity(kind, ns, name),
        )
        .await
    }

    /// Poll until the entity is gone; returns the time it took.
    pub async fn wait_for_no_entity(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        timeout: Duration,
    ) -> Duration {
        wait_for(
            &format!("{kind}:{ns}/{name} to disappear from the catalog"),
            timeout,
            || async {
                self.get_entity(kind, ns, name)
                    .await
                    .is_none()
                    .then_some(())
            },
        )
        .await
        .1
    }
}

impl Drop for Catalog {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!(
                "catalog harness: test failed; backend log {} (last lines):\n{}",
                self.log_path.display(),
                self.log_tail(40)
            );
        }
        self.stop();
        if !panicking {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// Poll `f` every 100 ms until it yields `Some`; returns the value and the
/// elapsed time. Panics after `timeout`, naming `what` was awaited.
/// For a boolean condition return `cond.then_some(())`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let t0 = Instant::now();
    loop {
        if let Some(v) = f().await {
            return (v, t0.elapsed());
        }
        if t0.elapsed() >= timeout {
            panic!(
                "timed out after {:.1} s waiting for {what}",
                timeout.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
