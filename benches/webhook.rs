//! Benchmark: commit + signed GitHub webhook -> template updated in the real Backstage catalog.
//!
//! `cargo bench --bench webhook` (needs Node.js and npm for the catalog, and git). A repository
//! of 1000 generated workflows is served by `git http-backend` on loopback (basic auth); the
//! daemon (the real binary) follows it with a one-hour interval, so only webhooks make it fetch,
//! and keeps a catalog (processing interval 600 s) in step. Then 20 times: edit one workflow's
//! title, commit, POST a signed `push` delivery, and time until the catalog shows the new title.

#[path = "../tests/support/catalog.rs"]
mod catalog;
#[path = "support/generate.rs"]
mod generate;
#[path = "../tests/support/git_server.rs"]
mod git_server;
#[path = "support/process.rs"]
mod process;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use catalog::{Catalog, Options};
use hmac::{Hmac, Mac};
use process::{Daemon, poll, wait_until};
use serde_json::{Value, json};

const N: usize = 1000;
const PUSHES: usize = 20;
const TOKEN: &str = "bench-git-token";
const SECRET: &str = "bench-webhook-secret";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("webhook benchmark: run it with `cargo bench --bench webhook`");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    let work = git_server::WorkRepo::init(&srv.join("flows"));
    generate::generate(&srv.join("flows"), N);
    work.commit("1000 workflows");
    let http = git_server::GitHttp::start(&srv, TOKEN);
    let catalog = Catalog::start_with(Options {
        processing_seconds: Some(600),
        // What a catalog runs unless tuned (the tests' 100 ms shortens the wait).
        default_stitching: true,
        ..Default::default()
    })
    .expect("the benchmark needs the real catalog (Node.js and npm)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (median, max, cold) = rt.block_on(run(&tmp, &work, &http, &catalog));
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!("| cold start from git, all {N} visible | {cold:.1} s | |");
    println!(
        "| commit + signed webhook -> visible, median of {PUSHES} | {median:.2} s | <= 2.0 s |"
    );
    println!("| commit + signed webhook -> visible, max of {PUSHES} | {max:.2} s | |");
}

async fn run(
    tmp: &tempfile::TempDir,
    work: &git_server::WorkRepo,
    http: &git_server::GitHttp,
    catalog: &Catalog,
) -> (f64, f64, f64) {
    let port = process::free_port();
    std::fs::write(tmp.path().join("git-token"), TOKEN).unwrap();
    std::fs::write(tmp.path().join("secret"), SECRET).unwrap();
    let url = http.url("flows");
    let config = tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: git\n    url: {url}\n    ref: main\n    auth: {{tokenFile: {token}}}\nwebhooks:\n  github: {{secretFile: {secret}}}\nserver:\n  listen: 127.0.0.1:{port}\ncatalog:\n  baseUrl: {catalog}\n  tokenEnv: BENCH_CATALOG_TOKEN\nsync:\n  interval: 1h\nstateDir: {state}\nlogging:\n  level: info\n",
            token = tmp.path().join("git-token").display(),
            secret = tmp.path().join("secret").display(),
            catalog = catalog.base_url,
            state = tmp.path().join("state").display(),
        ),
    )
    .unwrap();
    let started = Instant::now();
    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .args(["run", "--config"])
            .arg(&config)
            .env("BENCH_CATALOG_TOKEN", &catalog.token)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join("daemon.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until("cold start", Duration::from_secs(300), async || {
        catalog.template_count().await >= N
    })
    .await;
    let cold = started.elapsed().as_secs_f64();
    println!("cold start: all {N} visible after {cold:.1} s");

    let client = reqwest::Client::new();
    let hook = format!("http://127.0.0.1:{port}/webhooks/github");
    let mut times = Vec::new();
    for k in 0..PUSHES {
        let title = format!("Pushed workflow push-{k}");
        let (path, name, edited) = generate::retitled(&tmp.path().join("srv/flows"), k, &title);
        let t = Instant::now();
        work.write(&path, edited);
        let head = work.commit(&format!("push {k}"));
        let body = json!({"ref": "refs/heads/main", "after": head, "repository": {"clone_url": format!("{url}.git")}}).to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let response = client
            .post(&hook)
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        let log = tmp.path().join("daemon.log");
        let took = poll(Duration::from_secs(30), async || {
            catalog
                .get_entity("template", "default", &name)
                .await
                .is_some_and(|e| {
                    e.pointer("/metadata/title").and_then(Value::as_str) == Some(title.as_str())
                })
        })
        .await;
        if took.is_none() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            panic!(
                "push {k} not visible within 30 s; daemon log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        times.push(t.elapsed().as_secs_f64());
    }
    println!("commit + webhook -> visible (s): {times:.2?}");
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1], cold)
}
