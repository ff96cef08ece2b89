//! Keeps a Backstage catalog in step with the shards the daemon serves.
//!
//! Layout: each non-empty shard is one registered url location (`onConflict=refresh`, so
//! registering is idempotent and two daemons with the same public URL agree). What the catalog
//! was last told is kept as a name -> content hash map; each apply compares it with what is
//! served and makes only the calls that difference needs:
//! - a shard with templates and no location: dry run once (it surfaces `reading.allow` and
//!   `catalog.rules` problems the real call hides), then register;
//! - a changed template: `POST /refresh` with its entity ref; a template the catalog does not
//!   know yet in a registered shard: re-register that shard's location with `onConflict=refresh`
//!   (one call per shard), which re-reads it at once and heals a location deleted behind us;
//! - a removed template (already gone from its shard document): delete it by uid, after checking
//!   it is ours; a shard left empty: delete its location.
//!
//! Failures leave the map untouched, so the next apply retries exactly what failed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;

use super::catalog::{CatalogClient, CatalogError, Location, generated_location_ref};
use super::serve::{names_by_shard, shard_index, shard_url};
use crate::plan::{Entities, Item, entity_ref};
use crate::telemetry;

const ORIGIN: &str = "backstage.io/managed-by-origin-location";

/// A change the catalog accepted, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: &'static str,
    pub entity_ref: String,
    pub reason: String,
}

/// What one apply did.
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: Vec<Change>,
    pub calls: usize,
}

/// What the catalog held under our URL when the daemon started.
#[derive(Debug, Default)]
pub struct Adopted {
    /// Our templates as the catalog holds them (catalog-added fields removed), by name.
    pub entities: BTreeMap<String, Value>,
    /// Those emitted by a location that is not their shard's today (`catalog.shards` changed):
    /// they must be re-emitted by their new shard.
    pub moved: BTreeSet<String>,
    pub locations: usize,
}

pub struct CatalogSync {
    client: CatalogClient,
    base: String,
    shards: usize,
    concurrency: usize,
    checked: bool,
    registered: BTreeMap<usize, Location>,
    /// Locations under our URL that no shard uses any more (a changed shard count), by id.
    retired: BTreeMap<String, Location>,
    /// name -> hash of the content the catalog was last told about.
    synced: BTreeMap<String, String>,
    /// name -> the location that owns it instead of us.
    pub conflicts: Arc<Mutex<BTreeMap<String, String>>>,
    /// Templates awaited in the catalog after a push, and whether a task is polling for them.
    waiting: Arc<std::sync::Mutex<Waiting>>,
    /// When the current cycle's catalog work must stop (`catalog.cycleTimeout`), and the time
    /// it was given: calls not finished by then are abandoned, and the work retried next cycle.
    deadline: Option<(tokio::time::Instant, Duration)>,
    /// Some call was abandoned at the deadline since [`CatalogSync::set_deadline`].
    cut: AtomicBool,
}

/// What validation found.
#[derive(Debug, Default)]
pub struct Validated {
    /// `(name, the catalog's message)` for each entity it rejects.
    pub rejected: Vec<(String, String)>,
    /// Entities not validated before the deadline: not published this cycle.
    pub unchecked: Vec<String>,
}

impl CatalogSync {
    pub fn new(client: CatalogClient, base: &str, shards: usize, concurrency: usize) -> Self {
        Self {
            client,
            base: base.to_owned(),
            shards,
            concurrency,
            checked: false,
            registered: BTreeMap::new(),
            retired: BTreeMap::new(),
            synced: BTreeMap::new(),
            conflicts: Arc::default(),
            waiting: Arc::default(),
            deadline: None,
            cut: AtomicBool::new(false),
        }
    }

    /// Bounds the catalog work from now on by `timeout` (one cycle's worth).
    pub fn set_deadline(&mut self, timeout: Duration) {
        self.deadline = Some((tokio::time::Instant::now() + timeout, timeout));
        self.cut.store(false, Ordering::Release);
    }

