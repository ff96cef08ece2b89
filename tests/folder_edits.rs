//! Edits in a watched folder, through the real watcher and the daemon's loop: the first change
//! starts a cycle at once, and a file caught half-written by that cycle never costs a template
//! (nor its form); the cycle after the folder has been quiet for `sync.debounce` decides.
//!
//! `sync.debounce` is 10 s here: the leading cycle must start before it ends for its read to
//! count as taken mid-save, and a loaded machine must never make that false.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use orchestrator_provider::config::Layers;
use orchestrator_provider::sink::serve::Shared;
use orchestrator_provider::sync::Daemon;
use serde_json::Value;

const SCHEMA: &str = r#"{"type": "object", "properties": {"who": {"type": "string"}}}"#;

fn workflow(id: &str, title: &str) -> String {
    format!(
        "id: {id}\nname: {title}\nversion: '1.0'\ndataInputSchema: schemas/{id}.json\nstart: s\nstates:\n  - name: s\n    type: operation\n    end: true\n"
    )
}

/// What is served, by template name.
async fn served(shared: &Shared) -> BTreeMap<String, Value> {
    let shards = shared.shards.read().await.clone();
    let mut out = BTreeMap::new();
    for shard in shards.iter().filter(|s| !s.is_empty()) {
        for t in serde_saphyr::from_multiple::<Value>(&shard.text()).unwrap() {
            out.insert(t["metadata"]["name"].as_str().unwrap().to_owned(), t);
        }
    }
    out
}

fn title(t: &Value) -> &str {
    t["metadata"]["title"].as_str().unwrap()
}

fn has_form(t: &Value) -> bool {
    t["spec"]["parameters"]
        .as_array()
        .is_some_and(|p| !p.is_empty())
}

/// `(at, reason)` of the last cycle `/status` reports.
async fn last_sync(shared: &Shared) -> (String, String) {
    let status = shared.status.read().await.clone();
    let s = |k: &str| {
        status["lastSync"][k]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    (s("at"), s("reason"))
}

/// Polls `f` every 20 ms until it holds; panics after `bound`.
async fn until<F: AsyncFnMut() -> bool>(what: &str, bound: Duration, mut f: F) {
    let started = std::time::Instant::now();
    while !f().await {
        assert!(started.elapsed() < bound, "{what}: not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_save_keeps_the_template_until_the_quiet_read_decides() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    for id in ["edited", "schema-broken", "emptied"] {
        write(&flows, &format!("{id}.sw.yaml"), &workflow(id, "Before"));
        write(&flows, &format!("schemas/{id}.json"), SCHEMA);
    }
    let config_file = dir.path().join("config.yaml");
    std::fs::write(
        &config_file,
        format!(
            "stateDir: state\nsources:\n  - type: dir\n    path: {}\nsync:\n  interval: 1h\n  debounce: 10s\n",
            flows.display()
        ),
    )
    .unwrap();
    let config = Layers::new().file(&config_file).unwrap().build().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let shared = Arc::new(Shared::new("http://127.0.0.1:1".into(), 4, tx, None, None));
    let daemon = Daemon::new(config, shared.clone(), None).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(daemon.run(rx, stopped));
    let bound = Duration::from_secs(60);
    until("the first snapshot", bound, async || {
        served(&shared).await.len() == 3
    })
    .await;
    let before = last_sync(&shared).await;

    // Three saves caught half-way: invalid YAML, a schema cut short, a file truncated to nothing.
    write(
        &flows,
        "edited.sw.yaml",
        "id: edited\nname: After\nstates: [{name: s",
    );
    write(
        &flows,
        "schemas/schema-broken.json",
        r#"{"type": "object", "prop"#,
    );
    write(&flows, "emptied.sw.yaml", "");
    until("the cycle the first change starts", bound, async || {
        let now = last_sync(&shared).await;
        now.0 != before.0 && now.1 == "file change"
    })
    .await;
    let leading = served(&shared).await;
    assert_eq!(
        leading.len(),
        3,
        "a template was removed: {:?}",
        leading.keys()
    );
    for (name, t) in &leading {
        assert_eq!(
            title(t),
            "Before",
            "{name} was replaced by a half-written version"
        );
        assert!(has_form(t), "{name} lost its form to a half-written file");
    }

    // One save completes; the other two stay as they are. The read after the folder has been
    // quiet for `sync.debounce` decides: the edit, a template without a form, a removal.
    write(&flows, "edited.sw.yaml", &workflow("edited", "After"));
    until("the cycle once the folder is quiet", bound, async || {
        !served(&shared).await.contains_key("emptied")
    })
    .await;
    let trailing = served(&shared).await;
    assert_eq!(title(&trailing["edited"]), "After");
    assert!(has_form(&trailing["edited"]));
    assert_eq!(title(&trailing["schema-broken"]), "Before");
    assert!(!has_form(&trailing["schema-broken"]));

    stop.send(true).unwrap();
    running.await.unwrap();
}
