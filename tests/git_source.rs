//! The git source against real git servers on loopback: `git http-backend` behind basic auth
//! (tests/support/git_server.rs) and `git daemon` for shallow fetches, serving repositories
//! the tests commit to with the git CLI.

#[path = "support/git_server.rs"]
mod git_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git_server::{GitDaemon, GitHttp, Mode, SilentListener, WorkRepo, git};
use orchestrator_provider::source::Snapshot;
use orchestrator_provider::source::dir::DirSource;
use orchestrator_provider::source::git::{GitError, GitSettings, GitSource};
use orchestrator_provider::workflow::Severity;

const TOKEN: &str = "tok-3f9a7c1e";

const GREET: &str = "id: greet\nname: Greet\nversion: '1.0'\ndataInputSchema: schemas/greet.json\nstart: s\nstates: [{name: s, type: operation, end: true}]\n";
const GREET_SCHEMA: &str = r##"{"type": "object", "properties": {"who": {"$ref": "../../../shared/defs.json#/definitions/who"}}}"##;
const DEFS: &str = r##"{"definitions": {"who": {"type": "string", "title": "Who"}}}"##;
const DEPLOY: &str = r#"{"id": "deploy", "name": "Deploy", "start": "s", "states": [{"name": "s", "type": "operation", "end": true}]}"#;

struct Fixture {
    tmp: tempfile::TempDir,
    work: WorkRepo,
    http: GitHttp,
}

impl Fixture {
    /// A repository `flows` with two workflows (one with a cross-file schema) on `main`.
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let work = WorkRepo::init(&tmp.path().join("srv/flows"));
        work.write("team-a/greet/greet.sw.yaml", GREET);
        work.write("team-a/greet/schemas/greet.json", GREET_SCHEMA);
        work.write("shared/defs.json", DEFS);
        work.write("team-b/deploy.sw.json", DEPLOY);
        work.write("README.md", "not a workflow\n");
        work.commit("two workflows");
        let http = GitHttp::start(&tmp.path().join("srv"), TOKEN);
        Self { tmp, work, http }
    }

    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    fn settings(&self, reference: &str) -> GitSettings {
        let mut s = GitSettings::new(self.http.url("flows"), reference, self.cache());
        s.auth.token = Some(TOKEN.into());
        s.timeout = Duration::from_secs(10);
        s
    }

    fn source(&self, reference: &str) -> GitSource {
        GitSource::new(self.settings(reference))
    }
}

fn ids(snapshot: &Snapshot) -> Vec<&str> {
    snapshot.workflows.iter().map(|w| w.id.as_str()).collect()
}

