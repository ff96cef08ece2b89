//! What a daemon without a catalog remembers across a restart: the templates it served, in
//! `stateDir/published.jsonl`, so that the delete guard protects them like adopted ones.
//!
//! The file is the daemon's own state, not input: it is JSON, one template per line (its name,
//! namespace and YAML document exactly as served), written and read as a stream, so it reads back at any size (100 000 templates are tested) without the
//! document and node budgets that protect the workflow parser from hostile files, and without
//! holding the whole text in memory. A `published.yaml` left by an older version is read once
//! (without a budget) and replaced.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::entity::Template;
use crate::plan::{Entities, Item};

/// One line of the file.
#[derive(Serialize)]
struct Line<'a> {
    name: &'a str,
    namespace: &'a str,
    #[serde(rename = "workflowId", skip_serializing_if = "Option::is_none")]
    workflow_id: Option<&'a str>,
    yaml: &'a str,
}

/// One line read back (owned: `\n` and quotes in the document are escaped in the file).
#[derive(Deserialize)]
struct OwnedLine {
    name: String,
    namespace: String,
    #[serde(rename = "workflowId", default)]
    workflow_id: Option<String>,
    yaml: String,
}

/// The file in `stateDir` that remembers what was published, for a daemon without a catalog.
pub(super) const PUBLISHED_FILE: &str = "published.jsonl";
/// What versions before 0.1 wrote: a multi-document YAML.
const LEGACY_FILE: &str = "published.yaml";

/// Writes the served templates (one JSON object per line, atomically). A failure is logged: the
/// daemon keeps serving, it only loses the memory across a restart.
pub(super) fn save_published(dir: &Path, served: &Entities) {
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{PUBLISHED_FILE}.tmp"));
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        for item in served.values() {
            let line = Line {
                name: item.name(),
                namespace: item.namespace(),
                workflow_id: item.workflow_id(),
                yaml: item.yaml_text(),
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, dir.join(PUBLISHED_FILE))?;
        // The legacy file would be read instead of nothing if this one were lost.
        let _ = std::fs::remove_file(dir.join(LEGACY_FILE));
        Ok(())
    };
    if let Err(e) = write() {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remember the published templates in `stateDir`; a restart will not protect them");
    }
}

/// Reads what `save_published` wrote; nothing (with a warning) when it is missing or unreadable.
/// A line that does not read is skipped with a warning (a torn write cannot happen: the file is
/// replaced atomically; this is a file edited by hand).
pub(super) fn load_published(dir: &Path) -> Entities {
    let path = dir.join(PUBLISHED_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return load_legacy(dir),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read back the published templates; starting without them");
            return Entities::new();
        }
    };
    let mut entities = Entities::new();
    let mut skipped = 0usize;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(file = %path.display(), line = n + 1, error = %e, "cannot read the rest of the published templates");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<OwnedLine>(&line) {
            Ok(l) => {
                let item = Item::with_yaml(
                    &l.name,
                    &l.namespace,
                    l.workflow_id.as_deref(),
                    l.yaml,
                    [0; 16],
                );
                entities.insert(l.name, Arc::new(item));
            }
            Err(e) => {
                skipped += 1;
                if skipped == 1 {
                    tracing::warn!(file = %path.display(), line = n + 1, error = %e, "a published template does not read back; it is skipped");
                }
            }
        }
    }
    tracing::info!(templates = entities.len(), skipped, file = %path.display(), "read back what was published before the restart");
    entities
}

/// The multi-document YAML of earlier versions, read without the hostile-input budgets (it is
/// our own file, and it may hold any number of templates).
fn load_legacy(dir: &Path) -> Entities {
    let path = dir.join(LEGACY_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Entities::new();
    };
    let options = serde_saphyr::options! { budget: None };
    match serde_saphyr::from_multiple_with_options::<Template>(&text, options) {
        Ok(templates) => {
            tracing::info!(templates = templates.len(), file = %path.display(), "read back what was published before the restart");
            templates
                .into_iter()
                .map(|t| (t.metadata.name.clone(), Arc::new(Item::new(t))))
                .collect()
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read back the published templates; starting without them");
            Entities::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entities(n: usize) -> Entities {
        crate::plan::test_entities(
            (0..n).map(|i| (format!("w{i}"), Some(format!("Workflow {i}")))),
            "1.0",
        )
    }

    #[test]
    fn what_was_written_reads_back_at_100_000_templates() {
        let dir = tempfile::tempdir().unwrap();
        let written = entities(100_000);
        save_published(dir.path(), &written);
        let read = load_published(dir.path());
        assert_eq!(read.len(), 100_000);
        for (name, item) in &written {
            assert_eq!(read[name].hash, item.hash, "{name}");
            assert_eq!(read[name].entity_ref(), item.entity_ref());
        }
    }

    #[test]
    fn a_legacy_yaml_state_of_more_than_1024_documents_reads_back_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let written = entities(1500);
        let text: Vec<&str> = written.values().map(|i| i.yaml_text()).collect();
        std::fs::write(dir.path().join(LEGACY_FILE), text.join("---\n")).unwrap();
        let read = load_published(dir.path());
        assert_eq!(read.len(), 1500);
        save_published(dir.path(), &read);
        assert!(!dir.path().join(LEGACY_FILE).exists());
        assert_eq!(load_published(dir.path()).len(), 1500);
    }
}
