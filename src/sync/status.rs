//! `GET /status`: what each source, the catalog and the last cycle did, as one JSON document
//! written after every cycle.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::publisher::Publisher;
use super::sources::Sources;
use crate::sink::serve::Shared;
use crate::telemetry::rfc3339;

/// What the last cycle did, for `/status` and the logs.
#[derive(Debug, Clone, Default)]
pub(super) struct CycleReport {
    pub(super) reason: &'static str,
    pub(super) at: f64,
    pub(super) duration: Duration,
    pub(super) added: usize,
    pub(super) updated: usize,
    pub(super) removed: usize,
    pub(super) catalog_calls: usize,
    /// Why the cycle's catalog work was cut short (`catalog.cycleTimeout`), if it was.
    pub(super) cut_short: Option<String>,
}

/// Writes the `/status` document. `diagnostics`: errors and warnings of the last mapping.
pub(super) async fn write(
    shared: &Shared,
    sources: &Sources,
    publisher: &Publisher,
    catalog_base_url: Option<&str>,
    diagnostics: (usize, usize),
    last: Option<&CycleReport>,
) {
    let sources: Vec<Value> = sources
        .list
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "type": s.kind(),
                "watched": s.watched(),
                "commit": s.revision,
                "workflows": s.last_good.as_ref().map_or(0, |x| x.len()),
                "lastSuccess": s.last_success.map(rfc3339),
                "lastError": s.last_error,
            })
        })
        .collect();
    let p = publisher;
    let conflicts = match &p.catalog {
        Some(c) => c.conflicts.lock().await.clone(),
        None => BTreeMap::new(),
    };
    let status = json!({
        "ready": p.published_once,
        "templates": p.served.len(),
        "diagnostics": {"errors": diagnostics.0, "warnings": diagnostics.1},
        "sources": sources,
        "catalog": match &p.catalog {
            None => json!({"state": "disabled"}),
            Some(c) => json!({
                "state": if p.catalog_error.is_some() { "failing" } else if p.adopted { "in-sync" } else { "pending" },
                "baseUrl": catalog_base_url,
                "registeredLocations": c.registered_locations(),
                "lastSuccess": p.last_catalog_success.map(rfc3339),
                "lastError": p.catalog_error,
                "conflicts": conflicts,
                "rejected": p.rejected.iter().map(|(k, (_, m))| (k.clone(), m.clone())).collect::<BTreeMap<_, _>>(),
            }),
        },
        "deletesHeld": p.held.as_ref().map(|h| json!({"count": h.names.len(), "reason": h.reason, "templates": h.names})),
        "lastSync": last.map(|r| json!({
            "at": rfc3339(r.at),
            "reason": r.reason,
            "durationMs": r.duration.as_millis() as u64,
            "added": r.added,
            "updated": r.updated,
            "removed": r.removed,
            "catalogCalls": r.catalog_calls,
            "cutShort": r.cut_short,
        })),
    });
    *shared.status.write().await = status;
}