fn errors(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn clones_and_reads_workflows_with_their_schemas_and_links() {
    let f = Fixture::new();
    let source = f.source("main");
    let commit = source.fetch().unwrap();
    assert_eq!(commit, f.work.head());
    let snapshot = source.read(&commit).unwrap();
    assert_eq!(ids(&snapshot), ["deploy", "greet"]);
    assert_eq!(snapshot.diagnostics, []);
    let greet = &snapshot.workflows[1];
    assert_eq!(greet.origin.path, "team-a/greet/greet.sw.yaml");
    // The $ref to ../../shared/defs.json resolved inside the same commit.
    let schema = greet.input_schema.as_ref().unwrap();
    assert_eq!(schema["properties"]["who"]["title"], "Who");
    // An unknown forge gets the repository URL only, and every workflow its commit.
    let links = greet.origin.links.as_ref().unwrap();
    assert_eq!(
        links.source_location,
        format!("url:{}", f.http.url("flows"))
    );
    assert_eq!(links.commit.as_deref(), Some(commit.as_str()));
    assert_eq!((&links.view_url, &links.edit_url), (&None, &None));
    assert!(snapshot.workflows.iter().all(|w| w.origin.links.is_some()));
    assert!(source.files_read() >= 4, "{}", source.files_read());
}

#[test]
fn a_new_commit_is_fetched_and_read() {
    let f = Fixture::new();
    let source = f.source("main");
    let first = source.fetch().unwrap();
    source.read(&first).unwrap();
    f.work.write(
        "team-b/deploy.sw.json",
        DEPLOY.replace("\"Deploy\"", "\"Deploy it\""),
    );
    f.work.write(
        "team-b/new.sw.yaml",
        GREET
            .replace("id: greet", "id: new")
            .replace("dataInputSchema: schemas/greet.json\n", ""),
    );
    let second = f.work.commit("change deploy, add new");
    assert_eq!(source.fetch().unwrap(), second);
    let before = source.files_read();
    let snapshot = source.read(&second).unwrap();
    assert_eq!(ids(&snapshot), ["deploy", "greet", "new"]);
    assert_eq!(snapshot.workflows[0].name.as_deref(), Some("Deploy it"));
    // Only the two changed workflow files and greet's two schema files were loaded; greet's
    // own file was parsed at the first read and its blob did not change.
    assert_eq!(source.files_read() - before, 4);
    // source-commit: the last commit that changed the workflow's file. The changed and the new
    // workflow are at the new commit; greet did not change, so it keeps the first one
    // (labelling it with the head would update every template on every push).
    let commit_of = |id: &str| {
        let w = snapshot.workflows.iter().find(|w| w.id == id).unwrap();
        w.origin.links.as_ref().unwrap().commit.clone().unwrap()
    };
    assert_eq!(commit_of("deploy"), second);
    assert_eq!(commit_of("new"), second);
    assert_eq!(commit_of("greet"), first);
    // The same from scratch (a restart, an export): the labels come from the history.
    let mut settings = f.settings("main");
    settings.cache_dir = f.tmp.path().join("another-cache");
    let fresh = GitSource::new(settings);
    let again = fresh.read(&fresh.fetch().unwrap()).unwrap();
    let labels = |s: &Snapshot| -> Vec<Option<String>> {
        s.workflows
            .iter()
            .map(|w| w.origin.links.as_ref().unwrap().commit.clone())
            .collect()
    };
    assert_eq!(labels(&again), labels(&snapshot));
    // A commit that touches nothing a workflow reads changes no label.
    f.work.write("README.md", "still not a workflow, edited\n");
    let third = f.work.commit("docs");
    let after_docs = source.read(&source.fetch().unwrap()).unwrap();
    assert_eq!(source.fetch().unwrap(), third);
    assert_eq!(labels(&after_docs), labels(&snapshot));
}

#[test]
fn an_unmoved_reference_downloads_nothing_and_reads_are_deterministic() {
    let f = Fixture::new();
    let source = f.source("main");
    let commit = source.fetch().unwrap();
    let first = source.read(&commit).unwrap();
    let (uploads, read) = (f.http.uploads(), source.files_read());
    for _ in 0..3 {
        assert_eq!(source.fetch().unwrap(), commit);
    }
    assert_eq!(
        f.http.uploads(),
        uploads,
        "an idle fetch downloaded: {:?}",
        f.http.log()
    );
    assert_eq!(source.files_read(), read);
    // A second read of the same commit gives the same snapshot.
    assert_eq!(source.read(&commit).unwrap(), first);
    // A new source over the same cache folder starts from what is there.
    let again = f.source("main");
    assert_eq!(again.fetch().unwrap(), commit);
    assert_eq!(f.http.uploads(), uploads);
}

#[test]
fn a_tag_is_followed_not_the_branch() {
    let f = Fixture::new();
    let tagged = f.work.head();
    f.work.git(&["tag", "-a", "v1", "-m", "release 1"]);
    f.work
        .write("team-b/deploy.sw.json", DEPLOY.replace("Deploy", "Later"));
    f.work.commit("after the tag");
    let source = f.source("v1");
    let commit = source.fetch().unwrap();
    assert_eq!(commit, tagged);
    let snapshot = source.read(&commit).unwrap();
    assert_eq!(snapshot.workflows[0].name.as_deref(), Some("Deploy"));
    // refs/tags/v1 works as well.
    assert_eq!(f.source("refs/tags/v1").fetch().unwrap(), tagged);
}

#[test]
fn a_commit_pin_is_fetched_once_then_needs_no_server() {
    let mut f = Fixture::new();
    let pinned = f.work.head();
    f.work
        .write("team-b/deploy.sw.json", DEPLOY.replace("Deploy", "Later"));
    f.work.commit("after the pin");
    let source = f.source(&pinned);
    assert_eq!(source.fetch().unwrap(), pinned);
    f.http.stop();
    assert_eq!(source.fetch().unwrap(), pinned);
    let snapshot = source.read(&pinned).unwrap();
    assert_eq!(snapshot.workflows[0].name.as_deref(), Some("Deploy"));
    // A commit no branch contains is not found.
    let mut g = Fixture::new();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let err = g.source(missing).fetch().unwrap_err();
    assert_eq!(err.kind(), "ref_not_found", "{err}");
    g.http.stop();
}

#[test]
fn paths_limit_what_is_read_and_a_missing_path_is_reported() {
    let f = Fixture::new();
    let mut settings = f.settings("main");
    settings.paths = vec!["team-a/".into(), "nope".into()];
    let source = GitSource::new(settings);
    let commit = source.fetch().unwrap();
    let snapshot = source.read(&commit).unwrap();
    assert_eq!(ids(&snapshot), ["greet"]);
    // Paths stay relative to the repository root, and schemas outside `paths` still resolve.
    assert_eq!(
        snapshot.workflows[0].origin.path,
        "team-a/greet/greet.sw.yaml"
    );
    assert!(snapshot.workflows[0].input_schema.is_some());
    let errors = errors(&snapshot);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("nope") && errors[0].contains("check `paths`"),
        "{errors:?}"
    );
}

