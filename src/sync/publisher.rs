//! The publisher: what is served (the shard documents) and what the catalog holds from us.
//! It adopts what the catalog already has at start, plans served vs desired within the delete
//! guard, validates what is new or changed with the catalog, serves the result, and then brings
//! the catalog in step (writing the audit log).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::state_file;
use crate::config::Config;
use crate::plan::{DeleteGuard, Entities, Held, Item, plan};
use crate::sink::catalog::{CatalogClient, CatalogError, RetryPolicy};
use crate::sink::catalog_sync::CatalogSync;
use crate::sink::diagrams;
use crate::sink::serve::{Shared, build_shards};
use crate::telemetry::{self, unix_now};

/// How many templates one publication added, updated and removed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Changes {
    pub(super) added: usize,
    pub(super) updated: usize,
    pub(super) removed: usize,
}

impl Changes {
    pub(super) fn any(&self) -> bool {
        self.added + self.updated + self.removed > 0
    }
}

/// What is published, and the catalog it is kept in step with.
pub(super) struct Publisher {
    pub(super) catalog: Option<CatalogSync>,
    /// The catalog's templates under our URL are known (or there is no catalog).
    pub(super) adopted: bool,
    /// What the shards serve.
    pub(super) served: Entities,
    pub(super) published_once: bool,
    /// Removals the delete guard (or the grace for unread sources) holds.
    pub(super) held: Option<Held>,
    /// Templates the catalog rejected: name -> (content hash, the catalog's message).
    pub(super) rejected: BTreeMap<String, (String, String)>,
    pub(super) catalog_error: Option<String>,
    /// Why the current cycle's catalog work was cut short (`catalog.cycleTimeout`), if it was.
    pub(super) cut_short: Option<String>,
    pub(super) catalog_failures: u32,
    pub(super) last_catalog_success: Option<f64>,
    shards: usize,
    guard: DeleteGuard,
    /// `catalog.cycleTimeout`.
    cycle_timeout: std::time::Duration,
    /// Without a catalog (and with sources), what is served is remembered here across restarts.
    state_dir: Option<PathBuf>,
}

impl Publisher {
    pub(super) fn new(config: &Config, catalog_token: Option<String>) -> Self {
        let catalog = config.catalog.base_url.as_ref().map(|url| {
            let client = CatalogClient::new(url, catalog_token, RetryPolicy::default());
            CatalogSync::new(
                client,
                &config.server.base_url(),
                config.catalog.shards,
                config.catalog.concurrency,
            )
        });
        // Without a catalog to adopt from, what was published before a restart is read back from
        // the state folder, so that the delete guard protects it like adopted templates.
        let state_dir =
            (catalog.is_none() && !config.sources.is_empty()).then(|| config.state_dir.clone());
        let served = match &state_dir {
            Some(dir) => state_file::load_published(dir),
            None => Entities::new(),
        };
        Self {
            catalog,
            adopted: false,
            served,
            published_once: false,
            held: None,
            rejected: BTreeMap::new(),
            catalog_error: None,
            cut_short: None,
            catalog_failures: 0,
            last_catalog_success: None,
            shards: config.catalog.shards,
            cycle_timeout: config.catalog.cycle_timeout.duration(),
            guard: DeleteGuard {
                max_fraction: config.sync.max_delete_fraction,
                minimum: config.sync.delete_guard_minimum,
            },
            state_dir,
        }
    }

    /// A cycle's catalog work begins: it has `catalog.cycleTimeout` from now.
    pub(super) fn start_catalog_phase(&mut self) {
        self.cut_short = None;
        if let Some(catalog) = &mut self.catalog {
            catalog.set_deadline(self.cycle_timeout);
        }
    }

    /// Takes over what the catalog already holds under our public URL: those templates become
    /// the published state, so the first plan adds only what is missing, updates only what
    /// differs and removes only what is no longer produced (within the delete guard).
    pub(super) async fn adopt(&mut self, desired: &Entities) {
        let Some(catalog) = &mut self.catalog else {
            self.adopted = true;
            return;
        };
        match catalog.adopt().await {
            Ok(adopted) => {
                let n = adopted.entities.len();
                for (name, value) in adopted.entities {
                    // A template its shard must re-emit (the shard count changed) is not in sync
                    // whatever its content.
                    let moved = adopted.moved.contains(&name);
                    match desired.get(&name) {
                        Some(item) if item.json() == value => {
                            catalog.mark_synced(&name, if moved { "moved" } else { &item.hash });
                            self.served.insert(name, item.clone());
                        }
                        _ => match Item::from_value(value) {
                            Some(item) => {
                                catalog.mark_synced(&name, "adopted");
                                self.served.insert(name, Arc::new(item));
                            }
                            None => tracing::warn!(
                                template = %name,
                                "a template the catalog holds from us cannot be read back; unless a source still produces it, the catalog will remove it"
                            ),
                        },
                    }
                }
                tracing::info!(
                    templates = n,
                    locations = adopted.locations,
                    "adopted what the catalog holds under our public URL"
                );
                self.adopted = true;
            }
            Err(e) => self.catalog_failed(&e),
        }
    }

