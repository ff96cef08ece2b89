//! Where `run` keeps its state when `stateDir` is not set: the platform's state folder
//! (`$XDG_STATE_HOME/orchestrator-provider`, else `~/.local/state/orchestrator-provider`),
//! never the working directory; and it says so when it starts.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `orchestrator-provider run` with a folder source and no catalog, in `work`, with `env`.
struct Run {
    child: Child,
    log: std::path::PathBuf,
    url: String,
}

impl Run {
    fn start(dir: &Path, env: &[(&str, &Path)]) -> Run {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let flows = dir.join("flows");
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::write(
            flows.join("hello.sw.yaml"),
            "id: hello\nname: Hello\nstart: s\nstates: [{name: s, type: operation, end: true}]\n",
        )
        .unwrap();
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "sources:\n  - type: dir\n    path: {}\nserver:\n  listen: 127.0.0.1:{port}\n",
                flows.display()
            ),
        )
        .unwrap();
        let log = dir.join("stderr.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"));
        command
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(&work)
            .env_remove("XDG_STATE_HOME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        Run {
            child: command.spawn().unwrap(),
            log,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until `file` exists (it is written just after the first snapshot is served), at
    /// most 30 s.
    async fn written(&self, file: &Path) {
        let started = Instant::now();
        while !file.is_file() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no {} after 30 s; stderr: {}",
                file.display(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the first snapshot is published (`/readyz`), at most 30 s.
    async fn ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the daemon exited ({exit}): {}", self.stderr());
            }
            if let Ok(r) = reqwest::get(format!("{}/readyz", self.url)).await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "not ready after 30 s: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn without_state_dir_state_goes_to_the_home_state_folder_not_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut run = Run::start(dir.path(), &[("HOME", &home)]);
    run.ready().await;
    let state = home.join(".local/state/orchestrator-provider");
    run.written(&state.join("published.jsonl")).await;
    assert!(!dir.path().join("work/state").exists());
    assert!(
        run.stderr().contains(&state.display().to_string()),
        "the start-up message does not say where state is kept: {}",
        run.stderr()
    );
}

#[tokio::test]
async fn xdg_state_home_wins_over_home() {
    let dir = tempfile::tempdir().unwrap();
    let (home, xdg) = (dir.path().join("home"), dir.path().join("xdg"));
    let mut run = Run::start(dir.path(), &[("HOME", &home), ("XDG_STATE_HOME", &xdg)]);
    run.ready().await;
    let state = xdg.join("orchestrator-provider");
    run.written(&state.join("published.jsonl")).await;
    assert!(!home.exists());
    assert!(run.stderr().contains(&state.display().to_string()));
}