#[test]
fn a_force_push_becomes_the_new_state() {
    let f = Fixture::new();
    let base = f.work.head();
    f.work
        .write("team-b/deploy.sw.json", DEPLOY.replace("Deploy", "Doomed"));
    f.work.commit("to be rewritten");
    let source = f.source("main");
    source.fetch().unwrap();
    f.work.git(&["reset", "-q", "--hard", &base]);
    f.work.write(
        "team-b/deploy.sw.json",
        DEPLOY.replace("Deploy", "Rewritten"),
    );
    let rewritten = f.work.commit("rewritten history");
    assert_eq!(source.fetch().unwrap(), rewritten);
    let snapshot = source.read(&rewritten).unwrap();
    assert_eq!(snapshot.workflows[0].name.as_deref(), Some("Rewritten"));
}

#[test]
fn a_deleted_branch_is_ref_not_found_not_a_stale_state() {
    let f = Fixture::new();
    f.work.git(&["branch", "feature"]);
    let source = f.source("feature");
    source.fetch().unwrap();
    f.work.git(&["branch", "-D", "feature"]);
    let err = source.fetch().unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err:?}");
    assert_eq!(err.kind(), "ref_not_found");
    let shown = err.to_string();
    assert!(
        shown.contains("feature") && shown.contains("main"),
        "{shown}"
    );
    // And it stays so: the cache's copy of the branch was dropped.
    assert_eq!(source.fetch().unwrap_err().kind(), "ref_not_found");
}

#[test]
fn a_wrong_or_missing_token_is_an_authentication_error() {
    let f = Fixture::new();
    let mut settings = f.settings("main");
    settings.auth.token = Some("wrong-token-value".into());
    let err = GitSource::new(settings).fetch().unwrap_err();
    assert_eq!(err.kind(), "auth", "{err}");
    assert!(!err.to_string().contains("wrong-token-value"), "{err}");
    let mut settings = f.settings("main");
    settings.auth.token = None;
    let err = GitSource::new(settings).fetch().unwrap_err();
    assert_eq!(err.kind(), "auth", "{err}");
    assert!(err.to_string().contains("none are configured"), "{err}");
    // The GitLab convention for the user name is accepted as well.
    let mut settings = f.settings("main");
    settings.auth.username = Some("oauth2".into());
    GitSource::new(settings).fetch().unwrap();
}

/// Upper bound of the tests below: they pin that a fetch ends (an error, not a hang), not how
/// fast; a loaded machine may take far longer than the 1 s timeout plus its 0.5 s watchdog.
const ENDS_WITHIN: Duration = Duration::from_secs(10);

#[test]
fn a_server_that_is_down_is_unreachable() {
    let mut f = Fixture::new();
    f.http.stop();
    let started = Instant::now();
    let err = f.source("main").fetch().unwrap_err();
    let took = started.elapsed();
    println!("refused connection -> error after {took:?}");
    assert_eq!(err.kind(), "unreachable", "{err}");
    assert!(err.to_string().contains(&f.http.url("flows")), "{err}");
    assert!(took < ENDS_WITHIN, "{took:?}");
}

