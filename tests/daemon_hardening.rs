//! The daemon under hostile conditions (issue 10, the daemon's side), through the real binary:
//! a flooded port under a low open-file limit, slowloris, secrets echoed by failing upstreams,
//! credentials in URLs, a catalog that hangs, logs written to a file.
//!
//! The catalog test runs the real catalog (tests/support/catalog.rs) behind a small loopback
//! proxy that can be made to hang; the others need no catalog. Upstreams that fail are small
//! servers in this process that answer 500 with the request's headers in the body. The events
//! test reads the Data Index fixture (tests/support/data_index_fixture.rs; it prints `skipped`
//! without the shared corpus).

#[path = "support/catalog.rs"]
mod catalog;
#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/data_index_fixture.rs"]
mod data_index_fixture;
#[path = "support/shared.rs"]
mod shared;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use daemon::eventually;
use orchestrator_provider::telemetry::{CYCLE_IN_FLIGHT, DELETIONS_HELD};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A daemon without a catalog, over a copy of the bundled examples, with more configuration.
struct Plain {
    dir: tempfile::TempDir,
    child: Child,
    url: String,
    log: PathBuf,
}

impl Plain {
    /// Spawns `run` with `extra` configuration (YAML, top level, without `server:`), `server`
    /// settings (YAML lines indented by two spaces), more `sources` (list items), `env`, and
    /// (when set) an open-file limit applied to the daemon's process only.
    fn spawn(
        server: &str,
        sources: &str,
        extra: &str,
        env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> Plain {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        daemon::copy_dir(&daemon::fixtures(), &flows);
        let port = daemon::free_port();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "sources:\n  - type: dir\n    path: {flows:?}\n{sources}stateDir: {state:?}\n\
                 server:\n  listen: 127.0.0.1:{port}\n{server}{extra}",
                flows = flows.display().to_string(),
                state = dir.path().join("state").display().to_string(),
            ),
        )
        .unwrap();
        let log = dir.path().join("daemon.stderr.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"));
        command
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        if let Some(n) = nofile {
            // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = command.spawn().expect("spawn orchestrator-provider");
        Plain {
            dir,
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET <daemon>/<path>` as text, whatever the status.
    async fn get_text(&self, path: &str) -> String {
        client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Waits until `/readyz` answers 200 (at most 60 s).
    async fn wait_ready(&mut self) {
        let http = client();
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited ({status}); stderr:\n{}", self.log());
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "not ready after 60 s; stderr:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t0 = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if t0.elapsed() > Duration::from_secs(15) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if std::thread::panicking() {
            eprintln!("---- daemon stderr ----\n{}---- end ----", self.log());
        }
        let _ = &self.dir;
    }
}

/// A client that opens a fresh connection per request.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Whether the server closed `stream` (EOF or reset) within `within`, reading whatever it sent;
/// `keep_writing` is called every second until then (a slowloris client).
fn closed_within(
    stream: &mut TcpStream,
    within: Duration,
    mut keep_writing: impl FnMut(&mut TcpStream),
) -> Option<Duration> {
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < within {
        match stream.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                keep_writing(stream)
            }
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Item 3: the HTTP server

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_when_connections_exceed_the_cap_under_a_low_open_file_limit() {
    // 150 idle connections against a 128-descriptor limit: without a cap, accept fails with
    // "Too many open files" and the probes wait behind the flood.
    let mut d = Plain::spawn(
        "  maxConnections: 16\n  headerReadTimeout: 60s\n  idleTimeout: 120s\n",
        "",
        "",
        &[],
        Some(128),
    );
    d.wait_ready().await;
    let port = d.port();
    let flood: Vec<TcpStream> = (0..150)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(
        flood.len() >= 100,
        "only {} connections opened",
        flood.len()
    );
    let http = client();
    for round in 0..3 {
        for path in ["/healthz", "/readyz", "/metrics"] {
            let t0 = Instant::now();
            let r = http
                .get(format!("{}{path}", d.url))
                .send()
                .await
                .unwrap_or_else(|e| panic!("round {round}: GET {path} failed while flooded: {e}"));
            assert_eq!(r.status(), 200, "round {round}: GET {path}");
            println!("round {round}: {path} answered in {:?}", t0.elapsed());
        }
    }
    // What is not a probe waits for a free connection: 503 on a reserved one. (More idle
    // connections first: a general slot freed meanwhile, by the readiness poll's connection
    // closing late, goes to them.)
    let more: Vec<TcpStream> = (0..20)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let r = http.get(format!("{}/status", d.url)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    drop(flood);
    drop(more);
    // Once the flood is gone, everything answers again.
    let (status, _) = eventually(
        "/status to answer again after the flood",
        Duration::from_secs(10),
        || async {
            match http.get(format!("{}/status", d.url)).send().await {
                Ok(r) if r.status() == 200 => Ok(r.json::<Value>().await.unwrap()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    assert_eq!(status["ready"], true);
    let log = d.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("server.maxConnections reached"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_idle_and_stalled_connections_are_closed() {
    let mut d = Plain::spawn(
        "  headerReadTimeout: 2s\n  idleTimeout: 3s\n",
        "",
        "",
        &[],
        None,
    );
    d.wait_ready().await;
    let port = d.port();
    let bound = Duration::from_secs(20);

    // A header line every second, never the end of the headers.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let took = closed_within(&mut slow, bound, |s| {
        let _ = s.write_all(b"X-Slow: 1\r\n");
    });
    assert!(
        took.is_some(),
        "a slowloris connection stayed open {bound:?}"
    );

    // Connected, never a byte.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(
        closed_within(&mut idle, bound, |_| {}).is_some(),
        "an idle connection stayed open {bound:?}"
    );

    // A body announced and never sent.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: 1000\r\n\r\n{\"a\":")
        .unwrap();
    assert!(
        closed_within(&mut stalled, bound, |_| {}).is_some(),
        "a stalled body kept its connection open {bound:?}"
    );

    // A kept-alive connection that goes quiet after a request is closed too.
    let mut kept = TcpStream::connect(("127.0.0.1", port)).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(
        closed_within(&mut kept, bound, |_| {}).is_some(),
        "a quiet kept-alive connection stayed open {bound:?}"
    );
    // And the server still answers.
    let r = client()
        .get(format!("{}/healthz", d.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_a_byte_at_a_time_is_cut_at_the_body_deadline() {
    // A byte every second keeps the idle timer (5 s) from ever firing: only a deadline for the
    // whole body ends it.
    let mut d = Plain::spawn(
        "  headerReadTimeout: 2s\n  idleTimeout: 5s\n  bodyReadTimeout: 3s\n",
        "",
        "",
        &[],
        None,
    );
    d.wait_ready().await;
    let port = d.port();
    let bound = Duration::from_secs(30);

    let mut trickle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    trickle
        .write_all(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: 100000\r\n\r\n{")
        .unwrap();
    let mut answer = Vec::new();
    trickle
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let t0 = Instant::now();
    let mut closed = false;
    let mut buf = [0u8; 4096];
    while t0.elapsed() < bound {
        match trickle.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // The server may close while a byte is on its way: a failed write ends it too.
                if trickle.write_all(b" ").is_err() {
                    closed = true;
                    break;
                }
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        closed,
        "a trickled body kept its connection open {bound:?}: {answer}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("server.bodyReadTimeout"), "{answer}");

    // The deadline is per request: a kept-alive connection whose requests each arrive in time
    // serves them all, longer in total than the deadline.
    let mut kept = TcpStream::connect(("127.0.0.1", port)).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let event = br#"{"specversion":"1.0","id":"1","source":"s","type":"Other"}"#;
    let t0 = Instant::now();
    for i in 0..4 {
        let head = format!(
            "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: {}\r\n\r\n",
            event.len()
        );
        kept.write_all(head.as_bytes()).unwrap();
        // The body in two pieces, a second apart (well within the deadline).
        kept.write_all(&event[..10]).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        kept.write_all(&event[10..]).unwrap();
        let mut response = Vec::new();
        while !String::from_utf8_lossy(&response).contains("not a ProcessDefinitionEvent") {
            let n = kept
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert!(n > 0, "request {i}: the connection was closed");
            response.extend_from_slice(&buf[..n]);
        }
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 202"),
            "request {i}: {response}"
        );
    }
    assert!(t0.elapsed() > Duration::from_secs(3));
}

/// A Data Index row deploying `id` with an inline definition.
fn deployed_row(id: &str) -> Value {
    let source = serde_json::json!({
        "id": id, "version": "1.0", "specVersion": "0.8", "name": id,
        "start": "S", "states": [{"name": "S", "type": "inject", "data": {}, "end": true}]
    });
    serde_json::json!({
        "id": id, "name": id, "version": "1.0", "type": "SW",
        "endpoint": format!("http://127.0.0.1:1/{id}"), "serviceUrl": "http://127.0.0.1:1",
        "description": null, "annotations": [], "metadata": {"Variable": "workflowdata"},
        "source": source.to_string(), "addons": ["source-files"]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_make_every_definition_stale_force_one_full_reread_per_interval() {
    use data_index_fixture::{Fixture, Release};
    let rows = vec![deployed_row("alpha"), deployed_row("beta")];
    let Some(di) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let sources = format!(
        "  - type: dataIndex\n    url: {}\n    interval: 1h\n",
        di.url
    );
    let mut d = Plain::spawn(
        "",
        &sources,
        "sync:\n  interval: 1h\n  triggerMinInterval: 1h\n",
        &[],
        None,
    );
    d.wait_ready().await;
    // How many times the definition of `id` was fetched (a `source` query naming it).
    let fetched = |id: &str| {
        di.received()
            .iter()
            .filter(|r| r.query.contains("source") && r.variables.to_string().contains(id))
            .count()
    };
    let wait_fetched = |id: &'static str, n: usize| {
        let fetched = &fetched;
        async move {
            let t0 = Instant::now();
            while fetched(id) < n {
                assert!(
                    t0.elapsed() < Duration::from_secs(60),
                    "{id} fetched {} times, not {n}",
                    fetched(id)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_fetched("\"beta\"", 1).await;
    let http = client();
    let post = |content_type: &'static str, ce_type: Option<&'static str>, body: String| {
        let mut request = http
            .post(format!("{}/events", d.url))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(t) = ce_type {
            request = request
                .header("ce-specversion", "1.0")
                .header("ce-type", t)
                .header("ce-id", "x")
                .header("ce-source", "x");
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // The first event without `data.id` forces a full re-read at once.
    let (status, text) = post(
        "application/json",
        Some("ProcessDefinitionEvent"),
        "{}".into(),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("sync scheduled"), "{text}");
    wait_fetched("\"beta\"", 2).await;
    // More within `sync.triggerMinInterval`: accepted and coalesced into one later re-read.
    for _ in 0..5 {
        let (status, text) = post(
            "application/json",
            Some("ProcessDefinitionEvent"),
            "{}".into(),
        )
        .await;
        assert_eq!(status, 202, "{text}");
        assert!(text.contains("coalesced"), "{text}");
    }
    // So is a batch naming more workflows than a Data Index source remembers.
    let batch: Vec<Value> = (0..10_001)
        .map(|i| {
            serde_json::json!({"specversion": "1.0", "id": format!("e{i}"), "source": "s",
                "type": "ProcessDefinitionEvent", "data": {"id": format!("w{i}")}})
        })
        .collect();
    let (status, text) = post(
        "application/cloudevents-batch+json",
        None,
        Value::Array(batch).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("coalesced"), "{text}");
    // An event naming a workflow is served at once, and fetches that workflow only.
    let (status, text) = post(
        "application/json",
        Some("ProcessDefinitionEvent"),
        r#"{"id": "alpha"}"#.into(),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("sync scheduled"), "{text}");
    wait_fetched("\"alpha\"", 3).await;
    assert_eq!(
        fetched("\"beta\""),
        2,
        "events that make every definition stale forced more than one full re-read"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 9: logs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_written_to_a_file_carry_no_colour_codes() {
    let mut d = Plain::spawn("", "", "", &[], None);
    d.wait_ready().await;
    // A log line at INFO at least: the first snapshot.
    let (log, _) = eventually(
        "a log line saying the first snapshot was published",
        Duration::from_secs(30),
        || async {
            let log = d.log();
            if log.contains("first snapshot published") {
                Ok(log)
            } else {
                Err(log)
            }
        },
    )
    .await;
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in a log file:\n{log:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 2: secrets

/// Every secret the daemon is given, distinct, so that a leak says which one.
const SECRETS: [(&str, &str); 7] = [
    ("CATALOG_TOKEN", "catalog-tok-7f3a9c1e"),
    ("DI_TOKEN", "dataindex-tok-52b8e0d4"),
    ("GIT_TOKEN", "git-tok-9c4d1f2a"),
    ("GH_SECRET", "github-hook-3e7b5a90"),
    ("GL_SECRET", "gitlab-hook-81f6c2d7"),
    ("EVENTS_TOKEN", "events-tok-4a0e9b3c"),
    ("SYNC_TOKEN", "sync-tok-6d2c8e15"),
];

/// Every form of every secret that must never be shown: as written, base64, and the base64 of
/// the Basic credentials git sends.
fn forbidden() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (var, value) in SECRETS {
        out.push((var.to_string(), value.to_owned()));
        out.push((format!("{var} (base64)"), STANDARD.encode(value)));
        let no_pad = STANDARD.encode(value).trim_end_matches('=').to_owned();
        out.push((format!("{var} (base64, unpadded)"), no_pad));
    }
    out.push((
        "GIT_TOKEN (Basic)".into(),
        STANDARD.encode("x-access-token:git-tok-9c4d1f2a"),
    ));
    out.push(("git URL password".into(), "url-pw-0b1c".into()));
    out
}

/// A server that answers every request 500 with the request's head in a Backstage-shaped
/// error body, followed by every configured secret in every form (an upstream that echoes
/// whatever it was sent or knows: the daemon must take all of it out). Under `/shape/` it is
/// a Data Index that answers 200: its capabilities, and the same echo where the list of
/// `ProcessDefinitions` should be (a parser quotes a value of the wrong type in full). Returns
/// its base URL.
async fn echoing_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let known: Vec<String> = forbidden().into_iter().map(|(_, v)| v).collect();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let known = known.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let message = format!("{text}\nalso seen: {}", known.join(" "));
                let (status, body) = if text.starts_with("POST /shape/") {
                    let fields = serde_json::json!([{"name": "ProcessDefinitions", "args": []}]);
                    let body = serde_json::json!({"data": {
                        "__schema": {"queryType": {"fields": fields}},
                        "definition": {"fields": [{"name": "id"}]},
                        "argument": null,
                        "ProcessDefinitions": message,
                    }});
                    ("200 OK", body.to_string())
                } else {
                    let body = serde_json::json!({"error": {"name": "Echo", "message": message}});
                    ("500 Internal Server Error", body.to_string())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

fn assert_clean(channel: &str, text: &str) {
    for (what, value) in forbidden() {
        assert!(
            !text.contains(&value),
            "{what} leaked into {channel}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_status_logs_or_metrics_when_upstreams_echo_them() {
    let upstream = echoing_upstream().await;
    let host = upstream.trim_start_matches("http://");
    let env: Vec<(&str, &str)> = SECRETS.to_vec();
    for format in ["text", "json"] {
        let extra = format!(
            "catalog:\n  baseUrl: {upstream}\n  tokenEnv: CATALOG_TOKEN\n  cycleTimeout: 20s\n\
             webhooks:\n  github: {{secretEnv: GH_SECRET}}\n  gitlab: {{secretEnv: GL_SECRET}}\n\
             events:\n  tokenEnv: EVENTS_TOKEN\n\
             sync:\n  interval: 1s\n  triggerTokenEnv: SYNC_TOKEN\n\
             logging:\n  format: {format}\n  level: debug\n"
        );
        // Two Data Indexes (one failing, one answering 200 with the wrong shape) and two git
        // repositories on the echoing upstream too.
        let sources = format!(
            "  - type: dataIndex\n    url: {upstream}\n    auth: {{tokenEnv: DI_TOKEN}}\n    interval: 1s\n\
             \x20 - type: dataIndex\n    url: {upstream}/shape\n    auth: {{tokenEnv: DI_TOKEN}}\n    interval: 1s\n\
             \x20 - type: git\n    url: {upstream}/repo.git\n    auth: {{tokenEnv: GIT_TOKEN}}\n    interval: 1s\n    timeout: 5s\n\
             \x20 - type: git\n    url: http://someone:url-pw-0b1c@{host}/other.git\n    interval: 1s\n    timeout: 5s\n"
        );
        let d = Plain::spawn("", &sources, &extra, &env, None);
        let http = client();
        // Until every path has failed at least once: the catalog (adoption), the Data Index,
        // both repositories; each keeps failing every second.
        let (status, _) = eventually(
            "every upstream to have failed",
            Duration::from_secs(60),
            || async {
                let status: Value = match http.get(format!("{}/status", d.url)).send().await {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
                let sources_failed = status["sources"]
                    .as_array()
                    .is_some_and(|s| s.iter().filter(|s| !s["lastError"].is_null()).count() >= 4);
                if sources_failed && !status["catalog"]["lastError"].is_null() {
                    Ok(status)
                } else {
                    Err(format!("{status}\n{}", d.log()))
                }
            },
        )
        .await;
        // The echo did reach the errors (so the test can fail): the request line is in them.
        let catalog_error = status["catalog"]["lastError"].as_str().unwrap();
        assert!(
            catalog_error.contains("GET /api/catalog"),
            "{catalog_error}"
        );
        let di_errors: Vec<String> = status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["type"] == "dataIndex")
            .map(|s| s["lastError"].to_string())
            .collect();
        assert!(di_errors[0].contains("POST /graphql"), "{di_errors:?}");
        assert!(
            di_errors[1].contains("unexpected shape")
                && di_errors[1].contains("POST /shape/graphql"),
            "{di_errors:?}"
        );
        // Wrong tokens on the guarded endpoints (their refusals are logged).
        let _ = http
            .post(format!("{}/sync", d.url))
            .bearer_auth("wrong")
            .send()
            .await;
        let _ = http
            .post(format!("{}/events", d.url))
            .bearer_auth("wrong")
            .send()
            .await;
        let _ = http
            .post(format!("{}/webhooks/github", d.url))
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", "sha256=00")
            .body("{}")
            .send()
            .await;
        assert_clean("/status", &d.get_text("/status").await);
        assert_clean("/metrics", &d.get_text("/metrics").await);
        assert_clean(&format!("the {format} log"), &d.log());
        assert!(
            d.log().contains("***"),
            "nothing was redacted?\n{}",
            d.log()
        );
    }
}

#[test]
fn credentials_in_the_catalog_url_are_a_configuration_error_that_does_not_show_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "catalog:\n  baseUrl: http://admin:hunter2-pw@127.0.0.1:7007\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("catalog.baseUrl"), "{stderr}");
    assert!(stderr.contains("must not carry credentials"), "{stderr}");
    assert!(!stderr.contains("hunter2-pw"), "{stderr}");
}

#[test]
fn a_mistyped_value_in_the_configuration_is_quoted_without_the_password_of_its_url() {
    // serde quotes a value of the wrong type in full: a URL with credentials in the wrong place.
    let cases = [
        (
            "catalog: http://admin:cat-pw-1f2e@127.0.0.1:7007\n",
            "`catalog`",
            "cat-pw-1f2e",
        ),
        (
            "sources:\n  - type: git\n    url: https://example.com/r.git\n    depth: https://u:git-pw-3a4b@example.com/r.git\n",
            "`sources[0]`",
            "git-pw-3a4b",
        ),
        (
            "sources: https://u:src-pw-5c6d@example.com/r.git\n",
            "`sources`",
            "src-pw-5c6d",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (yaml, key, password)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("config-{i}.yaml"));
        std::fs::write(&config, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("ORCHESTRATOR_PROVIDER__CATALOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(key), "{yaml}: {stderr}");
        assert!(stderr.contains("***@"), "{yaml}: {stderr}");
        assert!(!stderr.contains(password), "{yaml}: {stderr}");
    }
    // The same from the environment.
    let config = dir.path().join("empty.yaml");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
        .args(["run", "--config"])
        .arg(&config)
        .env(
            "ORCHESTRATOR_PROVIDER__CATALOG",
            "http://admin:env-pw-7e8f@h:1",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ORCHESTRATOR_PROVIDER__CATALOG"),
        "{stderr}"
    );
    assert!(!stderr.contains("env-pw-7e8f"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Item 7: a hung catalog

/// A loopback proxy in front of the real catalog that can be told to hang: while hung it
/// accepts connections and reads requests but forwards nothing either way.
struct HangingProxy {
    url: String,
    hung: Arc<AtomicBool>,
}

/// Copies what `from` reads to `to`, holding each chunk while `hung` is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    hung: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16384];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while hung.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn hanging_proxy(target: &str) -> HangingProxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = target.trim_start_matches("http://").to_owned();
    let hung = Arc::new(AtomicBool::new(false));
    let flag = hung.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            let hung = flag.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pump(cr, sw, hung.clone()), pump(sr, cw, hung));
            });
        }
    });
    HangingProxy { url, hung }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_catalog_shows_as_a_cycle_in_flight_is_cut_short_and_the_work_is_retried() {
    let Some(cat) =
        tokio::task::spawn_blocking(|| catalog::Catalog::start_with(catalog::Options::default()))
            .await
            .unwrap()
    else {
        return;
    };
    let proxy = hanging_proxy(&cat.base_url).await;
    let setup = daemon::Setup::new(&proxy.url, &cat.token);
    let (config, port) = setup.write_config(&daemon::ConfigOpts {
        interval: "1s".into(),
        extra_config: String::new(),
        ..Default::default()
    });
    // A short bound on the catalog's part of a cycle (the default is 60 s).
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("catalog:\n", "catalog:\n  cycleTimeout: 4s\n");
    std::fs::write(&config, text).unwrap();
    let d = daemon::Daemon::start(&config, port, &cat.token, "daemon").await;
    // In step first.
    eventually(
        "the daemon in step with the catalog",
        Duration::from_secs(60),
        || async {
            let s = d.status().await;
            if s["catalog"]["state"] == "in-sync"
                && cat
                    .get_entity("template", "default", "hello-world")
                    .await
                    .is_some()
            {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    assert_eq!(d.series(DELETIONS_HELD).await, Some(0.0));

    // The catalog hangs; a workflow changes, so the next cycle has catalog work to do.
    proxy.hung.store(true, Ordering::Release);
    let path = setup.flows.join("hello-world/hello-world.sw.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("name: Hello world", "name: Hello hung world"),
    )
    .unwrap();

    // While it hangs: /status shows the cycle in flight, the gauge counts its seconds.
    let in_flight = d
        .status_until("a cycle in flight", Duration::from_secs(30), |s| {
            s["cycle"]["inFlight"] == true && s["cycle"]["seconds"].as_f64().unwrap_or(0.0) >= 1.0
        })
        .await;
    println!("in flight: {}", in_flight["cycle"]);
    assert!(in_flight["cycle"]["since"].as_str().is_some());
    assert!(
        in_flight["cycle"]["phase"]
            .as_str()
            .unwrap()
            .contains("catalog"),
        "{in_flight}"
    );
    // The gauge counts the seconds of whichever cycle is hanging (a cycle cut short is followed
    // by the next, which hangs too).
    eventually(
        "the in-flight gauge to reach 1 s",
        Duration::from_secs(30),
        || async {
            let seconds = d
                .series(CYCLE_IN_FLIGHT)
                .await
                .expect("the in-flight gauge is exported");
            if seconds >= 1.0 {
                Ok(())
            } else {
                Err(format!("{seconds} s"))
            }
        },
    )
    .await;

    // The bound cuts it short, and says so.
    let cut = d
        .status_until("the cycle cut short", Duration::from_secs(30), |s| {
            s["lastSync"]["cutShort"].is_string()
        })
        .await;
    assert_eq!(cut["catalog"]["state"], "failing", "{cut}");
    assert!(
        cut["catalog"]["lastError"]
            .as_str()
            .unwrap()
            .contains("catalog.cycleTimeout"),
        "{cut}"
    );

    // The catalog answers again: the next cycle does the work that was cut.
    proxy.hung.store(false, Ordering::Release);
    eventually(
        "the cut work to be retried",
        Duration::from_secs(60),
        || async {
            let e = cat.get_entity("template", "default", "hello-world").await;
            if e.as_ref()
                .is_some_and(|e| e["metadata"]["title"] == "Hello hung world")
            {
                Ok(())
            } else {
                Err(format!("{e:?}"))
            }
        },
    )
    .await;
    d.status_until(
        "the daemon in step again, no cycle in flight",
        Duration::from_secs(30),
        |s| s["catalog"]["state"] == "in-sync" && s["cycle"]["inFlight"] == false,
    )
    .await;
    assert_eq!(d.series(CYCLE_IN_FLIGHT).await, Some(0.0));
}
