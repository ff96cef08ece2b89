//! The `export` and `check` commands as a user runs them: exit codes, the stdout/stderr split,
//! the YAML produced for the bundled examples and for the hard cases, and folder exports.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("orchestrator-provider").unwrap();
    // The environment must not leak configuration into the tests.
    for (key, _) in std::env::vars() {
        if key.starts_with("ORCHESTRATOR_PROVIDER__") {
            cmd.env_remove(key);
        }
    }
    cmd
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

/// The committed hard cases, plus what cannot be committed: an oversized file and a symlink
/// that points out of the source root.
fn hard_cases() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hard");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hard"),
        &root,
    );
    let mut big = String::from("id: oversized\nstates: [{name: s}]\ndescription: |\n");
    while big.len() <= 1024 * 1024 {
        big.push_str("  padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(root.join("oversized.sw.yaml"), big).unwrap();
    let outside = tmp.path().join("outside.json");
    std::fs::write(&outside, r#"{"type": "object", "title": "secret"}"#).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("schemas/outside.json")).unwrap();
    std::fs::write(
        root.join("symlink-escape.sw.yaml"),
        "id: symlink-escape\nname: Schema is a symlink out of the root\ndataInputSchema: schemas/outside.json\nstates: [{name: s}]\n",
    )
    .unwrap();
    (tmp, root)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn export_without_arguments_prints_the_bundled_examples() {
    let out = bin().arg("export").assert().success().get_output().clone();
    let stdout = text(&out.stdout);
    insta::assert_snapshot!("bundled_examples", stdout);
    assert_eq!(text(&out.stderr), "5 templates, 0 errors, 0 warnings\n");
}

#[test]
fn export_of_hard_cases_prints_what_it_can_and_exits_1() {
    let (_tmp, root) = hard_cases();
    let out = bin()
        .arg("export")
        .arg(&root)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = text(&out.stderr).replace(&root.display().to_string(), "<root>");
    insta::assert_snapshot!("hard_cases_stderr", stderr);
    insta::assert_snapshot!("hard_cases_stdout", text(&out.stdout));
}

#[test]
fn export_is_byte_identical_across_runs() {
    let (_tmp, root) = hard_cases();
    let first = bin().arg("export").arg(&root).output().unwrap();
    let second = bin().arg("export").arg(&root).output().unwrap();
    assert_eq!(first.stdout, second.stdout);
    assert!(!first.stdout.is_empty());
}

#[test]
fn check_prints_diagnostics_only() {
    let (_tmp, root) = hard_cases();
    let out = bin()
        .arg("check")
        .arg(&root)
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no-id.sw.yaml: has no `id`"), "{stderr}");
    let summary = stderr.lines().last().unwrap();
    assert!(
        summary.contains(" templates, ") && summary.contains(" errors, "),
        "{summary}"
    );
    bin().arg("check").assert().success().stdout("");
}

#[test]
fn json_format_is_a_json_array_of_the_same_entities() {
    let yaml = bin().arg("export").output().unwrap();
    let json = bin().args(["export", "--format", "json"]).output().unwrap();
    let from_json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let from_yaml: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(std::str::from_utf8(&yaml.stdout).unwrap()).unwrap();
    assert_eq!(from_json, serde_json::Value::Array(from_yaml));
}

#[test]
fn configuration_errors_exit_2_and_name_the_key_and_its_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yaml");
    std::fs::write(&config, "templates:\n  onwer: group:default/x\n").unwrap();
    let out = bin()
        .args(["export", "--config"])
        .arg(&config)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("`templates.onwer`"), "{stderr}");
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = bin()
        .arg("export")
        .env("ORCHESTRATOR_PROVIDER__PARSING__MAX_FILE_BYTES", "huge")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("parsing.maxFileBytes"), "{stderr}");
    assert!(
        stderr.contains("ORCHESTRATOR_PROVIDER__PARSING__MAX_FILE_BYTES"),
        "{stderr}"
    );

    bin().args(["export", "--format", "xml"]).assert().code(2);
}