/// Not before the configured `timeout`; the upper bound only says that it ends.
#[test]
fn a_server_that_hangs_times_out_after_the_configured_timeout() {
    let f = Fixture::new();
    f.http.set_mode(Mode::Hang);
    let mut settings = f.settings("main");
    settings.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = GitSource::new(settings).fetch().unwrap_err();
    let took = started.elapsed();
    println!("hanging server, timeout 1 s -> error after {took:?}");
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < ENDS_WITHIN,
        "{took:?}"
    );
}

#[test]
fn a_silent_git_port_times_out() {
    let silent = SilentListener::start();
    let cache = tempfile::tempdir().unwrap();
    let mut settings = GitSettings::new(
        format!("git://127.0.0.1:{}/flows", silent.port()),
        "main",
        cache.path(),
    );
    settings.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = GitSource::new(settings).fetch().unwrap_err();
    let took = started.elapsed();
    println!("silent git port, timeout 1 s -> error after {took:?}");
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(took < ENDS_WITHIN, "{took:?}");
}

#[test]
fn a_damaged_or_foreign_cache_folder_is_cloned_again() {
    let f = Fixture::new();
    let source = f.source("main");
    let head = f.work.head();
    let dir = source.cache_path().to_owned();

    // Garbage.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("junk"), "not a repository").unwrap();
    assert_eq!(source.fetch().unwrap(), head);
    assert_eq!(ids(&source.read(&head).unwrap()), ["deploy", "greet"]);

    // Objects deleted behind our back (refs still point at them).
    for sub in ["objects/pack", "objects"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_file() || (name.len() == 2 && sub == "objects") {
                let _ = std::fs::remove_file(entry.path());
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let again = f.source("main");
    assert_eq!(again.fetch().unwrap(), head);
    assert_eq!(ids(&again.read(&head).unwrap()), ["deploy", "greet"]);

    // A working repository of another URL in its place.
    std::fs::remove_dir_all(&dir).unwrap();
    let foreign = WorkRepo::init(&dir);
    foreign.write("x.sw.yaml", "id: x\nstates: [{name: s}]\n");
    foreign.commit("foreign");
    assert_eq!(source.fetch().unwrap(), head);
    assert_eq!(ids(&source.read(&head).unwrap()), ["deploy", "greet"]);

    // A bare clone of another repository.
    std::fs::remove_dir_all(&dir).unwrap();
    git(
        f.tmp.path(),
        &["init", "-q", "--bare", dir.to_str().unwrap()],
    );
    git(
        &dir,
        &["remote", "add", "origin", "https://example.com/other.git"],
    );
    assert_eq!(source.fetch().unwrap(), head);

    // A file where the folder should be.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "a file").unwrap();
    assert_eq!(source.fetch().unwrap(), head);
}

#[test]
fn symlinks_are_never_followed_and_the_rest_is_read() {
    let f = Fixture::new();
    let secret_dir = f.tmp.path().join("outside");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(
        secret_dir.join("secret.sw.yaml"),
        "id: secret\nstates: [{name: s}]\n",
    )
    .unwrap();
    f.work.symlink(
        secret_dir.join("secret.sw.yaml").to_str().unwrap(),
        "team-b/escape.sw.yaml",
    );
    f.work
        .symlink("../team-b/deploy.sw.json", "team-c/inside.sw.json");
    f.work.write(
        "team-c/linked-schema.sw.yaml",
        "id: linked\ndataInputSchema: schema.json\nstates: [{name: s}]\n",
    );
    f.work.symlink(
        secret_dir.join("s.json").to_str().unwrap(),
        "team-c/schema.json",
    );
    let commit = f.work.commit("symlinks");
    let source = f.source("main");
    assert_eq!(source.fetch().unwrap(), commit);
    let snapshot = source.read(&commit).unwrap();
    assert_eq!(ids(&snapshot), ["deploy", "greet", "linked"]);
    let shown: Vec<String> = snapshot.diagnostics.iter().map(|d| d.to_string()).collect();
    for file in ["team-b/escape.sw.yaml", "team-c/inside.sw.json"] {
        assert!(
            shown
                .iter()
                .any(|d| d.contains(file) && d.contains("symlink, not followed")),
            "{file}: {shown:?}"
        );
    }
    // The schema behind a symlink is a warning; the workflow is published without a form.
    assert!(
        shown
            .iter()
            .any(|d| d.starts_with("warning: team-c/linked-schema.sw.yaml")
                && d.contains("symlink, not followed")),
        "{shown:?}"
    );
    assert!(snapshot.workflows[2].input_schema.is_none());
}

#[test]
fn oversized_files_are_refused_before_they_are_loaded() {
    let f = Fixture::new();
    f.work.write(
        "team-b/big.sw.yaml",
        format!("id: big\nstates: [{{name: s}}]\n#{}\n", "x".repeat(4096)),
    );
    let commit = f.work.commit("big");
    let mut settings = f.settings("main");
    settings.limits.max_file_bytes = 2048;
    let source = GitSource::new(settings);
    source.fetch().unwrap();
    let snapshot = source.read(&commit).unwrap();
    assert_eq!(ids(&snapshot), ["deploy", "greet"]);
    let errors = errors(&snapshot);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("team-b/big.sw.yaml") && e.contains("limit")),
        "{errors:?}"
    );
}

