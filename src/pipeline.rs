//! The one-shot pipeline behind `export` and `check`: read every source, merge, map.
//!
//! Sources are merged by workflow id in configuration order: the first source that defines an
//! id wins and every later definition is reported as a duplicate naming both places.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Config;
use crate::entity::{self, Template};
use crate::source::{Snapshot, bundled};
use crate::workflow::{Diagnostic, Severity, Workflow};

/// What one run of the pipeline produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The mapped templates, sorted by name.
    pub templates: Vec<Template>,
    /// Every problem found, errors first, then by file.
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// `N templates, M errors, K warnings`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}, {}",
            plural(self.templates.len(), "template"),
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning")
        )
    }
}

/// A source's name in diagnostics and its snapshot (or why it could not be read). Shared: the
/// daemon keeps each source's last good snapshot and maps from it without copying it.
pub type SourceRead = (String, Result<Arc<Snapshot>, String>);

/// Reads every configured source (the bundled examples when none is configured).
pub fn read_sources(config: &Config) -> Vec<SourceRead> {
    let sources = config.dir_sources();
    if sources.is_empty() {
        let snapshot = bundled::read(
            &crate::workflow::ParseLimits {
                max_file_bytes: config.parsing.max_file_bytes,
                ..Default::default()
            },
            &config.parsing.resource_roots,
        );
        return vec![(bundled::NAME.to_owned(), Ok(Arc::new(snapshot)))];
    }
    sources
        .iter()
        .map(|s| {
            let name = s.root.display().to_string();
            (name, s.read().map(Arc::new).map_err(|e| e.to_string()))
        })
        .collect()
}

/// Merges snapshots by workflow id and maps the result.
pub fn assemble(config: &Config, reads: &[SourceRead]) -> Outcome {
    let mut diagnostics = Vec::new();
    let mut by_id: BTreeMap<&str, (String, &Workflow)> = BTreeMap::new();
    for (name, read) in reads {
        let snapshot = match read {
            Ok(s) => s,
            Err(reason) => {
                diagnostics.push(Diagnostic::error(name, None, reason));
                continue;
            }
        };
        diagnostics.extend(snapshot.diagnostics.iter().map(|d| Diagnostic {
            file: qualify(name, &d.file),
            ..d.clone()
        }));
        for wf in &snapshot.workflows {
            let place = qualify(name, &wf.origin.path);
            if let Some((winner, _)) = by_id.get(wf.id.as_str()) {
                diagnostics.push(Diagnostic::error(
                    &place,
                    Some(&wf.id),
                    format!(
                        "duplicate workflow id: also defined in {winner}, which is used (the first source in configuration order wins); give one of them another id"
                    ),
                ));
                continue;
            }
            by_id.insert(&wf.id, (place, wf));
        }
    }
    let workflows: Vec<&Workflow> = by_id.into_values().map(|(_, wf)| wf).collect();
    let templates = entity::map_all(&workflows, &config.map_options());
    diagnostics.sort();
    Outcome {
        templates,
        diagnostics,
    }
}

/// Reads and maps everything the configuration names.
pub fn run(config: &Config) -> Outcome {
    assemble(config, &read_sources(config))
}

/// A file path as the user can find it: under its source folder.
fn qualify(source: &str, file: &str) -> String {
    if file.is_empty() {
        source.to_owned()
    } else if source == bundled::NAME {
        format!("fixtures/workflows/{file}")
    } else {
        format!("{}/{file}", source.trim_end_matches('/'))
    }
}