    /// The error that says the deadline cut `phase` short, if it did.
    fn cut_short(&self, phase: &'static str) -> Option<CatalogError> {
        let (_, timeout) = self.deadline?;
        self.cut
            .load(Ordering::Acquire)
            .then_some(CatalogError::CutShort {
                phase,
                seconds: timeout.as_secs_f64(),
            })
    }

    /// Runs one call (not one of many) within the deadline.
    async fn bounded<T>(
        &self,
        phase: &'static str,
        call: impl std::future::Future<Output = Result<T, CatalogError>>,
    ) -> Result<T, CatalogError> {
        let Some((deadline, timeout)) = self.deadline else {
            return call.await;
        };
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result,
            Err(_) => {
                self.cut.store(true, Ordering::Release);
                Err(CatalogError::CutShort {
                    phase,
                    seconds: timeout.as_secs_f64(),
                })
            }
        }
    }

    pub fn registered_locations(&self) -> usize {
        self.registered.len()
    }

    fn ours(&self, origin: &str) -> bool {
        origin.starts_with(&format!("url:{}/catalog/", self.base))
    }

    /// Reads what the catalog already holds under our public URL: its locations and our
    /// templates. Nothing is changed.
    pub async fn adopt(&mut self) -> Result<Adopted, CatalogError> {
        let mut adopted = Adopted::default();
        let client = self.client.clone();
        let locations = self
            .bounded("reading the locations it holds", client.locations())
            .await?;
        let entities = self
            .bounded(
                "reading the templates it holds",
                client.query("kind=template", ""),
            )
            .await?;
        for location in locations {
            if location.kind != "url" {
                continue;
            }
            match shard_index(&self.base, &location.target) {
                Some(i) if i < self.shards && location.target == shard_url(&self.base, i) => {
                    adopted.locations += 1;
                    self.registered.insert(i, location);
                }
                Some(_) => {
                    self.retired.insert(location.id.clone(), location);
                }
                None => {}
            }
        }
        for entity in entities {
            let origin = entity
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(ORIGIN))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !self.ours(origin) {
                continue;
            }
            let Some(name) = entity.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            adopted
                .entities
                .insert(name.to_owned(), strip(entity.clone(), &self.base));
        }
        Ok(adopted)
    }

    /// Records that the catalog holds `name` with content `hash` (after adoption).
    pub fn mark_synced(&mut self, name: &str, hash: &str) {
        self.synced.insert(name.to_owned(), hash.to_owned());
    }

    /// Validates entities with the catalog: what it rejects, and what was not validated before
    /// the deadline. Each entity is turned into JSON only when its call runs, so at most
    /// `concurrency` of them are held at once.
    pub async fn validate(&self, entities: Vec<Arc<Item>>) -> Result<Validated, CatalogError> {
        let mut unchecked: BTreeSet<String> =
            entities.iter().map(|i| i.name().to_owned()).collect();
        let calls = entities.into_iter().map(|item| {
            let client = self.client.clone();
            let location = shard_url(&self.base, super::serve::shard_of(item.name(), self.shards));
            async move {
                let result = client.validate_entity(&location, &item.json()).await;
                (item.name().to_owned(), result)
            }
        });
        let mut validated = Validated::default();
        for (name, result) in self.run_all(calls).await {
            unchecked.remove(&name);
            if let Some(message) = result? {
                validated.rejected.push((name, message));
            }
        }
        validated.rejected.sort();
        validated.unchecked = unchecked.into_iter().collect();
        Ok(validated)
    }

    /// Makes the catalog match `served` (which the daemon already serves).
    pub async fn apply(&mut self, served: &Entities) -> Result<Applied, CatalogError> {
        let mut applied = Applied::default();
        let mut first_error = None;
        // Locations no shard uses any more go first, so that the templates they emitted can be
        // emitted by their new shards without a conflict.
        // Forgotten only once deleted: a call abandoned at the deadline is made again next apply.
        let retired: Vec<Location> = self.retired.values().cloned().collect();
        let retire_calls = retired.into_iter().map(|location| {
            let client = self.client.clone();
            async move {
                let result = client.delete_location(&location.id).await;
                (location, result)
            }
        });
        for (location, result) in self.run_all(retire_calls).await {
            applied.calls += 1;
            match result {
                Ok(()) => {
                    self.retired.remove(&location.id);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let want: BTreeMap<&str, &str> = served
            .iter()
            .map(|(n, i)| (n.as_str(), i.hash.as_str()))
            .collect();
        let by_shard = names_by_shard(want.keys().copied(), self.shards);

        // Shards with templates but no location.
        let missing: Vec<usize> = by_shard
            .keys()
            .copied()
            .filter(|i| !self.registered.contains_key(i))
            .collect();
        if !missing.is_empty() && !self.checked {
            // The real call answers 201 even when nothing will ever appear; the dry run says why.
            let target = shard_url(&self.base, missing[0]);
            let client = self.client.clone();
            self.bounded(
                "checking that it may read our documents",
                client.dry_run_location(&target),
            )
            .await
            .map_err(|e| explain_dry_run(e, &target))?;
            applied.calls += 1;
            self.checked = true;
        }
        let fresh: BTreeSet<usize> = missing.iter().copied().collect();
        let results = self
            .run_all(missing.iter().map(|&i| {
                let client = self.client.clone();
                let target = shard_url(&self.base, i);
                async move { (i, client.register_location(&target).await) }
            }))
            .await;
        applied.calls += results.len();
        for (i, result) in results {
            match result {
                Ok(location) => {
                    for name in &by_shard[&i] {
                        let hash = want[name.as_str()];
                        let action = if self.synced.contains_key(name) {
                            "updated"
                        } else {
                            "added"
                        };
                        self.synced.insert(name.clone(), hash.to_owned());
                        applied.changes.push(change(
                            action,
                            served,
                            name,
                            "registered its shard location",
                        ));
                    }
                    self.registered.insert(i, location);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }

        // Changes in shards that were already registered. A changed template: `POST /refresh`
        // with its entity ref (the catalog re-reads its parent location). A template the catalog
        // does not know yet (new in its shard, or its location was deleted behind our back):
        // re-register the shard with `onConflict=refresh`, which re-reads it at once and heals a
        // missing location; one call per such shard.
        let mut changed = Vec::new();
        let mut touched: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (name, hash) in &want {
            let shard = super::serve::shard_of(name, self.shards);
            if fresh.contains(&shard) || !self.registered.contains_key(&shard) {
                continue;
            }
            match self.synced.get(*name) {
                Some(old) if old == hash => {}
                Some(_) => changed.push(name.to_string()),
                None => touched.entry(shard).or_default().push(name.to_string()),
            }
        }
        let entity_calls = changed.into_iter().map(|name| {
            let client = self.client.clone();
            let r = served[&name].entity_ref();
            async move {
                let result = client.refresh(&r).await;
                (name, result)
            }
        });
        for (name, result) in self.run_all(entity_calls).await {
            applied.calls += 1;
            match result {
                Ok(true) => {
                    self.synced
                        .insert(name.clone(), want[name.as_str()].to_owned());
                    applied.changes.push(change(
                        "updated",
                        served,
                        &name,
                        "content changed; entity refreshed",
                    ));
                }
                // Unknown to the catalog: re-read its shard instead.
                Ok(false) => touched
                    .entry(super::serve::shard_of(&name, self.shards))
                    .or_default()
                    .push(name),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let refresh_calls = touched.keys().map(|&i| {
            let client = self.client.clone();
            let target = shard_url(&self.base, i);
            async move { (i, client.register_location(&target).await) }
        });
        for (i, result) in self.run_all(refresh_calls).await {
            applied.calls += 1;
            match result {
                Ok(location) => {
                    for name in &touched[&i] {
                        let (action, reason) = if self.synced.contains_key(name) {
                            ("updated", "content changed; its shard was re-read")
                        } else {
                            ("added", "new in its shard; the shard was re-read")
                        };
                        self.synced
                            .insert(name.clone(), want[name.as_str()].to_owned());
                        applied.changes.push(change(action, served, name, reason));
                    }
                    self.registered.insert(i, location);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }

        // Removals: the shard documents no longer hold them, so a deletion sticks.
        let removed: Vec<String> = self
            .synced
            .keys()
            .filter(|n| !want.contains_key(n.as_str()))
            .cloned()
            .collect();
        let empty: Vec<usize> = self
            .registered
            .keys()
            .copied()
            .filter(|i| !by_shard.contains_key(i))
            .collect();
        let emptied: BTreeSet<usize> = empty.iter().copied().collect();
        let namespace = served.values().next().map(|i| i.namespace().to_owned());
        let delete_calls = removed
            .iter()
            .filter(|n| !emptied.contains(&super::serve::shard_of(n, self.shards)))
            .map(|name| {
                let client = self.client.clone();
                let name = name.clone();
                let base = self.base.clone();
                let namespace = namespace.clone();
                async move {
                    let result = delete_if_ours(&client, &base, namespace.as_deref(), &name).await;
                    (name, result)
                }
            });
        for (name, result) in self.run_all(delete_calls).await {
            applied.calls += 2;
            match result {
                Ok(()) => {
                    self.synced.remove(&name);
                    applied.changes.push(Change {
                        action: "removed",
                        entity_ref: entity_ref(namespace.as_deref().unwrap_or("default"), &name),
                        reason: "no longer produced by any source".into(),
                    });
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let stale: Vec<Location> = empty
            .iter()
            .filter_map(|i| self.registered.get(i).cloned())
            .collect();
        let location_deletes = stale.into_iter().map(|location| {
            let client = self.client.clone();
            async move {
                let result = client.delete_location(&location.id).await;
                (location, result)
            }
        });
        for (location, result) in self.run_all(location_deletes).await {
            applied.calls += 1;
            match result {
                Ok(()) => {
                    if let Some(i) = shard_index(&self.base, &location.target) {
                        if self.registered.get(&i).is_some_and(|l| l.id == location.id) {
                            self.registered.remove(&i);
                        }
                        for name in removed
                            .iter()
                            .filter(|n| super::serve::shard_of(n, self.shards) == i)
                        {
                            if self.synced.remove(name).is_some() {
                                applied.changes.push(Change {
                                    action: "removed",
                                    entity_ref: entity_ref(
                                        namespace.as_deref().unwrap_or("default"),
                                        name,
                                    ),
                                    reason: "no longer produced; its shard location was deleted"
                                        .into(),
                                });
                            }
                        }
                    }
                }
                // Still registered: the next apply sees the shard empty and tries again.
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = self.cut_short("applying the changes") {
            tracing::warn!(done = applied.changes.len(), "{e}");
            return Err(e);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(applied),
        }
    }

    /// Refreshes every registered shard location (the `catalog.refreshInterval` schedule).
    /// A location the catalog no longer knows (deleted behind our back) is forgotten, so the
    /// next apply registers it again.
    pub async fn refresh_all(&mut self) -> Result<usize, CatalogError> {
        let calls = self.registered.iter().map(|(&i, l)| {
            let client = self.client.clone();
            let r = generated_location_ref(&l.target);
            async move { (i, client.refresh(&r).await) }
        });
        let results = self.run_all(calls).await;
        let n = results.len();
        let mut first_error = None;
        for (i, result) in results {
            match result {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        shard = i,
                        "a shard location was deleted outside the daemon; it is registered again"
                    );
                    self.registered.remove(&i);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(n), Err)
    }

    /// Waits (in the background) until the given templates show up in the catalog, and records
    /// those that another location owns: a conflict is reported, never fought over. One task at
    /// a time polls for everything still awaited (`(name, entity ref)` pairs); a template not
    /// seen within 30 s is reported and no longer awaited.
    pub fn verify(&self, names: Vec<(String, String)>) {
        if names.is_empty() {
            return;
        }
        let mut waiting = self.waiting.lock().expect("verify state poisoned");
        let now = Instant::now();
        for (name, reference) in names {
            waiting.pending.insert(reference, (name, now));
        }
        if waiting.running {
            return;
        }
        waiting.running = true;
        drop(waiting);
        let client = self.client.clone();
        let base = self.base.clone();
        let conflicts = self.conflicts.clone();
        let state = self.waiting.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                {
                    let mut waiting = state.lock().expect("verify state poisoned");
                    let expired: Vec<String> = waiting
                        .pending
                        .iter()
                        .filter(|(_, (_, since))| since.elapsed() > Duration::from_secs(30))
                        .map(|(r, _)| r.clone())
                        .collect();
                    for reference in expired {
                        waiting.pending.remove(&reference);
                        tracing::warn!(entity_ref = %reference, "not visible in the catalog 30 s after it was published; check the catalog's processing errors");
                    }
                    if waiting.pending.is_empty() {
                        waiting.running = false;
                        return;
                    }
                }
                let Ok(entities) = client
                    .query(
                        "kind=template",
                        "metadata.name,metadata.namespace,metadata.annotations",
                    )
                    .await
                else {
                    continue;
                };
                let mut seen = Vec::new();
                {
                    let mut waiting = state.lock().expect("verify state poisoned");
                    for entity in entities {
                        let name = entity
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let namespace = entity
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .unwrap_or("default");
                        let reference = entity_ref(namespace, name);
                        if waiting.pending.remove(&reference).is_none() {
                            continue;
                        }
                        let origin = entity
                            .pointer("/metadata/annotations")
                            .and_then(|a| a.get(ORIGIN))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        seen.push((name.to_owned(), reference, origin));
                    }
                }
                let mut known = conflicts.lock().await;
                for (name, reference, origin) in seen {
                    if origin.starts_with(&format!("url:{base}/catalog/")) {
                        known.remove(&name);
                    } else {
                        tracing::warn!(
                            target: "audit",
                            action = "conflict",
                            entity_ref = %reference,
                            owner = %origin,
                            reason = "another location already owns this name; it is left alone",
                            "catalog conflict"
                        );
                        metrics::counter!(telemetry::CATALOG_CHANGES, "action" => "conflict")
                            .increment(1);
                        known.insert(name, origin);
                    }
                }
            }
        });
    }

    /// Runs catalog calls with bounded concurrency, results in completion order; only those
    /// finished before the deadline, if one is set.
    async fn run_all<K, V, F>(
        &self,
        calls: impl Iterator<Item = F>,
    ) -> Vec<(K, Result<V, CatalogError>)>
    where
        F: std::future::Future<Output = (K, Result<V, CatalogError>)> + Send + 'static,
        K: Send + 'static,
        V: Send + 'static,
    {
        let limit = Arc::new(Semaphore::new(self.concurrency));
        let mut set = JoinSet::new();
        for call in calls {
            let limit = limit.clone();
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                call.await
            });
        }
        let mut out = Vec::new();
        let deadline = self.deadline.map(|(d, _)| d);
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, set.join_next()).await {
                    Ok(next) => next,
                    // Calls still running are abandoned (the set aborts them when dropped);
                    // the caller keeps what finished and the next apply redoes the rest.
                    Err(_) => {
                        self.cut.store(true, Ordering::Release);
                        break;
                    }
                },
                None => set.join_next().await,
            };
            match next {
                Some(done) => out.push(done.expect("catalog task panicked")),
                None => break,
            }
        }
        out
    }
}

/// Entity ref -> (name, since when it is awaited).
#[derive(Debug, Default)]
struct Waiting {
    pending: BTreeMap<String, (String, Instant)>,
    running: bool,
}

fn change(action: &'static str, served: &Entities, name: &str, reason: &str) -> Change {
    Change {
        action,
        entity_ref: served[name].entity_ref(),
        reason: reason.into(),
    }
}

/// Deletes a template by uid, but only one whose origin location is ours.
async fn delete_if_ours(
    client: &CatalogClient,
    base: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), CatalogError> {
    let Some(entity) = client
        .entity("template", namespace.unwrap_or("default"), name)
        .await?
    else {
        return Ok(());
    };
    let origin = entity
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ORIGIN))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !origin.starts_with(&format!("url:{base}/catalog/")) {
        return Ok(());
    }
    match entity.pointer("/metadata/uid").and_then(Value::as_str) {
        Some(uid) => client.delete_entity(uid).await,
        None => Ok(()),
    }
}

fn explain_dry_run(e: CatalogError, target: &str) -> CatalogError {
    match e {
        CatalogError::Status {
            op,
            status,
            message,
        } => {
            let hint = if message.contains("reading.allow")
                || message.contains("not allowed") && message.contains("Reading from")
            {
                format!(
                    "; add the host and port of `server.publicBaseUrl` to Backstage's `backend.reading.allow` so the catalog may read {target}"
                )
            } else if message.contains("not of an allowed kind") {
                "; allow `Template` (and `Location`) in Backstage's `catalog.rules`".to_owned()
            } else if message.contains("no matching files") || message.contains("NotFoundError") {
                format!("; the catalog cannot reach {target}: check `server.publicBaseUrl`")
            } else {
                String::new()
            };
            CatalogError::Status {
                op,
                status,
                message: format!("{message}{hint}"),
            }
        }
        other => other,
    }
}

/// A catalog entity without what the catalog adds to it, for comparison with what we serve.
pub fn strip(mut entity: Value, base: &str) -> Value {
    if let Some(obj) = entity.as_object_mut() {
        obj.remove("relations");
        obj.remove("status");
    }
    if let Some(meta) = entity.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["uid", "etag", "generation"] {
            meta.remove(key);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.retain(|k, v| {
                let ours_url = v
                    .as_str()
                    .is_some_and(|s| s.contains(&format!("{base}/catalog/")));
                !(k == ORIGIN
                    || k == "backstage.io/managed-by-location"
                    || k == "backstage.io/orphan"
                    || ours_url)
            });
        }
    }
    entity
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_removes_what_the_catalog_adds_and_keeps_ours() {
        let base = "http://d:7070";
        let e = json!({
            "apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
            "metadata": {"name": "x", "uid": "u", "etag": "e", "annotations": {
                "backstage.io/managed-by-location": "url:http://d:7070/catalog/shard-01.yaml",
                "backstage.io/managed-by-origin-location": "url:http://d:7070/catalog/shard-01.yaml",
                "backstage.io/view-url": "http://d:7070/catalog/shard-01.yaml",
                "backstage.io/source-location": "url:https://github.com/o/r/tree/main/",
                "orchestrator.io/workflow-id": "x"}},
            "spec": {"type": "workflow"}, "relations": [], "status": {}
        });
        assert_eq!(
            strip(e, base),
            json!({
                "apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
                "metadata": {"name": "x", "annotations": {
                    "backstage.io/source-location": "url:https://github.com/o/r/tree/main/",
                    "orchestrator.io/workflow-id": "x"}},
                "spec": {"type": "workflow"}
            })
        );
    }

    #[test]
    fn dry_run_errors_name_the_backstage_setting() {
        let e = explain_dry_run(
            CatalogError::Status {
                op: "register-dry-run",
                status: 400,
                message: "Error: Unable to read url, Reading from 'http://127.0.0.2:1/x' is not allowed. You may need to configure an integration for the target host, or add it to the configured list of allowed hosts at 'backend.reading.allow'".into(),
            },
            "http://127.0.0.2:1/catalog/shard-00.yaml",
        );
        assert!(e.to_string().contains("`backend.reading.allow`"), "{e}");
        let e = explain_dry_run(
            CatalogError::Status { op: "register-dry-run", status: 400, message: "NotAllowedError: Entity template:default/x is not of an allowed kind for that location".into() },
            "t",
        );
        assert!(e.to_string().contains("`catalog.rules`"), "{e}");
    }
}
