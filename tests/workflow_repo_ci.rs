//! `check` in a workflow repository's own CI: files given one by one (what a `pre-commit` hook
//! passes) are read at the repository's root, the hook of `.pre-commit-hooks.yaml` runs exactly
//! as pre-commit calls it (its entry and args, then the staged file names its `files` pattern
//! selects), and the check step of `action.yml` writes GitHub annotations on the files.
//!
//! Not run here: pre-commit's own install of the hook (`cargo install` of this repository) and
//! the action's build and cache steps (GitHub itself): the binary of this test run stands in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A workflow repository: the bundled examples under `workflows/`, a file with a YAML syntax
/// error on line 3, a README and a schema, in a git repository.
fn workflow_repository() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    copy_dir(
        &repo_root().join("fixtures/workflows"),
        &repo.path().join("workflows"),
    );
    std::fs::write(
        repo.path().join("workflows/broken.sw.yaml"),
        "id: broken\nname: Broken\nstates: [{name: s}\n",
    )
    .unwrap();
    std::fs::write(repo.path().join("README.md"), "# workflows\n").unwrap();
    let git = Command::new("git")
        .args(["init", "--quiet"])
        .current_dir(repo.path())
        .status()
        .expect("git");
    assert!(git.success());
    repo
}

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"));
    cmd.env_remove("GITHUB_ACTIONS");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The YAML documents of `export`, by template name.
fn templates(out: &Output) -> Vec<(String, String)> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .split("\n---\n")
        .map(|doc| {
            let name = doc
                .lines()
                .find_map(|l| l.strip_prefix("  name: "))
                .unwrap_or_else(|| panic!("no metadata.name in {doc}"))
                .to_owned();
            (name, doc.trim_start_matches("---\n").to_owned())
        })
        .collect()
}

#[test]
fn files_given_one_by_one_map_as_in_a_read_of_the_whole_repository() {
    let repo = workflow_repository();
    std::fs::remove_file(repo.path().join("workflows/broken.sw.yaml")).unwrap();
    let whole = templates(
        &binary()
            .args(["export", "workflows"])
            .current_dir(repo.path())
            .output()
            .unwrap(),
    );
    // The composed form `$ref`s ../common; the Quarkus layout takes its schema from
    // src/main/resources: both resolve from the repository, not from the file's folder.
    let files = [
        "workflows/onboarding/onboarding.sw.json",
        "workflows/provision-database/src/main/resources/provision-database.sw.yml",
    ];
    let out = binary()
        .arg("check")
        .args(files)
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).ends_with("2 templates, 0 errors, 0 warnings\n"),
        "{}",
        text(&out.stderr)
    );
    let some = templates(
        &binary()
            .arg("export")
            .args(files)
            .current_dir(repo.path())
            .output()
            .unwrap(),
    );
    assert_eq!(some.len(), 2);
    for (name, doc) in &some {
        let same = whole.iter().find(|(n, _)| n == name).map(|(_, d)| d);
        assert_eq!(same, Some(doc), "{name} differs from a read of the folder");
    }
}

/// `.pre-commit-hooks.yaml`, as JSON.
fn hook() -> Value {
    let hooks: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_root().join(".pre-commit-hooks.yaml")).unwrap(),
    )
    .unwrap();
    let hooks = hooks.as_array().expect("a list of hooks");
    assert_eq!(hooks.len(), 1);
    hooks[0].clone()
}

