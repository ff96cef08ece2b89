//! The container image (`Containerfile`), built and run here for real as far as this machine
//! allows: no registry can be pulled from and podman cannot run containers here (its runtime
//! refuses the cgroup setup), but it can build images and export their file system.
//!
//! So the production base, distroless `cc-debian12`, is stood in for by a Debian 12 minbase
//! (`debootstrap`) carrying the same packages, cached between runs by its package list; the
//! runtime stage is built on it with the binary this test run built (`BINARY=prebuilt`,
//! stripped); the image's file system is exported, everything the production base does not carry
//! is deleted from it (the shell and package tools with the rest), and the binary is run in it
//! with `chroot` as the image's user, with the image's environment, entrypoint and command.
//! Not exercised here: the `build` stage (it needs the Rust image from a registry).
//!
//! Needs root, podman and debootstrap (`.ci/run` installs them); without them this test fails,
//! unless `ORCHESTRATOR_PROVIDER_SKIP_IMAGE=1` makes it print `skipped: ...`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The packages of `gcr.io/distroless/cc-debian12` (distroless `base/config.bzl`, `cc/config.bzl`:
/// static = base-files, netbase, tzdata and the CA certificates; base adds libc6 and libssl3; cc
/// adds the GCC runtime). The stand-in keeps exactly these.
const PRODUCTION_PACKAGES: &[&str] = &[
    "base-files",
    "netbase",
    "tzdata",
    "ca-certificates",
    "libc6",
    "libssl3",
    "libgcc-s1",
    "libstdc++6",
    "libgomp1",
    "gcc-12-base",
];
/// What `debootstrap --variant=minbase` lacks of them.
const INCLUDE: &str = "libssl3,libstdc++6,libgomp1,ca-certificates,tzdata,netbase";
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// distroless's `nonroot` user, which the image runs as.
const USER: &str = "65532:65532";

