//! What a daemon without a catalog remembers across a restart: the templates it served, in
//! `stateDir/published.yaml`, so that the delete guard protects them like adopted ones.

use std::path::Path;
use std::sync::Arc;

use crate::entity::Template;
use crate::plan::{Entities, Item};

/// The file in `stateDir` that remembers what was published, for a daemon without a catalog.
pub(super) const PUBLISHED_FILE: &str = "published.yaml";

/// Writes the served templates (one multi-document YAML, atomically). A failure is logged: the
/// daemon keeps serving, it only loses the memory across a restart.
pub(super) fn save_published(dir: &Path, served: &Entities) {
    let text: Vec<&str> = served.values().map(|i| i.yaml.as_str()).collect();
    let result = std::fs::create_dir_all(dir).and_then(|()| {
        let tmp = dir.join(format!("{PUBLISHED_FILE}.tmp"));
        std::fs::write(&tmp, text.join("---\n"))?;
        std::fs::rename(&tmp, dir.join(PUBLISHED_FILE))
    });
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remember the published templates in `stateDir`; a restart will not protect them");
    }
}

/// Reads what `save_published` wrote; nothing (with a warning) when it is missing or unreadable.
pub(super) fn load_published(dir: &Path) -> Entities {
    let path = dir.join(PUBLISHED_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Entities::new();
    };
    match serde_saphyr::from_multiple::<Template>(&text) {
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