/// The files pre-commit would pass: those its `files` pattern finds (Python's `re.search`,
/// which pre-commit uses) and its `exclude` pattern does not.
fn selected(hook: &Value, candidates: &[&str]) -> Vec<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import re, sys\nfiles, exclude = sys.argv[1], sys.argv[2]\n\
             for f in sys.argv[3:]:\n    \
             if re.search(files, f) and not (exclude and re.search(exclude, f)): print(f)",
        )
        .arg(hook["files"].as_str().unwrap_or(""))
        .arg(hook["exclude"].as_str().unwrap_or(""))
        .args(candidates)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn the_pre_commit_hook_checks_the_staged_workflows_as_pre_commit_calls_it() {
    let hook = hook();
    assert_eq!(
        hook["language"], "rust",
        "pre-commit builds it with cargo install"
    );
    // pre-commit splits `entry` as a shell would, then appends `args` and the file names.
    let mut argv: Vec<String> = hook["entry"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    argv.extend(
        hook["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a.as_str().unwrap().to_owned()),
    );
    // `cargo install` puts the crate's binary on the hook's PATH under its [[bin]] name.
    assert_eq!(argv[0], "orchestrator-provider");
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let repo = workflow_repository();
    let staged = [
        "README.md",
        "workflows/hello-world/hello-world.sw.yaml",
        "workflows/hello-world/schemas/hello-world-input.json",
        "workflows/onboarding/onboarding.sw.json",
        "workflows/broken.sw.yaml",
    ];
    let run = |files: &[String]| {
        Command::new(&argv[0])
            .args(&argv[1..])
            .args(files)
            .env("PATH", &path)
            .env_remove("GITHUB_ACTIONS")
            .current_dir(repo.path())
            .output()
            .unwrap()
    };

    let files = selected(&hook, &staged);
    assert_eq!(
        files,
        [
            "workflows/hello-world/hello-world.sw.yaml",
            "workflows/onboarding/onboarding.sw.json",
            "workflows/broken.sw.yaml"
        ]
    );
    let out = run(&files);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: workflows/broken.sw.yaml:3: invalid YAML"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("2 templates, 1 error, 0 warnings\n"),
        "{stderr}"
    );

    // The commit without the broken file passes.
    let out = run(&files[..2]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The step of `action.yml` named `name`.
fn action_step(name: &str) -> Value {
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in action.yml"))
        .clone()
}

/// Runs the action's check step as GitHub runs a composite `bash` step, with `inputs` in place of
/// the `${{ inputs.* }}` expressions and this test run's binary where the build step puts one.
fn run_check_step(repo: &Path, inputs: &[(&str, &str)]) -> Output {
    let step = action_step("Check the workflows");
    assert_eq!(step["shell"], "bash");
    let runner_temp = tempfile::tempdir().unwrap();
    let bin = runner_temp.path().join("orchestrator-provider/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_orchestrator-provider"),
        bin.join("orchestrator-provider"),
    )
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(step["run"].as_str().unwrap())
        .env("GITHUB_ACTIONS", "true")
        .env("RUNNER_TEMP", runner_temp.path())
        .current_dir(repo);
    for (key, value) in step["env"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        let input = value
            .strip_prefix("${{ inputs.")
            .and_then(|v| v.strip_suffix(" }}"))
            .unwrap_or_else(|| panic!("env {key}: {value}"));
        let given = inputs
            .iter()
            .find(|(k, _)| *k == input)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| default_input(input));
        cmd.env(key, given);
    }
    let out = cmd.output().unwrap();
    drop(runner_temp);
    out
}

fn default_input(name: &str) -> String {
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    action["inputs"][name]["default"]
        .as_str()
        .unwrap_or_else(|| panic!("no input {name}"))
        .to_owned()
}

#[test]
fn the_action_writes_each_diagnostic_as_an_annotation_on_its_file() {
    let repo = workflow_repository();
    // A warning too: a workflow whose schema is missing is published without a form.
    std::fs::write(
        repo.path().join("workflows/formless.sw.yaml"),
        "id: formless\ndataInputSchema: schemas/missing.json\nstates: [{name: s}]\n",
    )
    .unwrap();

    // The default: the whole repository.
    let out = run_check_step(repo.path(), &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 2, "{stdout}");
    assert!(
        annotations[0].starts_with(
            "::error file=workflows/broken.sw.yaml,line=3,title=orchestrator-provider check::invalid YAML"
        ),
        "{stdout}"
    );
    assert!(
        annotations[1].starts_with(
            "::warning file=workflows/formless.sw.yaml,title=orchestrator-provider check::workflow \"formless\": input schema"
        ),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("1 error, 1 warning"),
        "{}",
        text(&out.stderr)
    );

    // Given paths (and a configuration file): only those, and a warning does not fail the job.
    std::fs::write(
        repo.path().join("op.yaml"),
        "templates:\n  owner: group:default/a\n",
    )
    .unwrap();
    let out = run_check_step(
        repo.path(),
        &[
            ("paths", "workflows/hello-world workflows/formless.sw.yaml"),
            ("config", "op.yaml"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("::warning"))
            .count(),
        1
    );
}