#[test]
fn config_file_sets_owner_rules_and_environment_overrides_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        "templates:\n  owner: group:default/platform\n  ownerRules:\n    - id: hello-*\n      owner: group:default/greeters\n",
    )
    .unwrap();
    let out = bin()
        .args(["export", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text(&out.stdout)).unwrap();
    let owner = |name: &str| {
        docs.iter()
            .find(|d| d["metadata"]["name"] == name)
            .map(|d| d["spec"]["owner"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(owner("hello-world"), "group:default/greeters");
    assert_eq!(owner("onboarding"), "group:default/platform");

    let out = bin()
        .args(["export", "--config"])
        .arg(&config)
        .env("ORCHESTRATOR_PROVIDER__TEMPLATES__NAMESPACE", "workflows")
        .output()
        .unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text(&out.stdout)).unwrap();
    assert!(
        docs.iter()
            .all(|d| d["metadata"]["namespace"] == "workflows")
    );
}

#[test]
fn out_dir_writes_one_file_per_template_and_removes_only_its_own_stale_files() {
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows"),
        &flows,
    );
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("README.md"), "not ours").unwrap();

    bin()
        .arg("export")
        .arg(&flows)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ".orchestrator-provider-export",
            "README.md",
            "catalog-info.yaml",
            "deploy-app.svg",
            "deploy-app.yaml",
            "hello-world.svg",
            "hello-world.yaml",
            "notify-manager.svg",
            "notify-manager.yaml",
            "onboarding.svg",
            "onboarding.yaml",
            "provision-database.svg",
            "provision-database.yaml",
        ]
    );
    let location: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(out.join("catalog-info.yaml")).unwrap())
            .unwrap();
    assert_eq!(location["kind"], "Location");
    assert_eq!(location["spec"]["targets"].as_array().unwrap().len(), 5);
    assert!(
        location["spec"]["targets"]
            .as_array()
            .unwrap()
            .contains(&"./hello-world.yaml".into())
    );

    // A workflow disappears: its file goes, the user's file stays, unchanged files are not rewritten.
    std::fs::remove_dir_all(flows.join("hello-world")).unwrap();
    let before = std::fs::metadata(out.join("onboarding.yaml"))
        .unwrap()
        .modified()
        .unwrap();
    let run = bin()
        .arg("export")
        .arg(&flows)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        text(&run.stderr).contains("1 written, 8 unchanged, 2 removed"),
        "{}",
        text(&run.stderr)
    );
    assert!(!out.join("hello-world.yaml").exists());
    assert!(!out.join("hello-world.svg").exists());
    assert!(out.join("README.md").exists());
    assert_eq!(
        std::fs::metadata(out.join("onboarding.yaml"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    let location = std::fs::read_to_string(out.join("catalog-info.yaml")).unwrap();
    assert!(!location.contains("hello-world"));
}

#[test]
fn out_dir_diagrams_are_linked_with_a_base_url_and_change_only_with_their_workflow() {
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows"),
        &flows,
    );
    let out = tmp.path().join("out");
    let export = || {
        bin()
            .arg("export")
            .arg(&flows)
            .arg("--out")
            .arg(&out)
            .env(
                "ORCHESTRATOR_PROVIDER__DIAGRAMS__BASE_URL",
                "https://static.example.com/workflows",
            )
            .assert()
            .success()
    };
    export();
    let template: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(out.join("onboarding.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        template["metadata"]["links"],
        serde_json::json!([{
            "url": "https://static.example.com/workflows/diagrams/onboarding.svg",
            "title": "Workflow diagram",
            "icon": "dashboard",
        }])
    );
    let svg = std::fs::read_to_string(out.join("onboarding.svg")).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains("<title>CreateAccount</title>"), "{svg}");
    let mtime = |f: &str| std::fs::metadata(out.join(f)).unwrap().modified().unwrap();
    let before = (mtime("onboarding.svg"), mtime("hello-world.svg"));

    // Only the edited workflow's diagram is written again.
    let file = flows.join("onboarding/onboarding.sw.json");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"Notify\"", "\"Tell the manager\"");
    std::fs::write(&file, edited).unwrap();
    export();
    let svg = std::fs::read_to_string(out.join("onboarding.svg")).unwrap();
    assert!(svg.contains("<title>Tell the manager</title>"), "{svg}");
    assert_ne!(mtime("onboarding.svg"), before.0);
    assert_eq!(mtime("hello-world.svg"), before.1);
}

#[test]
fn a_missing_source_folder_is_an_error_naming_it() {
    let out = bin()
        .args(["export", "/nonexistent/flows"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: /nonexistent/flows: source folder /nonexistent/flows"),
        "{stderr}"
    );
}

#[test]
fn out_dir_is_left_alone_when_a_source_cannot_be_read() {
    // Writing would remove the files of what the unreadable source defines.
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows"),
        &flows,
    );
    let out = tmp.path().join("out");
    bin()
        .arg("export")
        .arg(&flows)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    std::fs::rename(&flows, tmp.path().join("moved")).unwrap();
    let run = bin()
        .arg("export")
        .arg(&flows)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(
        text(&run.stderr).contains("error: not writing"),
        "{}",
        text(&run.stderr)
    );
    assert!(out.join("hello-world.yaml").exists());
}
