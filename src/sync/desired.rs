//! The desired templates: the sources' last good snapshots merged and mapped, off the async
//! runtime (it is CPU work). A template equal to the one mapped last time (same fingerprint)
//! keeps its rendered document, so only what changed is rendered and compared again. Each
//! template carries what its diagram is drawn from (rendered only when someone asks for it).

use std::sync::Arc;

use crate::config::Config;
use crate::pipeline::{self, SourceRead};
use crate::plan::{Entities, Item, fingerprint};
use crate::telemetry;
use crate::workflow::Severity;

/// Maps `reads`; returns the templates by name and the number of errors and warnings (each
/// diagnostic is logged).
pub(super) async fn map(
    config: &Config,
    reads: Vec<SourceRead>,
    previous: Option<Arc<Entities>>,
) -> (Entities, (usize, usize)) {
    let config = config.clone();
    let (entities, diagnostics) = tokio::task::spawn_blocking(move || {
        // Each template becomes an item (or the previous one, unchanged) as soon as it is
        // mapped: the Templates of a cycle are never all held at once.
        let outcome = pipeline::assemble_into(&config, &reads, |t, diagram| {
            match previous.as_ref().and_then(|p| p.get(&t.metadata.name)) {
                Some(old) if old.fingerprint == fingerprint(&t) && old.diagram.is_some() => {
                    old.clone()
                }
                _ => Arc::new(Item::new(t).with_diagram(diagram)),
            }
        });
        let entities: Entities = outcome
            .templates
            .into_iter()
            .map(|i| (i.name().to_owned(), i))
            .collect();
        (entities, outcome.diagnostics)
    })
    .await
    .expect("mapping panicked");
    let mut counts = (0, 0);
    for d in &diagnostics {
        match d.severity {
            Severity::Error => {
                counts.0 += 1;
                tracing::warn!(file = %d.file, workflow = d.workflow_id.as_deref().unwrap_or(""), "{}", d.message);
            }
            Severity::Warning => {
                counts.1 += 1;
                tracing::info!(file = %d.file, workflow = d.workflow_id.as_deref().unwrap_or(""), "{}", d.message);
            }
        }
    }
    if counts.0 > 0 {
        metrics::counter!(telemetry::ERRORS, "kind" => "workflow").increment(counts.0 as u64);
    }
    (entities, counts)
}