    /// Plans served vs desired, validates what is new or changed, and serves the result.
    /// `unread`: sources not read once yet (in their grace period): updates and removals wait.
    pub(super) async fn publish(
        &mut self,
        desired: &Entities,
        unread: &[String],
        shared: &Shared,
    ) -> Changes {
        let published: BTreeMap<String, String> = self
            .served
            .iter()
            .map(|(k, v)| (k.clone(), v.hash.clone()))
            .collect();
        let mut plan = plan(&published, desired, self.guard);
        // A source that has never been read cannot justify a removal: what it would bring back
        // is not known yet (a Data Index down at start, with `publish: deployed`).
        // Nor an update: a folder or git source not read yet may define what a Data Index would
        // otherwise publish from its own copy, and a Data Index not read yet would turn every
        // availability into `not-deployed`. Additions go on.
        if !unread.is_empty() && !plan.update.is_empty() {
            tracing::info!(
                updates = plan.update.len(),
                waiting_for = %unread.join(", "),
                "updates wait until every source has been read once"
            );
            plan.update.clear();
        }
        if !unread.is_empty() && !plan.remove.is_empty() {
            let mut names = std::mem::take(&mut plan.remove);
            names.extend(plan.held.take().map(|h| h.names).unwrap_or_default());
            names.sort();
            plan.held = Some(Held {
                names,
                reason: format!(
                    "removals wait until every source has been read once; not read yet: {}",
                    unread.join(", ")
                ),
            });
        }
        if let Some(held) = &plan.held
            && self.held.as_ref() != Some(held)
        {
            tracing::warn!(held = held.names.len(), "{}", held.reason);
            metrics::counter!(telemetry::ERRORS, "kind" => "deletes_held").increment(1);
        }
        self.held = plan.held.clone();
        metrics::gauge!(telemetry::DELETIONS_HELD)
            .set(self.held.as_ref().map_or(0, |h| h.names.len()) as f64);
        let mut changes = Changes::default();
        if plan.is_empty() && self.published_once {
            return changes;
        }
        // Validate new and changed entities when a catalog can say what it would reject. A
        // template rejected before with the same content is not asked about again.
        let mut rejected: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut candidates: Vec<Arc<Item>> = Vec::new();
        for name in plan.add.iter().chain(&plan.update) {
            let item = &desired[name];
            match self.rejected.get(name) {
                Some((hash, message)) if *hash == item.hash => {
                    rejected.insert(name.clone(), (hash.clone(), message.clone()));
                }
                _ => candidates.push(item.clone()),
            }
        }
        // Not validated before the cycle's deadline: not published now, validated next cycle.
        let mut unchecked: BTreeSet<String> = BTreeSet::new();
        if let (Some(catalog), false) = (&self.catalog, candidates.is_empty()) {
            match catalog.validate(candidates).await {
                Ok(validated) => {
                    for (name, message) in validated.rejected {
                        tracing::warn!(entity = %name, "the catalog rejects this template, it is not published: {message}");
                        rejected.insert(name.clone(), (desired[&name].hash.clone(), message));
                    }
                    if !validated.unchecked.is_empty() {
                        let message = format!(
                            "{} templates were not validated within `catalog.cycleTimeout` ({} s): the cycle was cut short; they are validated and published by the next cycle",
                            validated.unchecked.len(),
                            self.cycle_timeout.as_secs_f64()
                        );
                        tracing::warn!("{message}");
                        metrics::counter!(telemetry::ERRORS, "kind" => "catalog_cycle_timeout")
                            .increment(1);
                        self.cut_short = Some(message);
                        unchecked.extend(validated.unchecked);
                    }
                }
                // Unvalidated is still published: the catalog validates again when it reads.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot validate entities with the catalog; publishing them unvalidated")
                }
            }
        }
        self.rejected = rejected;
        for name in plan.add.iter().chain(&plan.update) {
            if self.rejected.contains_key(name) || unchecked.contains(name) {
                continue;
            }
            if self
                .served
                .insert(name.clone(), desired[name].clone())
                .is_some()
            {
                changes.updated += 1;
            } else {
                changes.added += 1;
            }
        }
        for name in &plan.remove {
            self.served.remove(name);
            changes.removed += 1;
        }
        if changes.any() || !self.published_once {
            // Only published workflow ids become instance metric labels; set before the
            // templates are served, so a scrape after `/readyz` already has their series.
            shared
                .instances
                .set_published(self.served.values().filter_map(|item| item.workflow_id()));
        }
        let shards = build_shards(self.served.values().map(Arc::as_ref), self.shards);
        shared.publish(shards, self.served.len()).await;
        if let Some(dir) = &self.state_dir {
            state_file::save_published(dir, &self.served);
        }
        if !self.published_once {
            self.published_once = true;
            tracing::info!(templates = self.served.len(), "first snapshot published");
        }
        changes
    }

    /// What the diagram of every served template is drawn from: the one mapped with it (from
    /// what is desired when that is what is served, else kept with the served template; a
    /// template adopted from the catalog and not mapped since has none yet).
    pub(super) fn diagram_sources(&self, desired: &Entities) -> diagrams::Sources {
        self.served
            .iter()
            .filter_map(|(name, item)| {
                let source = match desired.get(name) {
                    Some(d) if d.hash == item.hash && d.diagram.is_some() => d.diagram.clone(),
                    _ => item.diagram.clone(),
                }?;
                Some((name.clone(), source))
            })
            .collect()
    }

    /// Brings the catalog in step with what is served; returns the number of calls made.
    /// `file_of(workflow id)` names a template's source file in the audit log.
    pub(super) async fn apply_catalog(
        &mut self,
        file_of: impl Fn(&str) -> Option<String>,
    ) -> usize {
        let Some(catalog) = &mut self.catalog else {
            return 0;
        };
        if !self.adopted {
            return 0;
        }
        let result = catalog.apply(&self.served).await;
        match result {
            Ok(applied) => {
                let mut added = Vec::new();
                for change in &applied.changes {
                    tracing::info!(
                        target: "audit",
                        action = change.action,
                        entity_ref = %change.entity_ref,
                        source = %self.source_of(&change.entity_ref, &file_of),
                        reason = %change.reason,
                        "catalog change"
                    );
                    metrics::counter!(telemetry::CATALOG_CHANGES, "action" => change.action)
                        .increment(1);
                    if change.action == "added" {
                        added.push((
                            change
                                .entity_ref
                                .rsplit('/')
                                .next()
                                .unwrap_or_default()
                                .to_owned(),
                            change.entity_ref.clone(),
                        ));
                    }
                }
                if let Some(catalog) = &self.catalog {
                    catalog.verify(added);
                }
                if let Some(cut) = &self.cut_short {
                    // Validation was cut short: templates wait; the catalog is not in step.
                    self.catalog_error = Some(cut.clone());
                    if self.catalog_failures == 0 {
                        metrics::gauge!(telemetry::FAILING_SINCE, "what" => "catalog")
                            .set(unix_now());
                    }
                    self.catalog_failures += 1;
                } else {
                    self.catalog_error = None;
                    if self.catalog_failures > 0 {
                        metrics::gauge!(telemetry::FAILING_SINCE, "what" => "catalog").set(0.0);
                    }
                    self.catalog_failures = 0;
                    self.last_catalog_success = Some(unix_now());
                    metrics::gauge!(telemetry::LAST_SUCCESS, "what" => "catalog").set(unix_now());
                }
                applied.calls
            }
            Err(e) => {
                self.catalog_failed(&e);
                0
            }
        }
    }

    /// Refreshes every managed template (`catalog.refreshInterval`).
    pub(super) async fn refresh_all(&mut self) {
        if let Some(catalog) = &mut self.catalog {
            catalog.set_deadline(self.cycle_timeout);
            match catalog.refresh_all().await {
                Ok(n) => {
                    tracing::info!(locations = n, "scheduled refresh of every managed template")
                }
                Err(e) => tracing::warn!(error = %e, "scheduled refresh failed"),
            }
        }
    }

    fn catalog_failed(&mut self, e: &CatalogError) {
        let message = e.to_string();
        if matches!(e, CatalogError::CutShort { .. }) {
            self.cut_short = Some(message.clone());
        }
        if self.catalog_error.as_deref() != Some(message.as_str()) {
            tracing::warn!(error = %message, "catalog sync failed; it is retried");
        }
        metrics::counter!(telemetry::ERRORS, "kind" => format!("catalog_{}", e.metric_label()))
            .increment(1);
        self.catalog_error = Some(message);
        if self.catalog_failures == 0 {
            metrics::gauge!(telemetry::FAILING_SINCE, "what" => "catalog").set(unix_now());
        }
        self.catalog_failures += 1;
    }

    /// The source file of a template, for the audit log.
    fn source_of(&self, entity_ref: &str, file_of: &impl Fn(&str) -> Option<String>) -> String {
        let name = entity_ref.rsplit('/').next().unwrap_or_default();
        self.served
            .get(name)
            .and_then(|i| i.workflow_id())
            .and_then(file_of)
            .unwrap_or_else(|| "-".into())
    }
}