#[test]
fn credentials_never_show_in_errors_names_links_or_the_cache() {
    let f = Fixture::new();
    // The token in the URL's userinfo works as the credential...
    let with_userinfo = f
        .http
        .url("flows")
        .replace("http://", &format!("http://x-access-token:{TOKEN}@"));
    let mut settings = GitSettings::new(&with_userinfo, "main", f.cache());
    settings.timeout = Duration::from_secs(10);
    let source = GitSource::new(settings.clone());
    let commit = source.fetch().unwrap();
    let snapshot = source.read(&commit).unwrap();
    let mut shown = vec![
        source.name(),
        source.url_redacted(),
        format!("{source:?}"),
        format!("{settings:?}"),
    ];
    for w in &snapshot.workflows {
        shown.push(format!("{:?}", w.origin.links));
    }
    // ...and a wrong one in the userinfo or in auth fails without showing either.
    let bad_url = f
        .http
        .url("flows")
        .replace("http://", "http://u:bad-url-secret@");
    let mut bad = GitSettings::new(&bad_url, "main", f.cache());
    bad.auth.token = Some("bad-auth-secret".into());
    let err = GitSource::new(bad.clone()).fetch().unwrap_err();
    assert_eq!(err.kind(), "auth");
    shown.extend([err.to_string(), format!("{err:?}"), format!("{bad:?}")]);
    let config = std::fs::read_to_string(source.cache_path().join("config")).unwrap();
    shown.push(config);
    for s in &shown {
        for secret in [TOKEN, "bad-url-secret", "bad-auth-secret"] {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
    }
    assert_eq!(source.name(), format!("{}@main", f.http.url("flows")));
}

#[test]
fn a_shallow_fetch_over_git_daemon_follows_the_branch() {
    let f = Fixture::new();
    for i in 0..3 {
        f.work.write(
            "team-b/deploy.sw.json",
            DEPLOY.replace("Deploy", &format!("Deploy {i}")),
        );
        f.work.commit(&format!("history {i}"));
    }
    let daemon = GitDaemon::start(&f.tmp.path().join("srv"));
    let mut settings = GitSettings::new(daemon.url("flows"), "main", f.cache());
    settings.depth = Some(1);
    settings.timeout = Duration::from_secs(10);
    let source = GitSource::new(settings);
    let commit = source.fetch().unwrap();
    assert_eq!(commit, f.work.head());
    let shallow = source.cache_path().join("shallow");
    assert!(
        shallow.exists(),
        "no shallow file: the fetch was not shallow"
    );
    let count = git(source.cache_path(), &["rev-list", "--count", &commit]);
    assert_eq!(count, "1");
    assert_eq!(
        source.read(&commit).unwrap().workflows[0].name.as_deref(),
        Some("Deploy 2")
    );
    // Later commits arrive shallow too.
    f.work.write(
        "team-b/deploy.sw.json",
        DEPLOY.replace("Deploy", "Deploy 3"),
    );
    let next = f.work.commit("history 3");
    assert_eq!(source.fetch().unwrap(), next);
    assert_eq!(
        source.read(&next).unwrap().workflows[0].name.as_deref(),
        Some("Deploy 3")
    );
}

#[test]
fn git_and_a_folder_give_identical_workflows_for_identical_files() {
    let f = Fixture::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows");
    copy_dir(&fixtures, &f.work.dir.join("examples"));
    let commit = f.work.commit("the bundled examples");
    let mut settings = f.settings("main");
    settings.paths = vec!["examples".into()];
    let source = GitSource::new(settings);
    source.fetch().unwrap();
    let from_git = source.read(&commit).unwrap();
    let from_dir = DirSource::new(f.work.dir.join("examples")).read().unwrap();
    assert!(!from_dir.workflows.is_empty());
    assert_eq!(from_git.workflows.len(), from_dir.workflows.len());
    for (g, d) in from_git.workflows.iter().zip(&from_dir.workflows) {
        let mut g = g.clone();
        assert_eq!(g.origin.path, format!("examples/{}", d.origin.path));
        g.origin.path = d.origin.path.clone();
        g.origin.links = None;
        assert_eq!(&g, d);
    }
    let strip =
        |s: &Snapshot| -> Vec<String> { s.diagnostics.iter().map(|d| d.message.clone()).collect() };
    assert_eq!(strip(&from_git), strip(&from_dir));
}

#[test]
fn a_repository_exported_a_batch_at_a_time_gives_what_mapping_all_at_once_gives() {
    let f = Fixture::new();
    // A schema that does not resolve: its warning names the file in the repository.
    f.work.write(
        "team-c/broken.sw.yaml",
        "id: broken\ndataInputSchema: nowhere.json\nstart: s\nstates: [{name: s, type: operation, end: true}]\n",
    );
    f.work.commit("a broken schema");
    let token = f.tmp.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let file = f.tmp.path().join("config.yaml");
    std::fs::write(
        &file,
        format!(
            "stateDir: {}\nsources:\n  - type: git\n    url: {}\n    timeout: 10s\n    auth: {{tokenFile: {}}}\n",
            f.tmp.path().join("state").display(),
            f.http.url("flows"),
            token.display()
        ),
    )
    .unwrap();
    let config = orchestrator_provider::config::Layers::new()
        .file(&file)
        .unwrap()
        .build()
        .unwrap();
    let all = orchestrator_provider::pipeline::run(&config);
    let mut templates = Vec::new();
    let report = orchestrator_provider::pipeline::oneshot::OneShot::read(&config)
        .run(|batch| {
            templates.extend(batch.templates);
            Ok::<_, ()>(())
        })
        .unwrap();
    let yaml = orchestrator_provider::entity::to_yaml(&templates);
    assert_eq!(yaml, orchestrator_provider::entity::to_yaml(&all.templates));
    assert_eq!(report.diagnostics, all.diagnostics);
    // The `$ref` into shared/ resolved from the commit after the read.
    assert!(yaml.contains("title: Who"), "{yaml}");
    assert!(
        report.diagnostics.iter().any(
            |d| d.file.ends_with("team-c/broken.sw.yaml") && d.message.contains("nowhere.json")
        ),
        "{:?}",
        report.diagnostics
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn sources_sharing_a_cache_folder_fetch_one_at_a_time() {
    let f = Fixture::new();
    f.work.git(&["branch", "dev"]);
    f.work.git(&["tag", "v2"]);
    let head = f.work.head();
    let threads: Vec<_> = ["main", "dev", "v2", "HEAD", "refs/heads/dev"]
        .into_iter()
        .map(|r| {
            let source = f.source(r);
            std::thread::spawn(move || source.fetch())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), head);
    }
}

/// A daemon in this process, without a catalog, from `config` (YAML): cycles run on its own
/// runtime, what it serves and its `/status` are read from its shared state.
struct InProcess {
    rt: tokio::runtime::Runtime,
    shared: std::sync::Arc<orchestrator_provider::sink::serve::Shared>,
    daemon: orchestrator_provider::sync::Daemon,
}

impl InProcess {
    fn new(dir: &Path, config: &str) -> Self {
        let file = dir.join("config.yaml");
        std::fs::write(&file, config).unwrap();
        let config = orchestrator_provider::config::Layers::new()
            .file(&file)
            .unwrap()
            .build()
            .unwrap();
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let shared = std::sync::Arc::new(orchestrator_provider::sink::serve::Shared::new(
            "http://127.0.0.1:1".into(),
            4,
            tx,
            None,
            None,
        ));
        let daemon =
            orchestrator_provider::sync::Daemon::new(config, shared.clone(), None).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        Self { rt, shared, daemon }
    }

    fn cycle(&mut self) {
        self.rt.block_on(self.daemon.cycle("schedule", false));
    }

    /// Every shard document, concatenated.
    fn served(&self) -> String {
        let shards = self.rt.block_on(self.shared.shards.read()).clone();
        shards.iter().map(|s| s.text()).collect()
    }

    fn status(&self) -> serde_json::Value {
        self.rt.block_on(self.shared.status.read()).clone()
    }
}

/// The git source inside the daemon (in this process, without a catalog): what it serves, what
/// `/status` says, and the last good templates kept while the server is down.
#[test]
fn the_daemon_keeps_the_last_good_templates_while_the_server_is_down() {
    let mut f = Fixture::new();
    std::fs::write(f.tmp.path().join("token"), TOKEN).unwrap();
    let mut d = InProcess::new(
        f.tmp.path(),
        &format!(
            "stateDir: {}\nsources:\n  - type: git\n    url: {}\n    interval: 1ms\n    timeout: 10s\n    auth: {{tokenFile: {}}}\nsync:\n  interval: 1h\n",
            f.tmp.path().join("state").display(),
            f.http.url("flows"),
            f.tmp.path().join("token").display()
        ),
    );

    d.cycle();
    let good = d.served();
    assert!(
        good.contains("name: greet") && good.contains("name: deploy"),
        "{good}"
    );
    assert!(good.contains(&format!("orchestrator.io/source-commit: {}", f.work.head())));
    let s = d.status();
    assert_eq!(s["sources"][0]["type"], "git");
    assert_eq!(s["sources"][0]["commit"], f.work.head());
    assert_eq!(s["sources"][0]["workflows"], 2);

    f.http.stop();
    d.cycle();
    assert_eq!(d.served(), good, "the last good templates are kept");
    let s = d.status();
    let error = s["sources"][0]["lastError"].as_str().unwrap();
    assert!(error.contains("cannot be reached"), "{error}");
    let text = s.to_string() + &good;
    assert!(!text.contains(TOKEN), "the token never shows");
}

/// A repository whose server hangs costs one cycle its timeout, then waits for its interval:
/// the folder beside it keeps syncing at once.
#[test]
fn a_hanging_repository_does_not_stall_every_cycle() {
    let silent = SilentListener::start();
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("deploy.sw.json"), DEPLOY).unwrap();
    let mut d = InProcess::new(
        tmp.path(),
        &format!(
            "stateDir: {}\nsources:\n  - type: dir\n    path: {}\n    watch: false\n  - type: git\n    url: git://127.0.0.1:{}/flows\n    interval: 1h\n    timeout: 2s\nsync:\n  interval: 1h\n",
            tmp.path().join("state").display(),
            flows.display(),
            silent.port()
        ),
    );

    let t = Instant::now();
    d.cycle();
    assert!(
        t.elapsed() >= Duration::from_secs(2) && silent.connections() > 0,
        "the first cycle tries the repository ({} connections)",
        silent.connections()
    );
    let tried = silent.connections();
    assert!(
        d.served().contains("name: deploy"),
        "the folder is published meanwhile"
    );

    // A new workflow in the folder. (Updates and removals wait while the repository has
    // never been read: it may define the same ids. Additions go on.)
    std::fs::write(
        flows.join("release.sw.json"),
        DEPLOY.replace("\"deploy\"", "\"release\""),
    )
    .unwrap();
    let t = Instant::now();
    d.cycle();
    println!("second cycle: {:?}", t.elapsed());
    assert_eq!(
        silent.connections(),
        tried,
        "the second cycle tried the repository again before its interval"
    );
    assert!(d.served().contains("name: release"), "{}", d.served());
}