fn skip(reason: &str) -> bool {
    if std::env::var("ORCHESTRATOR_PROVIDER_SKIP_IMAGE").is_ok_and(|v| v == "1") {
        eprintln!("skipped: {reason}");
        return true;
    }
    panic!("{reason}; install it (`.ci/run` does) or set ORCHESTRATOR_PROVIDER_SKIP_IMAGE=1");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The stand-in base as a local image, built once per package list: debootstrap (about 30 s to
/// 2 min), kept as a tar under `target/tmp` and as a podman image.
fn stand_in_base() -> String {
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (SUITE, "minbase", INCLUDE, MIRROR).hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let image = format!("localhost/orchestrator-provider-test-base:{key}");
    let exists = Command::new("podman")
        .args(["image", "exists", &image])
        .status()
        .is_ok_and(|s| s.success());
    if exists {
        return image;
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-base");
    std::fs::create_dir_all(&cache).unwrap();
    let tar = cache.join(format!("{SUITE}-minbase-{key}.tar"));
    if !tar.exists() {
        let work = tempfile::tempdir_in(&cache).unwrap();
        let rootfs = work.path().join("rootfs");
        let t0 = Instant::now();
        run(Command::new("debootstrap").args([
            "--variant=minbase",
            &format!("--include={INCLUDE}"),
            SUITE,
            rootfs.to_str().unwrap(),
            MIRROR,
        ]));
        eprintln!("debootstrap: {:.0} s", t0.elapsed().as_secs_f64());
        let partial = work.path().join("rootfs.tar");
        run(Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&partial)
            .arg("."));
        // Atomic: a concurrent run sees the whole tar or none.
        std::fs::rename(&partial, &tar).unwrap();
    }
    run(Command::new("podman").args(["import", tar.to_str().unwrap(), &image]));
    image
}

/// Removes the images built by this test when it ends, however it ends (with their
/// intermediate layers, which are their parents).
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rmi", "--force"])
            .args(&self.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Deletes every file of every package the production base does not carry (dpkg's file lists
/// say which), the shell and package tools among them. Folders, and links to folders
/// (`/bin` -> `usr/bin`), stay.
fn prune_to_production(rootfs: &Path) {
    let info = rootfs.join("var/lib/dpkg/info");
    let mut lists: Vec<PathBuf> = std::fs::read_dir(&info)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "list"))
        .collect();
    lists.sort();
    let package = |list: &Path| {
        let stem = list.file_stem().unwrap().to_string_lossy().into_owned();
        stem.split(':').next().unwrap().to_owned()
    };
    let kept: Vec<String> = lists.iter().map(|l| package(l)).collect();
    for wanted in PRODUCTION_PACKAGES {
        assert!(
            kept.iter().any(|k| k == wanted),
            "the stand-in base lacks {wanted}"
        );
    }
    for list in lists
        .iter()
        .filter(|l| !PRODUCTION_PACKAGES.contains(&package(l).as_str()))
    {
        delete_listed(rootfs, list);
    }
    std::fs::remove_dir_all(rootfs.join("var/lib/dpkg")).unwrap();
    // distroless's users: the image runs as nonroot.
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
    )
    .unwrap();
}

/// Deletes the files (and links to files) a dpkg file list names.
fn delete_listed(rootfs: &Path, list: &Path) {
    let text = std::fs::read_to_string(list).unwrap();
    for line in text.lines().filter(|l| l.starts_with('/')) {
        let path = rootfs.join(line.trim_start_matches('/'));
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let to_dir = meta.file_type().is_symlink() && path.is_dir();
        if !meta.is_dir() && !to_dir {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

/// `chroot --userspec=<user> ROOTFS <argv>` with exactly `env`.
fn in_image(rootfs: &Path, argv: &[String], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new("chroot");
    cmd.arg(format!("--userspec={USER}"))
        .arg(rootfs)
        .args(argv)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    cmd
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    ))
}

#[test]
fn the_image_runs_its_binary_as_a_non_root_user_with_only_the_production_base() {
    for tool in ["podman", "debootstrap", "chroot", "strip"] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .map_or(true, |s| !s.success())
            && skip(&format!("{tool} is not installed"))
        {
            return;
        }
    }
    if unsafe { libc::geteuid() } != 0 && skip("chroot needs root") {
        return;
    }
    let t0 = Instant::now();
    let base = stand_in_base();
    let t_base = t0.elapsed();

    // The build context of BINARY=prebuilt: the binary, stripped as the dist profile strips it,
    // and what the runtime stage copies from the context.
    let ctx = tempfile::tempdir().unwrap();
    run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(ctx.path().join("orchestrator-provider"))
        .arg(env!("CARGO_BIN_EXE_orchestrator-provider")));
    std::fs::create_dir_all(ctx.path().join("deploy/image")).unwrap();
    std::fs::copy(
        repo().join("deploy/image/config.yaml"),
        ctx.path().join("deploy/image/config.yaml"),
    )
    .unwrap();
    let pid = std::process::id();
    let images = Images(vec![
        format!("localhost/orchestrator-provider-test:{pid}"),
        format!("localhost/orchestrator-provider-test-binary:{pid}"),
    ]);
    let image = &images.0[0];
    let source = "https://example.test/orchestrator-provider";
    let build = |target: Option<&str>, tag: &str| {
        let mut cmd = Command::new("podman");
        cmd.args(["build", "--quiet", "-f"])
            .arg(repo().join("Containerfile"))
            .args(["--build-arg", &format!("RUNTIME_BASE={base}")])
            .args(["--build-arg", "BINARY=prebuilt"])
            .args(["--build-arg", &format!("SOURCE_URL={source}")])
            .args(["-t", tag]);
        if let Some(target) = target {
            cmd.args(["--target", target]);
        }
        run(cmd.arg(ctx.path()));
    };
    // The binary's stage first, under a name of its own, so that removing both names at the end
    // removes every layer this build made (podman 4.3 fails `--layers=false` on an
    // `FROM <stage>`).
    build(Some("prebuilt"), &images.0[1]);
    build(None, image);

    // What the image says about itself.
    let inspect: Value = serde_json::from_str(&run(
        Command::new("podman").args(["image", "inspect", image])
    ))
    .unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["User"], USER, "{config}");
    assert!(config["ExposedPorts"]["7070/tcp"].is_object(), "{config}");
    assert!(
        config["Volumes"]["/var/lib/orchestrator-provider"].is_object(),
        "{config}"
    );
    let labels = &config["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        env!("CARGO_PKG_LICENSE")
    );
    assert_eq!(labels["org.opencontainers.image.source"], source);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list (an exec form): {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let entrypoint = strings(&config["Entrypoint"]);
    let cmd = strings(&config["Cmd"]);
    assert_eq!(entrypoint, ["/usr/local/bin/orchestrator-provider"]);
    let env: Vec<(String, String)> = strings(&config["Env"])
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();

    // Its file system, as the production base would have it.
    let cid = run(Command::new("podman").args(["create", image]))
        .trim()
        .to_owned();
    let rootfs_dir = tempfile::tempdir().unwrap();
    let rootfs = rootfs_dir.path();
    run(Command::new("sh").arg("-c").arg(format!(
        "podman export {cid} | tar -x -C {}",
        rootfs.display()
    )));
    run(Command::new("podman").args(["rm", &cid]));
    prune_to_production(rootfs);
    for gone in [
        "bin/sh",
        "bin/bash",
        "usr/bin/dpkg",
        "usr/bin/apt-get",
        "usr/bin/ls",
    ] {
        assert!(
            std::fs::symlink_metadata(rootfs.join(gone)).is_err(),
            "{gone} is still there"
        );
    }
    {
        use std::os::unix::fs::MetadataExt;
        let state = std::fs::metadata(rootfs.join("var/lib/orchestrator-provider")).unwrap();
        assert_eq!(
            (state.uid(), state.gid()),
            (65532, 65532),
            "the state volume is not the user's"
        );
    }
    let config_file =
        std::fs::read_to_string(rootfs.join("etc/orchestrator-provider/config.yaml")).unwrap();
    assert!(
        config_file.contains("listen: 0.0.0.0:7070"),
        "{config_file}"
    );

    // `IMAGE export`: the bundled examples.
    let argv: Vec<String> = entrypoint
        .iter()
        .cloned()
        .chain(["export".into()])
        .collect();
    let out = run(&mut in_image(rootfs, &argv, &env));
    assert_eq!(out.matches("kind: Template").count(), 5, "{out}");

    // `IMAGE`: serves them. The port is moved off 7070, which something else on this machine may
    // hold; the image's own 0.0.0.0:7070 is checked above.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env_run = env.clone();
    env_run.push((
        "ORCHESTRATOR_PROVIDER__SERVER__LISTEN".into(),
        format!("127.0.0.1:{port}"),
    ));
    let argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut daemon = in_image(rootfs, &argv, &env_run)
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let health = loop {
        if let Some(answer) = http_get(port, "/healthz") {
            break answer;
        }
        if let Some(status) = daemon.try_wait().unwrap() {
            panic!(
                "the daemon exited ({status}): {}",
                std::fs::read_to_string(log.path()).unwrap()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no answer on /healthz after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let ready = loop {
        let answer = http_get(port, "/readyz");
        if answer.as_ref().is_some_and(|(s, _)| *s == 200)
            || started.elapsed() > Duration::from_secs(30)
        {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let status = daemon.wait().unwrap();
    let log_text = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(health.0, 200, "{log_text}");
    assert_eq!(ready.map(|r| r.0), Some(200), "{log_text}");
    assert!(status.success(), "exit {status} on SIGTERM: {log_text}");

    // And the test sees a missing library: without libssl3 the binary cannot start.
    let libssl: Vec<PathBuf> = walkdir::WalkDir::new(rootfs.join("usr/lib"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("libssl.so"))
        .map(|e| e.into_path())
        .collect();
    assert!(!libssl.is_empty(), "no libssl in the stand-in base");
    for lib in libssl {
        std::fs::remove_file(lib).unwrap();
    }
    let argv: Vec<String> = entrypoint
        .iter()
        .cloned()
        .chain(["export".into()])
        .collect();
    let out = in_image(rootfs, &argv, &env).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("libssl.so.3"), "{stderr}");
    eprintln!(
        "image test: {:.1} s (of which the stand-in base {:.1} s)",
        t0.elapsed().as_secs_f64(),
        t_base.as_secs_f64()
    );
}
